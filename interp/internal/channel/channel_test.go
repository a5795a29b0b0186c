package channel

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

func frameOf(payload []byte) []byte {
	f := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(f, uint32(len(payload)))
	copy(f[4:], payload)
	return f
}

func TestEachChannelFileFramesOnItsOwn(t *testing.T) {
	var got []string
	c := New(func(p [][]byte) { got = append(got, string(bytes.Join(p, nil))) }, nil)
	runtime, cell := c.NewFrameWriter(), c.NewFrameWriter()
	// Cell code leaves half a frame (announcing 1 MiB) on its descriptor...
	_, errno := cell.Write([]byte{0, 0x10, 0, 0, 'x'})
	require.Zero(t, errno)
	// ...and the runtime's frames still arrive whole.
	_, errno = runtime.Write(frameOf([]byte(`{"type":"reply"}`)))
	require.Zero(t, errno)
	require.Equal(t, []string{`{"type":"reply"}`}, got)
	require.Equal(t, 5, c.partial)
	cell.Drop() // as Close does
	require.Zero(t, c.partial)

	// A length prefix over the cap is refused before anything is kept.
	n, errno := cell.Write([]byte{0xff, 0xff, 0xff, 0xff, 'x'})
	require.Equal(t, experimentalsys.EINVAL, errno)
	require.Zero(t, n)
	require.Zero(t, c.partial)
}

func TestPartialFramesShareOneBudget(t *testing.T) {
	c := New(func([][]byte) {}, nil)
	c.budget = 1 << 20 // the same rule as maxPartialBytes, at a test's scale
	hdr := make([]byte, 4)
	binary.BigEndian.PutUint32(hdr, maxGuestFrame)
	chunk := make([]byte, 64<<10)
	fill := func(w *FrameWriter, bytes int) experimentalsys.Errno {
		if _, errno := w.Write(hdr); errno != 0 {
			return errno
		}
		for left := bytes; left > 0; left -= len(chunk) {
			if _, errno := w.Write(chunk[:min(left, len(chunk))]); errno != 0 {
				return errno
			}
		}
		return 0
	}
	a, b := c.NewFrameWriter(), c.NewFrameWriter()
	require.Zero(t, fill(a, c.budget-4-1))
	// A second descriptor cannot hold another large frame at the same time.
	require.Equal(t, experimentalsys.EINVAL, fill(b, 256<<10))
	require.LessOrEqual(t, c.partial, c.budget)
	require.Empty(t, b.buf, "the refused writer's frame is dropped")
	a.Drop()
	b.Drop()
	require.Zero(t, c.partial)
}

func TestChannelFramesBothWays(t *testing.T) {
	var got [][]byte
	c := New(func(p [][]byte) { got = append(got, bytes.Join(p, nil)) }, nil)
	// Guest → host: frames may arrive in pieces and several per write.
	w := c.NewFrameWriter()
	n, errno := w.Write([]byte{0, 0, 0, 2, 'h'})
	require.Zero(t, errno)
	require.Equal(t, 5, n)
	_, _ = w.Write([]byte{'i', 0, 0, 0, 1, '!'})
	require.Equal(t, [][]byte{[]byte("hi"), []byte("!")}, got)

	// Host → guest, with a deadline that expires first.
	c.timeout = 10 * time.Millisecond
	buf := make([]byte, 16)
	_, errno = c.read(buf)
	require.NotZero(t, errno, "EAGAIN when nothing came in time")
	require.True(t, c.Push([]byte("yo")))
	n, errno = c.read(buf)
	require.Zero(t, errno)
	require.Equal(t, []byte{0, 0, 0, 2, 'y', 'o'}, buf[:n])
	c.Close()
	n, errno = c.read(buf)
	require.Zero(t, errno)
	require.Zero(t, n, "EOF once the host closed the channel")
}

// FuzzFrameWriter feeds arbitrary bytes, cut into arbitrary writes, to the
// frame splitter. Whatever the guest writes: no panic, no frame bigger
// than what was written, the partial-frame budget kept, and given back
// when the file is closed.
func FuzzFrameWriter(f *testing.F) {
	f.Add(frameOf([]byte(`{"type":"reply","id":42}`)), uint8(3))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'x'}, uint8(1))
	f.Add([]byte{0, 0, 0}, uint8(2))
	f.Add([]byte{0, 0, 0x10, 0, 'x', 'y'}, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		total := 0
		c := New(func(parts [][]byte) {
			total += 4
			for _, p := range parts {
				total += len(p)
			}
		}, nil)
		c.budget = 1 << 10 // small, so that fuzz inputs reach it
		w := c.NewFrameWriter()
		step := int(cut)%17 + 1
		for i := 0; i < len(data); i += step {
			end := min(i+step, len(data))
			n, errno := w.Write(data[i:end])
			if errno == 0 && n != end-i {
				t.Fatalf("short write %d of %d without an error", n, end-i)
			}
			if c.partial != len(w.buf) || c.partial > c.budget {
				t.Fatalf("partial bytes %d, writer holds %d (budget %d)", c.partial, len(w.buf), c.budget)
			}
			if total > end {
				t.Fatalf("frames of %d bytes from %d written", total, end)
			}
		}
		w.Drop()
		if c.partial != 0 {
			t.Fatalf("budget not given back: %d", c.partial)
		}
	})
}

