package protocol

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

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

// FuzzReadMsg feeds raw bytes from a peer to the ZMTP frame reader, as a
// connection after its handshake would: it must never panic, never return
// a frame or message over the caps, and never leave anything charged to
// the budget once the caller gives back what it was told it holds.
func FuzzReadMsg(f *testing.F) {
	f.Add([]byte{})
	f.Add(append(frame(flagMore, "a"), frame(0, "bc")...))
	f.Add(frame(flagCommand, "\x04PING\x00\x01ctx"))
	f.Add(append(frame(flagMore, "<IDS|MSG>"), header(0, 1<<40)...))
	f.Add(append(header(flagMore, 300), make([]byte, 300)...))
	f.Add([]byte{flagLong, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x80, 1, 'x'})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := &budget{max: 2048}
		lim := &readLimits{maxFrame: 1024, maxMessage: 1536, budget: b, msgTime: time.Second}
		br := bufio.NewReader(bytes.NewReader(data))
		for range 1000 {
			frames, cmd, held, err := readMsg(br, lim)
			if err != nil {
				require.Nil(t, frames)
				require.Zero(t, held)
				require.Zero(t, b.used.Load(), "a failed read left bytes charged")
				if errors.Is(err, errDropped) {
					continue
				}
				return
			}
			total := 0
			for _, f := range frames {
				require.LessOrEqual(t, len(f), 1024)
				total += len(f)
			}
			require.LessOrEqual(t, total, 1536)
			if cmd {
				require.Len(t, frames, 1)
				require.Zero(t, held, "commands are not charged")
			} else {
				require.EqualValues(t, total, held, "every byte of a message is charged")
			}
			require.Equal(t, held, b.used.Load())
			b.give(held)
		}
	})
}
