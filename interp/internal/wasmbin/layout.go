package wasmbin

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Layout is what an image of a module's memory must know of the module:
// its mutable globals and where its active data segments write.
type Layout struct {
	// MutableGlobals are the module's own mutable globals (imported ones
	// are not counted: the module has none it could image).
	MutableGlobals []Global
	// Data are the byte ranges of memory 0 that instantiation initialises.
	Data []Range
}

// Global is one global of the module.
type Global struct {
	Index   int
	Type    byte  // 0x7f i32, 0x7e i64, ...
	I32Init int32 // the initial value, when it is an i32.const
	HasInit bool  // I32Init is meaningful
}

// Range is [Start, End) in linear memory.
type Range struct{ Start, End uint64 }

const (
	sectionGlobal = 6
	sectionData   = 11

	opI32Const = 0x41
	opEnd      = 0x0b
)

// ReadLayout reads module's mutable globals and data segments. It accepts
// only the shapes a linker writes for a non-shared memory (i32.const
// offsets); anything else is an error, so an image is never taken of a
// module it might restore wrongly.
func ReadLayout(module []byte) (Layout, error) {
	var l Layout
	var perr error
	err := Sections(module, func(id byte, _ string, payload, _ []byte) {
		if perr != nil {
			return
		}
		switch id {
		case sectionGlobal:
			perr = l.readGlobals(payload)
		case sectionData:
			perr = l.readData(payload)
		}
	})
	if err == nil {
		err = perr
	}
	return l, err
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) u32() uint32 {
	v, n := binary.Uvarint(r.b)
	if r.err != nil || n <= 0 || v > 1<<32-1 {
		r.fail("bad unsigned LEB128")
		return 0
	}
	r.b = r.b[n:]
	return uint32(v)
}

func (r *reader) s32() int32 {
	var v int64
	var shift uint
	for i := 0; ; i++ {
		if i >= 5 {
			r.fail("bad signed LEB128")
			return 0
		}
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			break
		}
	}
	if v < -1<<31 || v > 1<<31-1 {
		r.fail("signed LEB128 out of range")
		return 0
	}
	return int32(v)
}

// constExpr reads an initialiser: an i32.const (ok) or any other
// expression (skipped to its end; not ok).
func (r *reader) constExpr() (int32, bool) {
	op := r.byte()
	if op == opI32Const {
		v := r.s32()
		if r.byte() == opEnd {
			return v, r.err == nil
		}
		r.fail("i32.const initialiser does not end")
		return 0, false
	}
	// Not a plain constant: find its end byte (good enough for the
	// global.get and ref.* forms a linker may write).
	for r.err == nil && op != opEnd {
		op = r.byte()
	}
	return 0, false
}

func (l *Layout) readGlobals(p []byte) error {
	r := &reader{b: p}
	n := r.u32()
	for i := 0; i < int(n) && r.err == nil; i++ {
		typ := r.byte()
		mut := r.byte()
		v, ok := r.constExpr()
		if mut == 1 {
			l.MutableGlobals = append(l.MutableGlobals, Global{Index: i, Type: typ, I32Init: v, HasInit: ok})
		}
	}
	if r.err != nil {
		return fmt.Errorf("global section: %w", r.err)
	}
	return nil
}

func (l *Layout) readData(p []byte) error {
	r := &reader{b: p}
	n := r.u32()
	for i := 0; i < int(n) && r.err == nil; i++ {
		flags := r.u32()
		switch flags {
		case 0, 2:
			if flags == 2 && r.u32() != 0 {
				return fmt.Errorf("data segment %d: not memory 0", i)
			}
			off, ok := r.constExpr()
			if r.err == nil && !ok {
				return fmt.Errorf("data segment %d: offset is not an i32.const", i)
			}
			size := r.u32()
			if r.err != nil || uint64(size) > uint64(len(r.b)) {
				r.fail("truncated data segment")
				break
			}
			r.b = r.b[size:]
			start := uint64(uint32(off))
			l.Data = append(l.Data, Range{Start: start, End: start + uint64(size)})
		case 1: // passive: written only by memory.init, which CPython never uses
			size := r.u32()
			if r.err != nil || uint64(size) > uint64(len(r.b)) {
				r.fail("truncated data segment")
				break
			}
			r.b = r.b[size:]
		default:
			return fmt.Errorf("data segment %d: unknown flags %d", i, flags)
		}
	}
	if r.err != nil {
		return fmt.Errorf("data section: %w", r.err)
	}
	return nil
}
