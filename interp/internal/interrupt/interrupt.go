package interrupt

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/wasipy/wasipy/interp/internal/wasmbin"
)

// How an interrupt reaches running Python code without OS signals or
// threads in the guest (docs/RATIONALE.md, section 4): the worker does, from outside,
// what CPython's PyErr_SetInterruptEx(SIGINT) does from inside: trip_signal()
// in Modules/signalmodule.c. It sets
//
//	_PyRuntime.signals.handlers[SIGINT].tripped = 1
//	_PyRuntime.signals.is_tripped = 1
//
// and then tells the eval loop to look, which differs between versions:
//
//	3.12: _PyRuntime.ceval.signals_pending = 1, then
//	      _PyRuntime._main_interpreter.ceval.eval_breaker = 1 (last)
//	3.13: _PyRuntime.main_tstate->eval_breaker |= _PY_SIGNALS_PENDING_BIT
//
// In 3.13 the breaker is a word of the main thread's PyThreadState, reached
// through a pointer, whose high bits hold the instrumentation version: it
// must be OR-ed, never stored, or the eval loop would re-instrument every
// code object it meets.
//
// The eval loop checks the breaker at every backward jump and call, sees the
// pending signal and runs the Python-level SIGINT handler, which raises
// KeyboardInterrupt (the runtime installs its own handler that defers the
// interrupt while the kernel's own code runs). The guest can clear the
// breaker itself before it has seen our store (3.12 recomputes it), so the
// worker re-asserts it until the guest has consumed "tripped".
//
// The addresses are static (in 3.13, the address of the pointer and the
// field's offset are). They are read from the DWARF debug sections of
// python.wasm once per binary and kept beside the stripped module in the
// cache. Writing from another goroutine needs a linear memory that never
// moves: see package memory.
var interruptPaths = [...]string{
	"signals.handlers[2].tripped",
	"signals.is_tripped",
	"ceval.signals_pending",                // 3.12 only
	"_main_interpreter.ceval.eval_breaker", // 3.12 only; written last
}

// signalsPendingBit is _PY_SIGNALS_PENDING_BIT of CPython 3.13's
// Include/internal/pycore_ceval.h. A macro leaves no trace in DWARF, so it
// is written here; the locator accepts the 3.13 layout only where the
// fields it needs exist with the expected sizes.
const signalsPendingBit = 1 << 1

// Layouts of the flags.
const (
	LayoutRuntimeBreaker = ""       // 3.12: four words in _PyRuntime
	LayoutThreadBreaker  = "tstate" // 3.13: the breaker in *_PyRuntime.main_tstate
)

// Targets are where the flags are in the guest's memory.
type Targets struct {
	// Layout is LayoutRuntimeBreaker or LayoutThreadBreaker.
	Layout string `json:"layout,omitempty"`
	// Addrs are the addresses of interruptPaths, in order; in the 3.13
	// layout only the first two are used.
	Addrs [len(interruptPaths)]uint32 `json:"addrs"`
	// MainTstate is the address of _PyRuntime.main_tstate (a pointer to
	// the main thread's PyThreadState) and BreakerOffset the offset of
	// eval_breaker within PyThreadState (3.13 layout).
	MainTstate    uint32 `json:"main_tstate,omitempty"`
	BreakerOffset uint32 `json:"breaker_offset,omitempty"`
}