// Promise: a read that reaches a message's head ends at the NUL after it,
// and the next read can take a whole buffer at once, so the guest reads
// each buffer into a bytes object of its own length.
func TestReadsStopAfterTheHead(t *testing.T) {
	c := New(func([][]byte) {}, nil)
	buffer := make([]byte, 300<<10)
	for i := range buffer {
		buffer[i] = byte(i%251) + 1
	}
	payload := append([]byte(`{"type":"py_eval","buffer_lengths":[307200]}`+"\x00"), buffer...)
	require.True(t, c.Push(payload))
	big := make([]byte, 1<<20)
	n, errno := c.read(big)
	require.Zero(t, errno)
	head := 4 + bytes.IndexByte(payload, 0) + 1
	require.Equal(t, head, n, "the first read ends at the NUL")
	require.Equal(t, uint32(len(payload)), binary.BigEndian.Uint32(big))
	n, errno = c.read(big)
	require.Zero(t, errno)
	require.Equal(t, buffer, big[:n], "the buffer in one read")

	// Without buffers (no NUL) a frame is served as it comes.
	require.True(t, c.Push([]byte(`{"type":"interrupt"}`)))
	n, _ = c.read(big)
	require.Equal(t, 4+len(`{"type":"interrupt"}`), n)
}

// Promise: the guest cannot make the worker allocate for bytes it never
// sends. A prefix over the cap is refused (EINVAL) before anything is
// kept; one that announces the largest frame and sends a few bytes holds
// only about what came, on as many descriptors as the guest opens.
func TestAnnouncementsCostNothingUntilBytesArrive(t *testing.T) {
	c := New(func([][]byte) { t.Fatal("no frame is whole") }, nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	over := make([]byte, 4)
	binary.BigEndian.PutUint32(over, maxGuestFrame+1)
	w := c.NewFrameWriter()
	_, errno := w.Write(over)
	require.Equal(t, experimentalsys.EINVAL, errno)
	lie := make([]byte, 4+10)
	binary.BigEndian.PutUint32(lie, maxGuestFrame)
	for range 100 {
		w := c.NewFrameWriter()
		_, errno := w.Write(lie[:4])
		require.Zero(t, errno)
		for range 3 {
			_, errno = w.Write(lie[4:])
			require.Zero(t, errno)
		}
	}
	runtime.ReadMemStats(&after)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20),
		"100 lying 256 MiB announcements with 30 bytes each allocated that much")
	require.Equal(t, 100*34, c.partial)
}

// Promise: a large payload the guest has read whole is reused for the
// next large frame (Buffer), never one still being read, never a small
// one; and it is let go when unused (drop, which spareTTL's timer runs).
func TestLargePayloadsAreReused(t *testing.T) {
	c := New(func([][]byte) {}, nil)
	first := c.Buffer(spareMin + 10)
	require.True(t, c.Push(first))
	buf := make([]byte, spareMin/2)
	_, _ = c.read(buf)
	require.NotSame(t, &first[0], &c.Buffer(spareMin)[0], "still being read: not reused")
	for c.read(buf); len(c.pending) > 0; c.read(buf) {
	}
	again := c.Buffer(spareMin)
	require.Same(t, &first[0], &again[0], "read whole: reused")
	require.Len(t, again, spareMin)
	require.NotSame(t, &first[0], &c.Buffer(spareMin)[0], "handed out once only")

	small := c.Buffer(100)
	require.True(t, c.Push(small))
	for c.read(buf); len(c.pending) > 0; c.read(buf) {
	}
	require.Nil(t, c.spare.buf, "small payloads are not kept")

	c.spare.put(make([]byte, spareMin))
	c.spare.drop()
	require.Nil(t, c.spare.buf)
}

func TestInterruptDuringTheBlockHookIsMetByTheRead(t *testing.T) {
	// The worker collects and releases memory in onBlock (milliseconds).
	// An interrupt that comes then finds the guest waiting: it goes in-band
	// to this read, and no flag is left for the next cell to trip on.
	var c *Channel
	inBand := false
	c = New(func([][]byte) {}, func() { inBand = c.InterruptWaiting() })
	buf := make([]byte, 64)
	c.timeout = 5 * time.Second // a lost interrupt fails here, not hangs
	n, errno := c.read(buf)
	require.Zero(t, errno)
	require.True(t, inBand, "the guest counts as waiting while the hook runs")
	require.Equal(t, frameOf(interruptMessage), buf[:n], "the read meets the interrupt")
}
