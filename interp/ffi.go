package interp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/wasipy/wasipy/interp/internal/guestproto"
)

// A Module is a Python module implemented in Go, like Pyodide's
// registerJsModule. Once the interpreter starts with it (Config.Modules),
// `import NAME` in Python gives a module whose functions call these Go
// functions: Funcs block the Python caller until they return; Async
// functions return an awaitable and run without blocking the event loop.
//
// Arguments and results are converted (see Tuple for the table); what
// cannot be converted travels as a handle.
type Module struct {
	Name  string
	Funcs map[string]Func
	Async map[string]Func
	// Errors are exception classes the Python module defines: name ->
	// the builtin exception it derives from ("" for HostError). A Func
	// raises one by returning &GuestError{Type: "module.Name"}.
	Errors map[string]string
}

// Func is a Go function callable from Python. args and kwargs are the
// converted Python arguments. An error raises HostError in Python, or the
// Python exception named by a *GuestError.
type Func func(ctx context.Context, args []any, kwargs map[string]any) (any, error)

// Conversions between Python and Go values. Python → Go → Python gives an
// equal object and Go → Python → Go an equal value for:
//
//	Python            Go
//	None              nil
//	bool              bool
//	int               int64, or *big.Int beyond 64 bits
//	float             float64 (nan and infinities included)
//	str               string
//	bytes             []byte (bytearray and memoryview arrive as []byte)
//	list              []any
//	tuple             Tuple
//	dict (str keys)   map[string]any
//	dict (other keys) *Dict, keys in order
//	set, frozenset    Set (a frozenset comes back as a set)
//	anything else     *PyObject, a handle on the Python object
//
// Go values of other types (ints and floats of other sizes are converted
// to int64 and float64) reach Python as a GoProxy holding a handle on the
// Go value: its exported fields and methods are attributes, a map's
// entries and a slice's elements are items, and it is callable when the
// value is a function (a Func, or any Go function by reflection, its
// arguments converted to the parameters' types). Everything exported is
// reachable from Python: hand over only what a notebook may use. Bytes
// (and bytearray, memoryview) cross as raw buffers, without base64 or
// per-element work.
type Tuple []any

// Set is a Python set; its order is unspecified.
type Set []any

// Dict is a Python dict whose keys are not all strings.
type Dict struct {
	Keys   []any
	Values []any
}

// PythonError is an exception raised by Python code that Go called.
type PythonError struct {
	Type      string
	Message   string
	Traceback string
	// Exception is a handle on the exception object itself. A Func that
	// returns this error (or one wrapping it) to Python raises that very
	// object again, so `except ValueError` and identity checks still hold.
	Exception *PyObject
}

// Error says the exception's type and message, as Python would.
func (e *PythonError) Error() string {
	if e.Message == "" {
		return "Python " + e.Type
	}
	return fmt.Sprintf("Python %s: %s", e.Type, e.Message)
}

// Eval evaluates a Python expression (with `args` bound to the given
// arguments) in a fresh namespace and returns its converted value. It
// works while the interpreter is idle, from inside a Func, and while a
// cell runs: then it is served at the cell's next await point (or wait
// on the channel), and waits no longer than ctx allows.
func (p *Process) Eval(ctx context.Context, expr string, args ...any) (any, error) {
	return p.callPython(ctx, guestproto.PyEval, map[string]any{"expr": expr}, args, nil)
}

// EvalRef is Eval returning the value by reference: a *PyObject even
// when the value could be converted (a list Go wants to see change).
func (p *Process) EvalRef(ctx context.Context, expr string, args ...any) (*PyObject, error) {
	return asPyObject(p.callPython(ctx, guestproto.PyEval, map[string]any{"expr": expr, "ref": true}, args, nil))
}

// ---- encoding ---------------------------------------------------------

// codec converts values of one message, collecting byte buffers.
type codec struct {
	p         *Process
	buffers   [][]byte
	converted int // values the Converter turned into others (see maxConversions)
}

// maxConversions caps how many values a Converter may replace in one
// message, so that one that keeps returning unconvertible values ends.
const maxConversions = 1 << 16

// ByRef wraps a Go value so that it reaches Python as a GoProxy even when
// it could be converted: Python then sees (and may change) the Go slice,
// map or struct itself instead of a copy.
func ByRef(v any) any { return byRef{v} }

type byRef struct{ v any }

// A Converter turns a Go value of a type the codec does not know into one
// it does (Pyodide's default_converter): ok false leaves it a GoProxy.
type Converter func(v any) (converted any, ok bool)