// Find reads the addresses from the module's DWARF.
func Find(module []byte) (*Targets, error) {
	sections, err := wasmbin.CustomSections(module, ".debug_")
	if err != nil {
		return nil, err
	}
	if sections[".debug_info"] == nil {
		return nil, errors.New("python.wasm has no DWARF (.debug_info): interrupts cannot stop running code")
	}
	d, err := dwarf.New(sections[".debug_abbrev"], sections[".debug_aranges"], sections[".debug_frame"],
		sections[".debug_info"], sections[".debug_line"], sections[".debug_pubnames"],
		sections[".debug_ranges"], sections[".debug_str"])
	if err != nil {
		return nil, fmt.Errorf("DWARF: %w", err)
	}
	for _, name := range []string{".debug_addr", ".debug_str_offsets", ".debug_rnglists", ".debug_line_str", ".debug_loclists"} {
		if s := sections[name]; s != nil {
			if err := d.AddSection(name, s); err != nil {
				return nil, fmt.Errorf("DWARF %s: %w", name, err)
			}
		}
	}
	base, typ, err := findVariable(d, "_PyRuntime")
	if err != nil {
		return nil, err
	}
	// word returns the address of a 4-byte int at path within _PyRuntime.
	word := func(path string) (uint32, error) {
		off, size, err := fieldOffset(typ, path)
		if err != nil {
			return 0, fmt.Errorf("_PyRuntime.%s: %w", path, err)
		}
		if size != 4 {
			return 0, fmt.Errorf("_PyRuntime.%s is %d bytes, want a 4-byte int", path, size)
		}
		addr := base + uint32(off)
		if addr%4 != 0 {
			return 0, fmt.Errorf("_PyRuntime.%s at %#x is not aligned", path, addr)
		}
		return addr, nil
	}
	t := &Targets{}
	for i := range 2 {
		if t.Addrs[i], err = word(interruptPaths[i]); err != nil {
			return nil, err
		}
	}
	if _, _, err := fieldOffset(typ, "main_tstate"); err == nil {
		// 3.13 and later: the breaker is in the main thread's state.
		t.Layout = LayoutThreadBreaker
		if t.MainTstate, err = word("main_tstate"); err != nil {
			return nil, err
		}
		ptr, _, _ := fieldType(typ, "main_tstate")
		pt, ok := underlying(ptr).(*dwarf.PtrType)
		if !ok {
			return nil, fmt.Errorf("_PyRuntime.main_tstate is not a pointer (%s)", ptr)
		}
		off, size, err := fieldOffset(pt.Type, "eval_breaker")
		if err != nil {
			return nil, fmt.Errorf("PyThreadState.eval_breaker: %w", err)
		}
		if size != 4 || off%4 != 0 {
			return nil, fmt.Errorf("PyThreadState.eval_breaker is %d bytes at offset %d, want an aligned 4-byte word", size, off)
		}
		t.BreakerOffset = uint32(off)
		return t, nil
	}
	for i := 2; i < len(interruptPaths); i++ {
		if t.Addrs[i], err = word(interruptPaths[i]); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func findVariable(d *dwarf.Data, name string) (uint32, dwarf.Type, error) {
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return 0, nil, fmt.Errorf("DWARF: %w", err)
		}
		if e == nil {
			return 0, nil, fmt.Errorf("DWARF has no variable %s", name)
		}
		if e.Tag == dwarf.TagVariable {
			if n, _ := e.Val(dwarf.AttrName).(string); n == name {
				loc, _ := e.Val(dwarf.AttrLocation).([]byte)
				// DW_OP_addr with a 4-byte address (wasm32).
				if len(loc) != 5 || loc[0] != 0x03 {
					return 0, nil, fmt.Errorf("%s: unsupported DWARF location % x", name, loc)
				}
				off, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
				if !ok {
					return 0, nil, fmt.Errorf("%s: no type", name)
				}
				typ, err := d.Type(off)
				if err != nil {
					return 0, nil, err
				}
				return binary.LittleEndian.Uint32(loc[1:]), typ, nil
			}
		}
		if e.Tag != dwarf.TagCompileUnit && e.Children {
			r.SkipChildren()
		}
	}
}

// fieldOffset resolves a path like "a.b[2].c" within t: its offset and size.
func fieldOffset(t dwarf.Type, path string) (int64, int64, error) {
	ft, off, err := fieldType(t, path)
	if err != nil {
		return 0, 0, err
	}
	return off, underlying(ft).Size(), nil
}

