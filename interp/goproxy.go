package interp

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sort"
)

// What Python can do with a Go value it holds as a GoProxy (struct, map,
// slice, method, ...) is done here by reflection. Names and values come
// from the guest, which cell code controls: only exported fields and
// methods are reachable, indexes are checked, and values are converted to
// the Go type they are stored as or the call fails with a Python
// exception (TypeError, KeyError, IndexError, AttributeError).

// maxPlainDepth caps how deep to_py copies, so that a cyclic Go value
// (a pointer to itself) ends as handles instead of recursing forever.
const maxPlainDepth = 64

func proxyOp(v any, op, name string, key, value any, depth int) (any, error) {
	rv := reflect.ValueOf(v)
	switch op {
	case "getattr":
		return getAttr(rv, name)
	case "setattr":
		return nil, setAttr(rv, name, value)
	case "getitem":
		return getItem(rv, key)
	case "setitem":
		return nil, setItem(rv, key, value)
	case "delitem":
		c := indirect(rv)
		if c.Kind() != reflect.Map {
			return nil, typeError("Go value of type %s does not support item deletion", rv.Type())
		}
		k, err := convertTo(key, c.Type().Key())
		if err != nil {
			return nil, err
		}
		if !c.MapIndex(k).IsValid() {
			return nil, &GuestError{Type: "KeyError", Message: fmt.Sprint(key)}
		}
		c.SetMapIndex(k, reflect.Value{})
		return nil, nil
	case "len":
		c := indirect(rv)
		switch c.Kind() {
		case reflect.Map, reflect.Slice, reflect.Array, reflect.String, reflect.Chan:
			return int64(c.Len()), nil
		}
		return nil, typeError("Go value of type %s has no len()", typeOf(rv))
	case "iter":
		return iterate(rv)
	case "dir":
		return names(rv), nil
	case "to_py":
		if depth < 0 || depth > maxPlainDepth {
			depth = maxPlainDepth
		}
		return toPlain(rv, depth), nil
	}
	return nil, &GuestError{Type: "ValueError", Message: fmt.Sprintf("unknown operation %q on a Go value", op)}
}

func typeError(format string, args ...any) error {
	return &GuestError{Type: "TypeError", Message: fmt.Sprintf(format, args...)}
}

func typeOf(rv reflect.Value) string {
	if !rv.IsValid() {
		return "nil"
	}
	return rv.Type().String()
}

// indirect follows pointers and interfaces to the value they hold.
func indirect(rv reflect.Value) reflect.Value {
	for rv.IsValid() && (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) && !rv.IsNil() {
		rv = rv.Elem()
	}
	return rv
}

func getAttr(rv reflect.Value, name string) (any, error) {
	if !rv.IsValid() || !isExported(name) {
		return nil, &GuestError{Type: "AttributeError", Message: fmt.Sprintf("Go value of type %s has no exported attribute %q", typeOf(rv), name)}
	}
	if m := rv.MethodByName(name); m.IsValid() {
		return m.Interface(), nil
	}
	if c := indirect(rv); c.Kind() == reflect.Struct {
		if m := c.MethodByName(name); m.IsValid() {
			return m.Interface(), nil
		}
		if f, ok := c.Type().FieldByName(name); ok && f.IsExported() {
			return c.FieldByIndex(f.Index).Interface(), nil
		}
	}
	return nil, &GuestError{Type: "AttributeError", Message: fmt.Sprintf("Go value of type %s has no exported attribute %q", typeOf(rv), name)}
}

func setAttr(rv reflect.Value, name string, value any) error {
	c := indirect(rv)
	if c.Kind() != reflect.Struct || !isExported(name) {
		return &GuestError{Type: "AttributeError", Message: fmt.Sprintf("cannot set %q on a Go value of type %s", name, typeOf(rv))}
	}
	f, ok := c.Type().FieldByName(name)
	if !ok || !f.IsExported() {
		return &GuestError{Type: "AttributeError", Message: fmt.Sprintf("Go type %s has no exported field %q", c.Type(), name)}
	}
	field := c.FieldByIndex(f.Index)
	if !field.CanSet() {
		return &GuestError{Type: "AttributeError", Message: fmt.Sprintf("cannot set %q: the Go %s was given by value (give a pointer to share it)", name, c.Type())}
	}
	nv, err := convertTo(value, field.Type())
	if err != nil {
		return err
	}
	field.Set(nv)
	return nil
}

