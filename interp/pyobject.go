package interp

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"sync"

	"github.com/wasipy/wasipy/interp/internal/guestproto"
	"github.com/wasipy/wasipy/interp/internal/pipe"
)

// PyObject is a handle on a Python object that was not converted. The
// object stays alive in the interpreter while Go holds the handle: Go's
// garbage collector releases it once the PyObject is unreachable, and
// Release lets go at once. Its methods work while the interpreter is idle,
// from inside a Func, and while a cell awaits (see Process.Eval).
type PyObject struct {
	p        *Process
	id       int64
	typeName string
	repr     string
	once     sync.Once
	cleanup  runtime.Cleanup
}

// pyRef is what the cleanup of a PyObject needs: it must not hold the
// PyObject itself, or the object would never become unreachable.
type pyRef struct {
	p  *Process
	id int64
}

func newPyObject(p *Process, id int64, typeName, repr string) *PyObject {
	o := &PyObject{p: p, id: id, typeName: typeName, repr: repr}
	o.cleanup = runtime.AddCleanup(o, func(r pyRef) { r.p.releasePy(r.id) }, pyRef{p, id})
	return o
}

// releasePy tells the guest that Go let go of a Python object. It never
// blocks (it may run on the cleanup goroutine).
func (p *Process) releasePy(id int64) {
	msg, _ := guestproto.Encode(&guestproto.Message{Type: guestproto.PyRelease, ID: id})
	_ = p.send(pipe.Message, msg)
}

// Release lets the interpreter free the object now. It may be called any
// number of times; the handle must not be used afterwards.
func (o *PyObject) Release() {
	o.once.Do(func() {
		o.cleanup.Stop()
		o.p.releasePy(o.id)
	})
}

// Type is the name of the object's type.
func (o *PyObject) Type() string { return o.typeName }

// String is the object's repr() when the handle was made.
func (o *PyObject) String() string { return o.repr }

// Repr is the object's repr() now.
func (o *PyObject) Repr(ctx context.Context) (string, error) {
	v, err := o.op(ctx, "repr", nil, nil, nil)
	s, _ := v.(string)
	return s, err
}

// op runs one operation of py_call on the object (see _OPS in the
// runtime's _wasipy_ffi.py).
func (o *PyObject) op(ctx context.Context, op string, extra map[string]any, args []any, kwargs map[string]any) (any, error) {
	content := map[string]any{"id": o.id, "op": op}
	for k, v := range extra {
		content[k] = v
	}
	v, err := o.p.callPython(ctx, guestproto.PyCall, content, args, kwargs)
	runtime.KeepAlive(o) // released only after the guest has used the handle
	return v, err
}

// CallMethod calls a method of the object with positional arguments and
// returns its converted result.
func (o *PyObject) CallMethod(ctx context.Context, name string, args ...any) (any, error) {
	return o.op(ctx, "method", map[string]any{"method": name}, args, nil)
}

// CallMethodKw calls a method of the object with positional and keyword
// arguments.
func (o *PyObject) CallMethodKw(ctx context.Context, name string, args []any, kwargs map[string]any) (any, error) {
	return o.op(ctx, "method", map[string]any{"method": name}, args, kwargs)
}

// Call calls the object itself with positional and keyword arguments.
func (o *PyObject) Call(ctx context.Context, args []any, kwargs map[string]any) (any, error) {
	return o.op(ctx, "call", nil, args, kwargs)
}

// GetAttr is getattr(object, name), converted.
func (o *PyObject) GetAttr(ctx context.Context, name string) (any, error) {
	return o.op(ctx, "getattr", map[string]any{"name": name}, nil, nil)
}

// SetAttr is setattr(object, name, value).
func (o *PyObject) SetAttr(ctx context.Context, name string, value any) error {
	_, err := o.op(ctx, "setattr", map[string]any{"name": name}, []any{value}, nil)
	return err
}

// GetItem is object[key], converted.
func (o *PyObject) GetItem(ctx context.Context, key any) (any, error) {
	return o.op(ctx, "getitem", nil, []any{key}, nil)
}

// SetItem is object[key] = value.
func (o *PyObject) SetItem(ctx context.Context, key, value any) error {
	_, err := o.op(ctx, "setitem", nil, []any{key, value}, nil)
	return err
}

// DelItem is del object[key].
func (o *PyObject) DelItem(ctx context.Context, key any) error {
	_, err := o.op(ctx, "delitem", nil, []any{key}, nil)
	return err
}

// Contains is `value in object`.
func (o *PyObject) Contains(ctx context.Context, value any) (bool, error) {
	v, err := o.op(ctx, "contains", nil, []any{value}, nil)
	b, _ := v.(bool)
	return b, err
}

// Len is len(object).
func (o *PyObject) Len(ctx context.Context) (int, error) {
	v, err := o.op(ctx, "len", nil, nil, nil)
	n, _ := v.(int64)
	return int(n), err
}

// GetAttrRef returns the attribute by reference: a *PyObject even when
// it could be converted, so Go sees later changes to a list or dict.
func (o *PyObject) GetAttrRef(ctx context.Context, name string) (*PyObject, error) {
	v, err := o.op(ctx, "getattr", map[string]any{"name": name, "ref": true}, nil, nil)
	return asPyObject(v, err)
}

func asPyObject(v any, err error) (*PyObject, error) {
	if err != nil {
		return nil, err
	}
	ref, ok := v.(*PyObject)
	if !ok {
		return nil, fmt.Errorf("expected a handle, got %T", v)
	}
	return ref, nil
}

// Iter iterates over the object (iter(object)), one converted value per
// step; it stops at the first error, which it yields. Breaking out of the
// loop releases the iterator.
func (o *PyObject) Iter(ctx context.Context) iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		it, err := asPyObject(o.op(ctx, "iter", map[string]any{"ref": true}, nil, nil))
		if err != nil {
			yield(nil, err)
			return
		}
		defer it.Release()
		for {
			v, err := it.op(ctx, "next", nil, nil, nil)
			if err != nil {
				yield(nil, err)
				return
			}
			step, _ := v.(map[string]any)
			if step == nil {
				yield(nil, errors.New("malformed iterator step"))
				return
			}
			if done, _ := step["done"].(bool); done {
				return
			}
			if !yield(step["value"], nil) {
				return
			}
		}
	}
}

// Await awaits the object (a coroutine, task or future) as a task of the
// session's event loop and returns its converted result. Cancelling ctx
// cancels the task.
func (o *PyObject) Await(ctx context.Context) (any, error) {
	v, err := o.p.await(ctx, &guestproto.PyAwaitRequest{ID: o.id}, nil)
	runtime.KeepAlive(o)
	return v, err
}