// fieldType resolves a path like "a.b[2].c" within t: its type and offset.
func fieldType(t dwarf.Type, path string) (dwarf.Type, int64, error) {
	var off int64
	for _, part := range strings.Split(path, ".") {
		name, index := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			n, err := strconv.Atoi(part[i+1 : len(part)-1])
			if err != nil {
				return nil, 0, err
			}
			name, index = part[:i], n
		}
		st, ok := underlying(t).(*dwarf.StructType)
		if !ok {
			return nil, 0, fmt.Errorf("%s: not a struct (%s)", name, t)
		}
		var field *dwarf.StructField
		for _, f := range st.Field {
			if f.Name == name {
				field = f
				break
			}
		}
		if field == nil {
			return nil, 0, fmt.Errorf("no field %s", name)
		}
		off += field.ByteOffset
		t = field.Type
		if index >= 0 {
			at, ok := underlying(t).(*dwarf.ArrayType)
			if !ok {
				return nil, 0, fmt.Errorf("%s: not an array", name)
			}
			off += int64(index) * underlying(at.Type).Size()
			t = at.Type
		}
	}
	return t, off, nil
}

func underlying(t dwarf.Type) dwarf.Type {
	for {
		switch tt := t.(type) {
		case *dwarf.TypedefType:
			t = tt.Type
		case *dwarf.QualType:
			t = tt.Type
		default:
			return t
		}
	}
}

// Interrupter writes the interrupt flags into a linear memory that does
// not move (see package memory).
type Interrupter struct {
	Targets *Targets
	Mem     func() []byte // the guest's memory, or nil before it exists
	Wake    func()        // ends a sleep in poll_oneoff
}

// available reports whether running Python code can be interrupted.
func (in *Interrupter) available() bool {
	return in != nil && in.Targets != nil && in.Mem != nil && in.Mem() != nil
}

func (in *Interrupter) word(mem []byte, addr uint32) *int32 {
	return (*int32)(unsafe.Pointer(&mem[addr]))
}

// Trip raises the interrupt and keeps the eval breaker set until the guest
// has taken it (or a second has passed).
func (in *Interrupter) Trip() {
	if !in.available() {
		return
	}
	mem := in.Mem()
	t := in.Targets
	inside := func(addr uint32) bool { return uint64(addr)+4 <= uint64(len(mem)) }
	for _, addr := range t.Addrs {
		if !inside(addr) {
			return
		}
	}
	if t.Layout == LayoutThreadBreaker && !inside(t.MainTstate) {
		return
	}
	tripped := in.word(mem, t.Addrs[0])
	atomic.StoreInt32(tripped, 1)
	atomic.StoreInt32(in.word(mem, t.Addrs[1]), 1)
	var assert func() bool
	switch t.Layout {
	case LayoutThreadBreaker:
		// The pointer is read from the guest each time: its value is the
		// guest's to set, so it is checked against the memory's bounds
		// before use (a garbage pointer costs the interrupt, not the
		// worker).
		assert = func() bool {
			ts := uint32(atomic.LoadInt32(in.word(mem, t.MainTstate)))
			addr := uint64(ts) + uint64(t.BreakerOffset)
			if ts == 0 || addr%4 != 0 || addr+4 > uint64(len(mem)) {
				return false
			}
			atomic.OrUint32((*uint32)(unsafe.Pointer(&mem[addr])), signalsPendingBit)
			return true
		}
	default:
		atomic.StoreInt32(in.word(mem, t.Addrs[2]), 1)
		breaker := in.word(mem, t.Addrs[3])
		assert = func() bool { atomic.StoreInt32(breaker, 1); return true }
	}
	if !assert() {
		return
	}
	go func() {
		deadline := time.Now().Add(time.Second)
		for i := 0; time.Now().Before(deadline) && atomic.LoadInt32(tripped) != 0; i++ {
			assert()
			// A sleep that began just after the interrupt (before Python
			// saw the flag) is woken too.
			if in.Wake != nil && i%50 == 49 {
				in.Wake()
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
}