func isExported(name string) bool {
	return name != "" && name[0] >= 'A' && name[0] <= 'Z'
}

// index checks a Python index (negative from the end) against n.
func index(key any, n int) (int, error) {
	i, ok := key.(int64)
	if !ok {
		return 0, typeError("Go sequence indices must be integers, not %T", key)
	}
	if i < 0 {
		i += int64(n)
	}
	if i < 0 || i >= int64(n) {
		return 0, &GuestError{Type: "IndexError", Message: "Go sequence index out of range"}
	}
	return int(i), nil
}

func getItem(rv reflect.Value, key any) (any, error) {
	c := indirect(rv)
	switch c.Kind() {
	case reflect.Map:
		k, err := convertTo(key, c.Type().Key())
		if err != nil {
			return nil, err
		}
		e := c.MapIndex(k)
		if !e.IsValid() {
			return nil, &GuestError{Type: "KeyError", Message: fmt.Sprint(key)}
		}
		return e.Interface(), nil
	case reflect.Slice, reflect.Array, reflect.String:
		i, err := index(key, c.Len())
		if err != nil {
			return nil, err
		}
		return c.Index(i).Interface(), nil
	}
	return nil, typeError("Go value of type %s is not subscriptable", typeOf(rv))
}

func setItem(rv reflect.Value, key, value any) error {
	c := indirect(rv)
	switch c.Kind() {
	case reflect.Map:
		if c.IsNil() {
			return typeError("cannot set an item of a nil Go map")
		}
		k, err := convertTo(key, c.Type().Key())
		if err != nil {
			return err
		}
		v, err := convertTo(value, c.Type().Elem())
		if err != nil {
			return err
		}
		c.SetMapIndex(k, v)
		return nil
	case reflect.Slice, reflect.Array:
		i, err := index(key, c.Len())
		if err != nil {
			return err
		}
		e := c.Index(i)
		if !e.CanSet() {
			return typeError("cannot set an item: the Go %s was given by value (give a pointer to share it)", c.Type())
		}
		v, err := convertTo(value, e.Type())
		if err != nil {
			return err
		}
		e.Set(v)
		return nil
	}
	return typeError("Go value of type %s does not support item assignment", typeOf(rv))
}

// iterate lists what Python's iter() walks: a sequence's elements, a
// map's keys (sorted when they are ordered types, so runs agree).
func iterate(rv reflect.Value) (any, error) {
	c := indirect(rv)
	switch c.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]any, c.Len())
		for i := range out {
			out[i] = c.Index(i).Interface()
		}
		return out, nil
	case reflect.Map:
		keys := c.MapKeys()
		sortValues(keys)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = k.Interface()
		}
		return out, nil
	case reflect.String:
		out := []any{}
		for _, r := range c.String() {
			out = append(out, string(r))
		}
		return out, nil
	}
	return nil, typeError("Go value of type %s is not iterable", typeOf(rv))
}

func sortValues(vs []reflect.Value) {
	sort.Slice(vs, func(i, j int) bool {
		a, b := vs[i], vs[j]
		switch {
		case a.CanInt() && b.CanInt():
			return a.Int() < b.Int()
		case a.CanUint() && b.CanUint():
			return a.Uint() < b.Uint()
		case a.CanFloat() && b.CanFloat():
			return a.Float() < b.Float()
		case a.Kind() == reflect.String && b.Kind() == reflect.String:
			return a.String() < b.String()
		}
		return fmt.Sprint(a.Interface()) < fmt.Sprint(b.Interface())
	})
}

