package wasmbin

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// section encodes one section (payload shorter than 128 bytes).
func section(id byte, payload ...byte) []byte {
	return append([]byte{id, byte(len(payload))}, payload...)
}

func module(sections ...[]byte) []byte {
	out := append([]byte(nil), Magic...)
	for _, s := range sections {
		out = append(out, s...)
	}
	return out
}

func TestReadLayoutFindsTheStackPointerAndTheDataSegments(t *testing.T) {
	m := module(
		// Two globals: a mutable i32 = 65536 (0x80 0x80 0x04), an immutable one.
		section(sectionGlobal, 2, 0x7f, 1, opI32Const, 0x80, 0x80, 0x04, opEnd, 0x7f, 0, opI32Const, 5, opEnd),
		// Three segments: active at 1024 (0x80 0x08) of 3 bytes, passive,
		// active with an explicit memory 0 at 70000 (0xf0 0xa2 0x04) of 2 bytes.
		section(sectionData, 3,
			0, opI32Const, 0x80, 0x08, opEnd, 3, 'a', 'b', 'c',
			1, 1, 'x',
			2, 0, opI32Const, 0xf0, 0xa2, 0x04, opEnd, 2, 'y', 'z'),
	)
	l, err := ReadLayout(m)
	require.NoError(t, err)
	require.Equal(t, []Global{{Index: 0, Type: 0x7f, I32Init: 65536, HasInit: true}}, l.MutableGlobals)
	require.Equal(t, []Range{{1024, 1027}, {70000, 70002}}, l.Data)
}

func TestReadLayoutRefusesWhatItCannotPlace(t *testing.T) {
	for name, m := range map[string][]byte{
		"offset not a constant": module(section(sectionData, 1, 0, 0x23, 0, opEnd, 1, 'a')),
		"another memory":        module(section(sectionData, 1, 2, 1, opI32Const, 0, opEnd, 1, 'a')),
		"unknown flags":         module(section(sectionData, 1, 7)),
		"truncated segment":     module(section(sectionData, 1, 0, opI32Const, 0, opEnd, 9, 'a')),
		"truncated global":      module(section(sectionGlobal, 1, 0x7f)),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ReadLayout(m)
			require.Error(t, err)
		})
	}
}

// FuzzReadLayout: the module comes from a file; nothing in it may make
// ReadLayout panic or claim ranges that end before they start.
func FuzzReadLayout(f *testing.F) {
	f.Add(module(section(sectionGlobal, 1, 0x7f, 1, opI32Const, 0x80, 0x80, 0x04, opEnd),
		section(sectionData, 1, 0, opI32Const, 0x80, 0x08, opEnd, 1, 'a')))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ReadLayout(b)
		if err != nil {
			return
		}
		for _, r := range l.Data {
			if r.End < r.Start {
				t.Fatalf("range %v ends before it starts", r)
			}
		}
	})
}
