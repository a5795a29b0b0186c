package zmtp

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

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
