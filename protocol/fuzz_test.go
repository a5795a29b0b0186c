package protocol

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// packFrames joins frames into one byte string (a uint16 length before
// each), so that the fuzzer can mutate frame counts and lengths freely.
func packFrames(frames [][]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint16(b, uint16(min(len(f), 0xffff)))
		b = append(b, f...)
	}
	return b
}

func unpackFrames(b []byte) [][]byte {
	var frames [][]byte
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		n = min(n, len(b))
		frames = append(frames, b[:n])
		b = b[n:]
	}
	return frames
}

func FuzzDecode(f *testing.F) {
	seeds := []*Signer{nil, mustSigner(f, "k")}
	m := sampleMessage(f)
	for _, s := range seeds {
		signed := byte(0)
		if s.Enabled() {
			signed = 1
		}
		frames, err := Encode(m, s)
		require.NoError(f, err)
		f.Add(signed, packFrames(frames))
		f.Add(signed, packFrames(frames[:4]))
		f.Add(signed, packFrames(rawFrames(s, nil, okHeader, `{}`, `{}`, `{}`)))
		f.Add(signed, packFrames(rawFrames(s, []string{"a", "b"}, `{"msg_id":1}`, `[]`, `null`, `"x"`)))
		f.Add(signed, packFrames(rawFrames(s, nil, `{"msg_id":"1","msg_type":"x","date":null}`, `{"msg_id":"\ud800"}`, `{"a":1e308,"b":-0}`, "{\"t\":\"\xff\"}", "", "buf")))
		f.Add(signed, packFrames([][]byte{[]byte(Delimiter)}))
		f.Add(signed, []byte{})
	}
	f.Fuzz(func(t *testing.T, signed byte, data []byte) {
		s := seeds[int(signed)%len(seeds)]
		frames := unpackFrames(data)
		m, err := Decode(frames, s)
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned a message with error %v", err)
			}
			return
		}
		again, err := Encode(m, s)
		if err != nil {
			t.Fatalf("accepted message does not re-encode: %v\n%#v", err, m)
		}
		m2, err := Decode(again, s)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v\n%q", err, again)
		}
		require.Equal(t, m, m2)
		// Encoding is deterministic once decoded.
		again2, err := Encode(m2, s)
		require.NoError(t, err)
		require.True(t, bytes.Equal(packFrames(again), packFrames(again2)))
	})
}
