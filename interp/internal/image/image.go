// Package image is the file format of an interpreter image: the linear
// memory of a prepared python.wasm instance (CPython initialised, the
// runtime imported, no session yet), taken when the instance's call stack
// was empty, so that memory is the whole of its state (the module's only
// mutable global, the stack pointer, is back at its initial value then:
// Take checks it).
//
// An image is sparse: only 4 KiB pages that hold something are stored, as
// runs, plus every page instantiation writes (data segments), so that
// restoring over a freshly instantiated memory leaves no byte of the
// fresh one where the image says zero. Restore writes the runs into a
// fresh instance's memory.
//
// The bytes of an image come from the code cache, which authenticates
// them (codecache), but Decode still trusts nothing in them: every run is
// checked against the memory size and the data length (FuzzDecode).
package image

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wasipy/wasipy/interp/internal/wasmbin"
)

// PageSize is the granularity of the runs: the host's page, so a run is
// also what a mapping of the file could use.
const PageSize = 4096

// wasmPage is WebAssembly's page size.
const wasmPage = 65536

// magic starts every image; the trailing digit is the format version.
var magic = []byte("WASIPYI1")

// maxHeader bounds the header's size (it lists runs: a 4 GiB memory in
// alternating pages would be 2^19 runs, far more than any real image).
const maxHeader = 16 << 20

// Header describes an image.
type Header struct {
	// Key says what the image was taken of (the interpreter, the runtime,
	// the options that shape them); a start uses an image only if its own
	// key is the same.
	Key string `json:"key"`
	// MemoryPages is the size of the memory, in WebAssembly pages.
	MemoryPages uint32 `json:"memory_pages"`
	// Runs are the stored byte ranges of memory, in order, page aligned.
	Runs [][2]uint64 `json:"runs"`
	// MonotonicNs is the guest's monotonic clock when the image was
	// taken: a restored guest's clock continues from it, so no time it
	// recorded lies in its future.
	MonotonicNs int64 `json:"monotonic_ns"`
	// Snapshot is the name of a session's snapshot (%snapshot save), ""
	// for the image of a prepared interpreter.
	Snapshot string `json:"snapshot,omitempty"`
	// WorkDir is the folder the session ran in, for the log.
	WorkDir string `json:"work_dir,omitempty"`
}

// Image is a decoded image: its header and the runs' bytes, one after the
// other (Data aliases the buffer Decode was given).
type Image struct {
	Header
	Data []byte
}

// Take builds an image of mem (a whole linear memory) for a module of
// layout l. It must be taken between two calls of the module's exports,
// after one returned normally: the call stack is empty then, and C code
// (clang's calling convention) has put the stack pointer, the module's
// only mutable global, back at its initial value; the stack beneath it
// holds nothing live and is not stored.
func Take(mem []byte, l wasmbin.Layout, h Header) (*Image, error) {
	if len(mem)%wasmPage != 0 {
		return nil, fmt.Errorf("memory of %d bytes is not whole pages", len(mem))
	}
	sp, err := stackBase(l)
	if err != nil {
		return nil, err
	}
	h.MemoryPages = uint32(len(mem) / wasmPage)
	h.Runs = nil
	var data bytes.Buffer
	// The stack lies below the stack pointer (wasm-ld's --stack-first);
	// pages there are dead once the stack is empty, unless a data segment
	// reaches them.
	stackEnd := uint64(sp) &^ (PageSize - 1)
	for off := uint64(0); off < uint64(len(mem)); off += PageSize {
		page := mem[off : off+PageSize]
		keep := inData(l.Data, off, off+PageSize) || (off >= stackEnd && !zero(page))
		if !keep {
			continue
		}
		if n := len(h.Runs); n > 0 && h.Runs[n-1][1] == off {
			h.Runs[n-1][1] += PageSize
		} else {
			h.Runs = append(h.Runs, [2]uint64{off, off + PageSize})
		}
		data.Write(page)
	}
	return &Image{Header: h, Data: data.Bytes()}, nil
}

// stackBase is the initial value of the module's one mutable global, the
// stack pointer. A module with other mutable globals (threads, PIC) keeps
// state outside memory that an image would lose: refused.
func stackBase(l wasmbin.Layout) (uint32, error) {
	if len(l.MutableGlobals) != 1 || l.MutableGlobals[0].Type != 0x7f || !l.MutableGlobals[0].HasInit {
		return 0, fmt.Errorf("the module has %d mutable globals; an image needs exactly one, the i32 stack pointer with a constant initial value", len(l.MutableGlobals))
	}
	return uint32(l.MutableGlobals[0].I32Init), nil
}

// StackBase is the stack pointer's initial value for a module of layout l
// (the value Take expects), or an error for a module images do not fit.
func StackBase(l wasmbin.Layout) (uint32, error) { return stackBase(l) }

func inData(data []wasmbin.Range, start, end uint64) bool {
	for _, r := range data {
		if r.Start < end && start < r.End {
			return true
		}
	}
	return false
}

func zero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Encode writes the image as bytes: magic, header length (4 bytes, little
// endian), the header as JSON, then the data.
func (im *Image) Encode() []byte {
	head, _ := json.Marshal(im.Header)
	out := make([]byte, 0, len(magic)+4+len(head)+len(im.Data))
	out = append(out, magic...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(head)))
	out = append(out, head...)
	return append(out, im.Data...)
}

// Decode reads an image, checking that its runs are page aligned, in
// order, inside its memory, and add up to its data.
func Decode(b []byte) (*Image, error) {
	if len(b) < len(magic)+4 || !bytes.Equal(b[:len(magic)], magic) {
		return nil, errors.New("not a wasipy interpreter image (or another version)")
	}
	b = b[len(magic):]
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if n > maxHeader || uint64(n) > uint64(len(b)) {
		return nil, errors.New("image header is truncated or too large")
	}
	var im Image
	if err := json.Unmarshal(b[:n], &im.Header); err != nil {
		return nil, fmt.Errorf("image header: %w", err)
	}
	im.Data = b[n:]
	size := uint64(im.MemoryPages) * wasmPage
	if im.MemoryPages == 0 || im.MemoryPages > 65536 {
		return nil, fmt.Errorf("image memory of %d pages", im.MemoryPages)
	}
	var total, prev uint64
	for i, r := range im.Runs {
		start, end := r[0], r[1]
		if start%PageSize != 0 || end%PageSize != 0 || end <= start || end > size || (i > 0 && start < prev) {
			return nil, fmt.Errorf("image run %d [%#x, %#x) is not a page-aligned range inside %d bytes, after the one before", i, start, end, size)
		}
		prev = end
		total += end - start
	}
	if total != uint64(len(im.Data)) {
		return nil, fmt.Errorf("image runs add up to %d bytes but it holds %d", total, len(im.Data))
	}
	return &im, nil
}

// Restore writes the image's runs into mem, which must already be the
// image's size (grow the instance's memory first).
func (im *Image) Restore(mem []byte) error {
	if uint64(len(mem)) != uint64(im.MemoryPages)*wasmPage {
		return fmt.Errorf("memory is %d bytes, the image's %d", len(mem), uint64(im.MemoryPages)*wasmPage)
	}
	pos := uint64(0)
	for _, r := range im.Runs {
		n := r[1] - r[0]
		copy(mem[r[0]:r[1]], im.Data[pos:pos+n])
		pos += n
	}
	return nil
}

// Stored is how many bytes of memory the image holds.
func (im *Image) Stored() int { return len(im.Data) }
