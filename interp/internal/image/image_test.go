package image

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/interp/internal/wasmbin"
)

// layout is a module like wasm-ld's --stack-first output: the stack below
// 64 KiB, a data segment after it.
func layout() wasmbin.Layout {
	return wasmbin.Layout{
		MutableGlobals: []wasmbin.Global{{Index: 0, Type: 0x7f, I32Init: 65536, HasInit: true}},
		Data:           []wasmbin.Range{{Start: 65536, End: 65536 + 5000}},
	}
}

func TestRoundTripRestoresEveryByte(t *testing.T) {
	mem := make([]byte, 4*wasmPage)
	mem[100] = 7                      // stack: dead once the stack is empty, not stored
	copy(mem[65536:], "data segment") // in a data segment page: stored
	mem[2*wasmPage+123] = 1           // heap
	binary.LittleEndian.PutUint64(mem[4*wasmPage-8:], 42)
	im, err := Take(mem, layout(), Header{Key: "k", MonotonicNs: 5})
	require.NoError(t, err)
	require.Equal(t, uint32(4), im.MemoryPages)
	// The data segments' two pages, one heap page, the last page.
	require.Equal(t, 4*PageSize, im.Stored())

	back, err := Decode(im.Encode())
	require.NoError(t, err)
	require.Equal(t, "k", back.Key)
	require.Equal(t, int64(5), back.MonotonicNs)

	// Restored over a fresh instance's memory: zero but for what its data
	// segments wrote, here garbage that the image must overwrite.
	fresh := make([]byte, 4*wasmPage)
	for i := 65536; i < 65536+5000; i++ {
		fresh[i] = 0xff
	}
	require.NoError(t, back.Restore(fresh))
	want := append([]byte(nil), mem...)
	want[100] = 0
	require.True(t, bytes.Equal(want, fresh), "restored memory differs from the image's")
}

func TestTakeRefusesModulesItCannotRestore(t *testing.T) {
	mem := make([]byte, wasmPage)
	l := layout()
	l.MutableGlobals = append(l.MutableGlobals, wasmbin.Global{Index: 1, Type: 0x7f, HasInit: true})
	_, err := Take(mem, l, Header{})
	require.ErrorContains(t, err, "2 mutable globals")
	l.MutableGlobals = nil
	_, err = Take(mem, l, Header{})
	require.Error(t, err)
	_, err = Take(make([]byte, 100), layout(), Header{})
	require.ErrorContains(t, err, "whole pages")
}

func TestDecodeRejectsLies(t *testing.T) {
	mem := make([]byte, 2*wasmPage)
	mem[wasmPage+1] = 1
	good, err := Take(mem, layout(), Header{Key: "k"})
	require.NoError(t, err)

	for name, mutate := range map[string]func(*Image){
		"run outside memory": func(im *Image) { im.Runs[len(im.Runs)-1][1] = 3 * wasmPage },
		"unaligned run":      func(im *Image) { im.Runs[0][0]++ },
		"runs out of order":  func(im *Image) { im.Runs = append(im.Runs, im.Runs[0]) },
		"data short":         func(im *Image) { im.Data = im.Data[:len(im.Data)-1] },
		"no memory":          func(im *Image) { im.MemoryPages = 0 },
		"empty run":          func(im *Image) { im.Runs[0][1] = im.Runs[0][0] },
	} {
		t.Run(name, func(t *testing.T) {
			im := *good
			im.Runs = append([][2]uint64(nil), good.Runs...)
			mutate(&im)
			_, err := Decode(im.Encode())
			require.Error(t, err)
		})
	}
	_, err = Decode([]byte("WASIPYI0xxxx"))
	require.Error(t, err)
	b := good.Encode()
	binary.LittleEndian.PutUint32(b[len(magic):], uint32(len(b)))
	_, err = Decode(b)
	require.Error(t, err, "a header length past the end")
}

func TestRestoreNeedsTheImagesSize(t *testing.T) {
	im, err := Take(make([]byte, 2*wasmPage), layout(), Header{})
	require.NoError(t, err)
	require.Error(t, im.Restore(make([]byte, wasmPage)))
}

// FuzzDecode: an image's bytes come from a file; whatever they are,
// Decode either refuses them or returns an image whose Restore stays
// inside a memory of its size.
func FuzzDecode(f *testing.F) {
	mem := make([]byte, 2*wasmPage)
	mem[wasmPage+9] = 3
	im, _ := Take(mem, layout(), Header{Key: "seed"})
	f.Add(im.Encode())
	f.Add([]byte("WASIPYI1\x02\x00\x00\x00{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := Decode(b)
		if err != nil {
			return
		}
		if im.MemoryPages > 64 {
			return // a valid but large memory: not allocated here
		}
		if err := im.Restore(make([]byte, uint64(im.MemoryPages)*wasmPage)); err != nil {
			t.Fatalf("decoded image does not restore: %v", err)
		}
	})
}