// SetConverter sets the Converter asked about Go values of other types
// before they become GoProxies (nil: none).
func (p *Process) SetConverter(f Converter) {
	p.mu.Lock()
	p.converter = f
	p.mu.Unlock()
}

func (c *codec) encode(v any) (any, error) {
	switch x := v.(type) {
	case byRef:
		if c.p == nil {
			return nil, errors.New("cannot pass a Go value by reference here")
		}
		return c.handle(x.v), nil
	case nil, bool, string:
		return x, nil
	case int:
		return int64(x), nil
	case int8, int16, int32, int64, uint8, uint16, uint32:
		return x, nil
	case uint:
		return c.encode(new(big.Int).SetUint64(uint64(x)))
	case uint64:
		return c.encode(new(big.Int).SetUint64(x))
	case float32:
		return c.encode(float64(x))
	case float64:
		switch {
		case math.IsNaN(x):
			return map[string]any{"$float": "nan"}, nil
		case math.IsInf(x, 1):
			return map[string]any{"$float": "inf"}, nil
		case math.IsInf(x, -1):
			return map[string]any{"$float": "-inf"}, nil
		}
		return map[string]any{"$float": x}, nil
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), nil
		}
		return map[string]any{"$int": x.String()}, nil
	case []byte:
		c.buffers = append(c.buffers, x)
		return map[string]any{"$bytes": len(c.buffers) - 1}, nil
	case []any:
		return c.encodeList(x)
	case Tuple:
		l, err := c.encodeList(x)
		return map[string]any{"$tuple": l}, err
	case Set:
		l, err := c.encodeList(x)
		return map[string]any{"$set": l}, err
	case map[string]any:
		out := make(map[string]any, len(x))
		plain := true
		for k := range x {
			if strings.HasPrefix(k, "$") {
				plain = false
			}
		}
		if !plain {
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			d := &Dict{}
			for _, k := range keys {
				d.Keys, d.Values = append(d.Keys, k), append(d.Values, x[k])
			}
			return c.encode(d)
		}
		for k, v := range x {
			e, err := c.encode(v)
			if err != nil {
				return nil, err
			}
			out[k] = e
		}
		return out, nil
	case *Dict:
		if len(x.Keys) != len(x.Values) {
			return nil, errors.New("Dict has different numbers of keys and values")
		}
		pairs := make([]any, len(x.Keys))
		for i := range x.Keys {
			k, err := c.encode(x.Keys[i])
			if err != nil {
				return nil, err
			}
			v, err := c.encode(x.Values[i])
			if err != nil {
				return nil, err
			}
			pairs[i] = []any{k, v}
		}
		return map[string]any{"$dict": pairs}, nil
	case *PyObject:
		return map[string]any{"$py": x.id}, nil
	}
	if c.p == nil {
		return nil, fmt.Errorf("cannot convert %T", v)
	}
	c.p.mu.Lock()
	conv := c.p.converter
	c.p.mu.Unlock()
	if conv != nil && c.converted < maxConversions {
		if out, ok := conv(v); ok {
			c.converted++
			return c.encode(out)
		}
	}
	return c.handle(v), nil
}

func (c *codec) handle(v any) any {
	return map[string]any{"$go": c.p.handles.put(v), "type": fmt.Sprintf("%T", v)}
}

