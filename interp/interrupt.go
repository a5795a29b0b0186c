package interp

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
)

// How an interrupt reaches running Python code without OS signals or
// threads in the guest (DESIGN.md, hazard 4): the worker does, from outside,
// what CPython's PyErr_SetInterruptEx(SIGINT) does from inside. It sets
//
//	_PyRuntime.signals.handlers[SIGINT].tripped = 1
//	_PyRuntime.signals.is_tripped = 1
//	_PyRuntime.ceval.signals_pending = 1
//	_PyRuntime._main_interpreter.ceval.eval_breaker = 1   (last)
//
// in the guest's linear memory. The eval loop checks eval_breaker at every
// backward jump and call, sees the pending signal and runs the Python-level
// SIGINT handler, which raises KeyboardInterrupt (the runtime installs its
// own handler that defers the interrupt while the kernel's own code runs).
// The guest recomputes eval_breaker itself now and then, which can clear our
// store before it is seen, so the worker re-asserts it until the guest has
// consumed "tripped".
//
// The four addresses are static. They are read from the DWARF debug
// sections of python.wasm once per binary and kept beside the stripped
// module in the cache. Writing from another goroutine needs a linear
// memory that never moves: see memory_linux.go.
var interruptPaths = [...]string{
	"signals.handlers[2].tripped",
	"signals.is_tripped",
	"ceval.signals_pending",
	"_main_interpreter.ceval.eval_breaker", // written last
}

// interruptTargets are the guest addresses of interruptPaths, in order.
type interruptTargets struct {
	Addrs [len(interruptPaths)]uint32 `json:"addrs"`
}

// findInterruptTargets reads the addresses from the module's DWARF.
func findInterruptTargets(module []byte) (*interruptTargets, error) {
	sections, err := customSections(module, ".debug_")
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
	t := &interruptTargets{}
	for i, path := range interruptPaths {
		off, size, err := fieldOffset(typ, path)
		if err != nil {
			return nil, fmt.Errorf("_PyRuntime.%s: %w", path, err)
		}
		if size != 4 {
			return nil, fmt.Errorf("_PyRuntime.%s is %d bytes, want a 4-byte int", path, size)
		}
		addr := base + uint32(off)
		if addr%4 != 0 {
			return nil, fmt.Errorf("_PyRuntime.%s at %#x is not aligned", path, addr)
		}
		t.Addrs[i] = addr
	}
	return t, nil
}

// customSections returns the payloads of custom sections whose name starts
// with prefix.
func customSections(module []byte, prefix string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := sections(module, func(id byte, name string, payload, _ []byte) {
		if id == 0 && strings.HasPrefix(name, prefix) {
			out[name] = payload
		}
	})
	return out, err
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

// fieldOffset resolves a path like "a.b[2].c" within t.
func fieldOffset(t dwarf.Type, path string) (int64, int64, error) {
	var off int64
	for _, part := range strings.Split(path, ".") {
		name, index := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			n, err := strconv.Atoi(part[i+1 : len(part)-1])
			if err != nil {
				return 0, 0, err
			}
			name, index = part[:i], n
		}
		st, ok := underlying(t).(*dwarf.StructType)
		if !ok {
			return 0, 0, fmt.Errorf("%s: not a struct (%s)", name, t)
		}
		var field *dwarf.StructField
		for _, f := range st.Field {
			if f.Name == name {
				field = f
				break
			}
		}
		if field == nil {
			return 0, 0, fmt.Errorf("no field %s", name)
		}
		off += field.ByteOffset
		t = field.Type
		if index >= 0 {
			at, ok := underlying(t).(*dwarf.ArrayType)
			if !ok {
				return 0, 0, fmt.Errorf("%s: not an array", name)
			}
			off += int64(index) * underlying(at.Type).Size()
			t = at.Type
		}
	}
	return off, underlying(t).Size(), nil
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

// interrupter writes the interrupt flags into a linear memory that does not
// move (see memory_linux.go).
type interrupter struct {
	targets *interruptTargets
	mem     func() []byte // the guest's memory, or nil before it exists
	wake    func()        // ends a sleep in poll_oneoff
}

// available reports whether running Python code can be interrupted.
func (in *interrupter) available() bool {
	return in != nil && in.targets != nil && in.mem != nil && in.mem() != nil
}

func (in *interrupter) word(mem []byte, addr uint32) *int32 {
	return (*int32)(unsafe.Pointer(&mem[addr]))
}

// trip raises the interrupt and keeps eval_breaker set until the guest has
// taken it (or a second has passed).
func (in *interrupter) trip() {
	if !in.available() {
		return
	}
	mem := in.mem()
	a := in.targets.Addrs
	for _, addr := range a {
		if int(addr)+4 > len(mem) {
			return
		}
	}
	tripped, breaker := in.word(mem, a[0]), in.word(mem, a[3])
	atomic.StoreInt32(tripped, 1)
	atomic.StoreInt32(in.word(mem, a[1]), 1)
	atomic.StoreInt32(in.word(mem, a[2]), 1)
	atomic.StoreInt32(breaker, 1)
	go func() {
		deadline := time.Now().Add(time.Second)
		for i := 0; time.Now().Before(deadline) && atomic.LoadInt32(tripped) != 0; i++ {
			atomic.StoreInt32(breaker, 1)
			// A sleep that began just after the interrupt (before Python
			// saw the flag) is woken too.
			if in.wake != nil && i%50 == 49 {
				in.wake()
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
}