func names(rv reflect.Value) []any {
	seen := map[string]bool{}
	if rv.IsValid() {
		for i := 0; i < rv.NumMethod(); i++ {
			seen[rv.Type().Method(i).Name] = true
		}
	}
	if c := indirect(rv); c.Kind() == reflect.Struct {
		for _, f := range reflect.VisibleFields(c.Type()) {
			if f.IsExported() && !f.Anonymous {
				seen[f.Name] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	l := make([]any, len(out))
	for i, n := range out {
		l[i] = n
	}
	return l
}

// toPlain copies a Go value into values the codec converts (structs
// become dicts of their exported fields), depth levels deep; what lies
// deeper, and functions and channels, stay Go values (proxies in Python).
func toPlain(rv reflect.Value, depth int) any {
	if !rv.IsValid() {
		return nil
	}
	if depth <= 0 {
		return rv.Interface()
	}
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		if _, ok := rv.Interface().(*big.Int); ok {
			return rv.Interface()
		}
		return toPlain(rv.Elem(), depth)
	case reflect.Bool:
		return rv.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint()
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.String:
		return rv.String()
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return b
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = toPlain(rv.Index(i), depth-1)
		}
		if _, ok := rv.Interface().(Tuple); ok {
			return Tuple(out)
		}
		return out
	case reflect.Map:
		keys := rv.MapKeys()
		sortValues(keys)
		if rv.Type().Key().Kind() == reflect.String {
			out := make(map[string]any, len(keys))
			for _, k := range keys {
				out[k.String()] = toPlain(rv.MapIndex(k), depth-1)
			}
			return out
		}
		d := &Dict{}
		for _, k := range keys {
			d.Keys = append(d.Keys, toPlain(k, depth-1))
			d.Values = append(d.Values, toPlain(rv.MapIndex(k), depth-1))
		}
		return d
	case reflect.Struct:
		if d, ok := rv.Interface().(Dict); ok {
			return &d
		}
		out := map[string]any{}
		for _, f := range reflect.VisibleFields(rv.Type()) {
			if f.IsExported() && !f.Anonymous {
				out[f.Name] = toPlain(rv.FieldByIndex(f.Index), depth-1)
			}
		}
		return out
	}
	return rv.Interface()
}

// convertTo turns a value decoded from Python into a Go value of type t,
// for a field, a map's key or element, or a function's parameter.
func convertTo(v any, t reflect.Type) (reflect.Value, error) {
	if v == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
			return reflect.Zero(t), nil
		}
		return reflect.Value{}, typeError("None cannot be a Go %s", t)
	}
	rv := reflect.ValueOf(v)
	if rv.Type().AssignableTo(t) {
		return rv, nil
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := v.(int64)
		out := reflect.New(t).Elem()
		if !ok || out.OverflowInt(i) {
			return reflect.Value{}, typeError("%v does not fit a Go %s", v, t)
		}
		out.SetInt(i)
		return out, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		out := reflect.New(t).Elem()
		var u uint64
		switch x := v.(type) {
		case int64:
			if x < 0 {
				return reflect.Value{}, typeError("%v does not fit a Go %s", v, t)
			}
			u = uint64(x)
		case *big.Int:
			if !x.IsUint64() {
				return reflect.Value{}, typeError("%v does not fit a Go %s", v, t)
			}
			u = x.Uint64()
		default:
			return reflect.Value{}, typeError("a %T cannot be a Go %s", v, t)
		}
		if out.OverflowUint(u) {
			return reflect.Value{}, typeError("%v does not fit a Go %s", v, t)
		}
		out.SetUint(u)
		return out, nil
	case reflect.Float32, reflect.Float64:
		out := reflect.New(t).Elem()
		switch x := v.(type) {
		case float64:
			if t.Kind() == reflect.Float32 && !math.IsInf(x, 0) && !math.IsNaN(x) && math.Abs(x) > math.MaxFloat32 {
				return reflect.Value{}, typeError("%v does not fit a Go %s", v, t)
			}
			out.SetFloat(x)
		case int64:
			out.SetFloat(float64(x))
		default:
			return reflect.Value{}, typeError("a %T cannot be a Go %s", v, t)
		}
		return out, nil
	case reflect.String:
		if s, ok := v.(string); ok {
			return reflect.ValueOf(s).Convert(t), nil
		}
	case reflect.Bool:
		if b, ok := v.(bool); ok {
			return reflect.ValueOf(b).Convert(t), nil
		}
	case reflect.Slice:
		var items []any
		switch x := v.(type) {
		case []any:
			items = x
		case Tuple:
			items = x
		case []byte:
			if t.Elem().Kind() == reflect.Uint8 {
				return reflect.ValueOf(x).Convert(t), nil
			}
		}
		if items != nil {
			out := reflect.MakeSlice(t, len(items), len(items))
			for i, item := range items {
				e, err := convertTo(item, t.Elem())
				if err != nil {
					return reflect.Value{}, err
				}
				out.Index(i).Set(e)
			}
			return out, nil
		}
	case reflect.Map:
		out := reflect.MakeMap(t)
		switch x := v.(type) {
		case map[string]any:
			for k, item := range x {
				kv, err := convertTo(k, t.Key())
				if err != nil {
					return reflect.Value{}, err
				}
				e, err := convertTo(item, t.Elem())
				if err != nil {
					return reflect.Value{}, err
				}
				out.SetMapIndex(kv, e)
			}
			return out, nil
		case *Dict:
			for i := range x.Keys {
				kv, err := convertTo(x.Keys[i], t.Key())
				if err != nil {
					return reflect.Value{}, err
				}
				e, err := convertTo(x.Values[i], t.Elem())
				if err != nil {
					return reflect.Value{}, err
				}
				out.SetMapIndex(kv, e)
			}
			return out, nil
		}
	case reflect.Struct:
		if m, ok := v.(map[string]any); ok {
			out := reflect.New(t).Elem()
			for k, item := range m {
				f, ok := fieldByKey(t, k)
				if !ok {
					return reflect.Value{}, typeError("Go type %s has no exported field %q", t, k)
				}
				e, err := convertTo(item, f.Type)
				if err != nil {
					return reflect.Value{}, err
				}
				out.FieldByIndex(f.Index).Set(e)
			}
			return out, nil
		}
	case reflect.Pointer:
		if rv.Kind() != reflect.Pointer {
			e, err := convertTo(v, t.Elem())
			if err != nil {
				return reflect.Value{}, err
			}
			p := reflect.New(t.Elem())
			p.Elem().Set(e)
			return p, nil
		}
	}
	return reflect.Value{}, typeError("a %T cannot be a Go %s", v, t)
}

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// asReflectFunc makes any Go function (a method value too) callable from
// Python: a first context.Context parameter gets the call's context, the
// other parameters take the positional arguments converted to their
// types, and a last error result raises. Several results come back as a
// tuple. Keyword arguments fill a trailing options struct, or parameters
// named with Params (see kwargs.go).
func asReflectFunc(v any) (Func, bool) {
	var names []string
	if nf, ok := v.(namedFunc); ok {
		v, names = nf.fn, nf.names
	}
	fv := reflect.ValueOf(v)
	if fv.Kind() != reflect.Func || fv.IsNil() {
		return nil, false
	}
	ft := fv.Type()
	return func(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
		var in []reflect.Value
		first := 0
		if ft.NumIn() > 0 && ft.In(0) == contextType {
			in = append(in, reflect.ValueOf(ctx))
			first = 1
		}
		fixed := ft.NumIn() - first
		if ft.IsVariadic() {
			fixed--
		}
		if len(kwargs) > 0 {
			var err error
			if args, err = placeKwargs(ft, first, fixed, names, args, kwargs); err != nil {
				return nil, err
			}
		}
		if len(args) < fixed || (!ft.IsVariadic() && len(args) > fixed) {
			return nil, typeError("Go function %s takes %d arguments, got %d", ft, fixed, len(args))
		}
		for i, a := range args {
			var t reflect.Type
			if i < fixed {
				t = ft.In(first + i)
			} else {
				t = ft.In(ft.NumIn() - 1).Elem()
			}
			av, err := convertTo(a, t)
			if err != nil {
				return nil, fmt.Errorf("argument %d: %w", i+1, err)
			}
			in = append(in, av)
		}
		out := fv.Call(in)
		if n := len(out); n > 0 && ft.Out(n-1) == errorType {
			if e := out[n-1]; !e.IsNil() {
				return nil, e.Interface().(error)
			}
			out = out[:n-1]
		}
		switch len(out) {
		case 0:
			return nil, nil
		case 1:
			return out[0].Interface(), nil
		}
		t := make(Tuple, len(out))
		for i, o := range out {
			t[i] = o.Interface()
		}
		return t, nil
	}, true
}
