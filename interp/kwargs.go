package interp

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Keyword arguments for Go functions called by reflection (a GoProxy of
// a function or method). Go's reflection does not know parameter names,
// so keywords reach a Go function in two ways only:
//
//   - Options structs: when the function's last parameter is a struct or
//     a pointer to one and Python does not pass it, the keyword arguments
//     fill its exported fields (matched as in fieldByKey). Python writes
//     f(x, timeout=5, retries=2) for func F(x int, o Options).
//   - Names given by the embedder: Params(fn, "path", "mode") lets Python
//     pass fn's parameters by those names.
//
// Anything else is a TypeError that names the keyword, as Python's own.

// Params gives Go function fn the names of its parameters (those after a
// first context.Context), which reflection cannot know, so that Python
// can pass them as keyword arguments. Send the result where fn would go
// (a Func's result, a struct field, an Eval argument): Python calls it
// like fn, positionally or by name.
func Params(fn any, names ...string) any {
	return namedFunc{fn: fn, names: slices.Clone(names)}
}

// namedFunc is a Go function with its parameter names (Params).
type namedFunc struct {
	fn    any
	names []string
}

// fieldByKey is t's exported field that the key names: the field's name,
// the name in its json tag, or the name in snake_case with any case
// (max_depth for MaxDepth).
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	if f, ok := t.FieldByName(key); ok && f.IsExported() {
		return f, true
	}
	loose := strings.ReplaceAll(key, "_", "")
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == key && tag != "" {
			return f, true
		}
		if strings.EqualFold(loose, f.Name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// placeKwargs merges keyword arguments into the positional ones of a call
// of ft (first: 1 when its first parameter is the context; fixed: how
// many parameters Python fills, the variadic one aside), by the names
// Params gave, then into a trailing options struct.
func placeKwargs(ft reflect.Type, first, fixed int, names []string, args []any, kwargs map[string]any) ([]any, error) {
	rest := map[string]any{}
	var byPos map[int]any
	for k, v := range kwargs {
		i := slices.Index(names, k)
		if i < 0 || i >= fixed {
			rest[k] = v
			continue
		}
		if i < len(args) {
			return nil, typeError("Go function %s got multiple values for argument %q", ft, k)
		}
		if byPos == nil {
			byPos = map[int]any{}
		}
		byPos[i] = v
	}
	if len(byPos) > 0 {
		last := slices.Max(slices.Collect(maps.Keys(byPos)))
		for i := len(args); i <= last; i++ {
			v, ok := byPos[i]
			if !ok {
				return nil, typeError("Go function %s: missing argument %q", ft, nameAt(names, i))
			}
			args = append(args, v)
		}
	}
	if len(rest) == 0 {
		return args, nil
	}
	if fixed > 0 && !ft.IsVariadic() {
		opt := ft.In(first + fixed - 1)
		if opt.Kind() == reflect.Pointer {
			opt = opt.Elem()
		}
		if opt.Kind() == reflect.Struct {
			if len(args) == fixed {
				return nil, typeError("Go function %s got its options %s both positionally and as keywords", ft, opt)
			}
			if len(args) == fixed-1 {
				for k := range rest {
					if _, ok := fieldByKey(opt, k); !ok {
						return nil, typeError("Go function %s got an unexpected keyword argument %q (options %s have no such field)", ft, k, opt)
					}
				}
				return append(args, rest), nil
			}
		}
	}
	keys := slices.Sorted(maps.Keys(rest))
	return nil, typeError("Go function %s got an unexpected keyword argument %q (Go knows parameter names only through interp.Params, and options only as a last struct parameter)", ft, keys[0])
}

func nameAt(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("#%d", i+1)
}