func (c *codec) encodeList(xs []any) ([]any, error) {
	out := make([]any, len(xs))
	for i, x := range xs {
		e, err := c.encode(x)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

func (c *codec) decodeRaw(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return c.decode(v)
}

func (c *codec) decode(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case json.Number:
		if i, err := x.Int64(); err == nil && !strings.ContainsAny(string(x), ".eE") {
			return i, nil
		}
		if !strings.ContainsAny(string(x), ".eE") {
			b, ok := new(big.Int).SetString(string(x), 10)
			if ok {
				return b, nil
			}
		}
		return x.Float64()
	case []any:
		return c.decodeList(x)
	case map[string]any:
		if len(x) >= 1 {
			for tag, val := range x {
				if !strings.HasPrefix(tag, "$") {
					continue
				}
				return c.decodeTagged(tag, val, x)
			}
		}
		out := make(map[string]any, len(x))
		for k, v := range x {
			d, err := c.decode(v)
			if err != nil {
				return nil, err
			}
			out[k] = d
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot decode %T", v)
}

func (c *codec) decodeTagged(tag string, val any, whole map[string]any) (any, error) {
	switch tag {
	case "$int":
		s, _ := val.(string)
		b, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return nil, fmt.Errorf("bad $int %q", s)
		}
		if b.IsInt64() {
			return b.Int64(), nil
		}
		return b, nil
	case "$float":
		switch f := val.(type) {
		case string:
			switch f {
			case "nan":
				return math.NaN(), nil
			case "inf":
				return math.Inf(1), nil
			case "-inf":
				return math.Inf(-1), nil
			}
		case json.Number:
			return f.Float64()
		}
		return nil, fmt.Errorf("bad $float %v", val)
	case "$bytes":
		n, ok := val.(json.Number)
		i, err := n.Int64()
		if !ok || err != nil || i < 0 || int(i) >= len(c.buffers) {
			return nil, fmt.Errorf("bad $bytes %v", val)
		}
		return c.buffers[i], nil
	case "$tuple", "$set", "$dict":
		l, ok := val.([]any)
		if !ok {
			return nil, fmt.Errorf("bad %s", tag)
		}
		if tag == "$dict" {
			d := &Dict{}
			for _, p := range l {
				pair, ok := p.([]any)
				if !ok || len(pair) != 2 {
					return nil, errors.New("bad $dict pair")
				}
				k, err := c.decode(pair[0])
				if err != nil {
					return nil, err
				}
				v, err := c.decode(pair[1])
				if err != nil {
					return nil, err
				}
				d.Keys, d.Values = append(d.Keys, k), append(d.Values, v)
			}
			return d, nil
		}
		items, err := c.decodeList(l)
		if tag == "$tuple" {
			return Tuple(items), err
		}
		return Set(items), err
	case "$go":
		n, _ := val.(json.Number)
		id, err := n.Int64()
		if err != nil || c.p == nil {
			return nil, fmt.Errorf("bad $go %v", val)
		}
		v, ok := c.p.handles.get(id)
		if !ok {
			return nil, fmt.Errorf("Go handle %d was released", id)
		}
		return v, nil
	case "$py":
		n, _ := val.(json.Number)
		id, err := n.Int64()
		if err != nil || c.p == nil {
			return nil, fmt.Errorf("bad $py %v", val)
		}
		typ, _ := whole["type"].(string)
		repr, _ := whole["repr"].(string)
		return newPyObject(c.p, id, typ, repr), nil
	}
	return nil, fmt.Errorf("unknown tag %s", tag)
}

func (c *codec) decodeList(xs []any) ([]any, error) {
	out := make([]any, len(xs))
	for i, x := range xs {
		d, err := c.decode(x)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// handleTable holds Go values that Python has handles on.
//
// The same Go value (where Go can tell: see identityOf) always gets the
// same handle while Python holds it, so Python keeps one GoProxy per value
// and `a is b` holds. Each handle counts how often it was sent; Python's
// release says how often it received it, so a release that crosses a
// message carrying the handle again does not free it under that message.
type handleTable struct {
	mu     sync.Mutex
	next   int64
	values map[int64]*goHandle
	byKey  map[identity]int64
}

type goHandle struct {
	v     any
	key   identity
	keyed bool
	sent  int64 // times sent to Python and not yet released
}

// identity is what makes two Go values the same value: the same type and
// the same memory (a slice also its length and capacity: the same header).
type identity struct {
	t        reflect.Type
	p        uintptr
	len, cap int
}

// identityOf is v's identity, for the kinds that have one: pointers, maps,
// channels and slices that are not nil and whose elements take memory (all
// zero-size values may share one address). Functions have none (closures
// of one function share their code pointer), nor values copied by value.
func identityOf(v any) (identity, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Chan:
		if rv.IsNil() || rv.Type().Elem().Size() == 0 {
			return identity{}, false
		}
		return identity{t: rv.Type(), p: rv.Pointer()}, true
	case reflect.Map:
		if rv.IsNil() {
			return identity{}, false
		}
		return identity{t: rv.Type(), p: rv.Pointer()}, true
	case reflect.Slice:
		if rv.IsNil() || rv.Cap() == 0 || rv.Type().Elem().Size() == 0 {
			return identity{}, false
		}
		return identity{t: rv.Type(), p: rv.Pointer(), len: rv.Len(), cap: rv.Cap()}, true
	}
	return identity{}, false
}

func (t *handleTable) put(v any) int64 {
	key, keyed := identityOf(v)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.values == nil {
		t.values = map[int64]*goHandle{}
		t.byKey = map[identity]int64{}
	}
	if keyed {
		if id, ok := t.byKey[key]; ok {
			t.values[id].sent++
			return id
		}
	}
	t.next++
	t.values[t.next] = &goHandle{v: v, key: key, keyed: keyed, sent: 1}
	if keyed {
		t.byKey[key] = t.next
	}
	return t.next
}

func (t *handleTable) get(id int64) (any, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, ok := t.values[id]
	if !ok {
		return nil, false
	}
	return h.v, true
}

// release gives back count of the times id was sent (Python says how many
// it received; fewer than 1 counts as 1, so a release always releases).
// The value is let go once every sending was given back.
func (t *handleTable) release(id, count int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, ok := t.values[id]
	if !ok {
		return
	}
	h.sent -= max(count, 1)
	if h.sent > 0 {
		return
	}
	delete(t.values, id)
	if h.keyed {
		delete(t.byKey, h.key)
	}
}

// Len is how many Go values Python holds handles on.
func (t *handleTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.values)
}

// ---- the Process side ---------------------------------------------------

// moduleList tells the guest which modules and functions exist.
func (p *Process) moduleList() guestproto.ModuleList {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := guestproto.ModuleList{Stdin: p.hasStdin}
	names := make([]string, 0, len(p.modules))
	for name := range p.modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m := p.modules[name]
		funcs, async := []string{}, []string{}
		for name := range m.Funcs {
			funcs = append(funcs, name)
		}
		for name := range m.Async {
			async = append(async, name)
		}
		sort.Strings(funcs)
		sort.Strings(async)
		l.Modules = append(l.Modules, guestproto.ModuleInfo{Name: m.Name, Funcs: funcs, Async: async, Errors: m.Errors})
	}
	return l
}

// RegisterModule makes a Go module importable in the running interpreter
// (or replaces one of the same name). Like Eval, it is served at once
// when the interpreter is idle and at the next await point of a running
// cell.
func (p *Process) RegisterModule(ctx context.Context, m *Module) error {
	if m == nil || m.Name == "" {
		return errors.New("RegisterModule: a module needs a name")
	}
	p.mu.Lock()
	p.modules[m.Name] = m
	p.mu.Unlock()
	return p.updateModules(ctx)
}

// updateModules sends the guest the list of modules (and whether stdin
// is the embedder's).
func (p *Process) updateModules(ctx context.Context) error {
	_, _, err := p.roundTrip(ctx, string(guestproto.FFIModules), p.moduleList(), nil, false)
	return err
}

func (p *Process) module(name string) *Module {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.modules[name]
}

// serveFFI answers the guest's calls into Go ("ffi.call",
// "ffi.proxy_call", "ffi.proxy_op"), handle releases ("ffi.release") and
// reads of the embedder's stdin ("stdin.read"). Everything in content was
// written by the guest, which cell code controls: ids, names and values
// are checked here, and an error becomes a Python exception.
func (p *Process) serveFFI(ctx context.Context, method string, content json.RawMessage, buffers [][]byte) (any, [][]byte, error) {
	var req guestproto.FFIRequest
	if err := json.Unmarshal(content, &req); err != nil {
		return nil, nil, err
	}
	var fn Func
	switch guestproto.Method(method) {
	case guestproto.FFIRelease:
		p.handles.release(req.ID, req.Count)
		return nil, nil, nil
	case guestproto.StdinRead:
		return p.readStdin(req.N)
	case guestproto.FFIProxyOp:
		v, ok := p.handles.get(req.ID)
		if !ok {
			return nil, nil, &GuestError{Type: "ValueError", Message: "the Go object was released"}
		}
		c := &codec{p: p, buffers: buffers}
		key, err := c.decodeRaw(req.Key)
		if err != nil {
			return nil, nil, err
		}
		value, err := c.decodeRaw(req.Value)
		if err != nil {
			return nil, nil, err
		}
		result, err := safeProxyOp(v, req.Op, req.Name, key, value, req.N)
		if err != nil {
			return nil, nil, err
		}
		return p.encodeResult(result)
	case guestproto.FFICall:
		m := p.module(req.Module)
		if m == nil {
			return nil, nil, fmt.Errorf("no Go module %q", req.Module)
		}
		if fn = m.Funcs[req.Func]; fn == nil {
			fn = m.Async[req.Func]
		}
		if fn == nil {
			return nil, nil, &GuestError{Type: "AttributeError", Message: fmt.Sprintf("module %q has no function %q", req.Module, req.Func)}
		}
	case guestproto.FFIProxyCall:
		v, ok := p.handles.get(req.ID)
		if !ok {
			return nil, nil, &GuestError{Type: "ValueError", Message: "the Go object was released"}
		}
		switch f := v.(type) {
		case Func:
			fn = f
		case func(context.Context, []any, map[string]any) (any, error):
			fn = f
		default:
			// Any other Go function (a method value too) is called by
			// reflection, its arguments converted to its parameters.
			if reflectFunc, ok := asReflectFunc(v); ok {
				fn = reflectFunc
				break
			}
			return nil, nil, &GuestError{Type: "TypeError", Message: fmt.Sprintf("Go value of type %T is not callable", v)}
		}
	default:
		return nil, nil, fmt.Errorf("unknown FFI request %q", method)
	}
	c := &codec{p: p, buffers: buffers}
	args, err := c.decodeRaw(req.Args)
	if err != nil {
		return nil, nil, err
	}
	kw, err := c.decodeRaw(req.Kwargs)
	if err != nil {
		return nil, nil, err
	}
	argList, _ := args.([]any)
	kwargs, _ := kw.(map[string]any)
	if req.Blocking {
		ctx = context.WithValue(ctx, blockingCall{}, p)
	}
	result, err := callGo(ctx, fn, argList, kwargs)
	if err != nil {
		return nil, nil, err
	}
	return p.encodeResult(result)
}

// encodeResult converts what a Go function or proxy operation returned
// into the reply's JSON and buffers.
func (p *Process) encodeResult(result any) (any, [][]byte, error) {
	out := &codec{p: p}
	enc, err := out.encode(result)
	if err != nil {
		return nil, nil, err
	}
	return enc, out.buffers, nil
}

// callPython runs py_eval / py_call in the guest and converts the result.
// It does not wait for a running request (a cell): the guest serves it at
// its next wait on the channel (an await point, input(), a call into Go),
// and its output goes with the running request's.
func (p *Process) callPython(ctx context.Context, typ guestproto.Kind, content map[string]any, args []any, kwargs map[string]any) (any, error) {
	c := &codec{p: p}
	enc, err := c.encodeList(args)
	if err != nil {
		return nil, err
	}
	content["args"] = enc
	if kwargs != nil {
		kw, err := c.encode(kwargs)
		if err != nil {
			return nil, err
		}
		content["kwargs"] = kw
	}
	raw, buffers, err := p.roundTrip(ctx, string(typ), &Payload{Content: content, Buffers: c.buffers}, nil, false)
	// PyObjects among the arguments are released (by Go's collector) only
	// once the guest has the request.
	runtime.KeepAlive(args)
	runtime.KeepAlive(kwargs)
	if err != nil {
		return nil, err
	}
	return p.pyResult(raw, buffers)
}

// pyResult converts the reply of py_eval, py_call and py_await.
func (p *Process) pyResult(raw json.RawMessage, buffers [][]byte) (any, error) {
	var reply guestproto.PyResult
	if err := json.Unmarshal(raw, &reply); err != nil {
		return nil, err
	}
	c := &codec{p: p, buffers: buffers}
	if reply.Status != "ok" {
		pe := &PythonError{Type: reply.Ename, Message: reply.Evalue, Traceback: strings.Join(reply.Traceback, "")}
		if exc, err := c.decodeRaw(reply.Exc); err == nil {
			pe.Exception, _ = exc.(*PyObject)
		}
		return nil, pe
	}
	return c.decodeRaw(reply.Value)
}

// GoHandles is how many Go values Python holds handles on (for leak checks).
func (p *Process) GoHandles() int { return p.handles.Len() }

// PyHandles asks the interpreter how many Python objects Go holds handles on.
func (p *Process) PyHandles(ctx context.Context) (int, error) {
	v, err := p.Eval(ctx, "__import__('_wasipy_ffi').handle_count()")
	if err != nil {
		return 0, err
	}
	n, _ := v.(int64)
	return int(n), nil
}

// safeProxyOp is proxyOp with a panic of reflection (a nil embedded
// pointer, a method that panics) turned into an error for Python.
func safeProxyOp(v any, op, name string, key, value any, depth int) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Go panicked during %s: %v", op, r)
		}
	}()
	return proxyOp(v, op, name, key, value, depth)
}

// callGo runs a Func; a panic in it becomes an error for Python instead of
// ending the kernel.
func callGo(ctx context.Context, fn Func, args []any, kwargs map[string]any) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Go function panicked: %v", r)
		}
	}()
	return fn(ctx, args, kwargs)
}
