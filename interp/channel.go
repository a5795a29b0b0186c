package interp

import (
	"encoding/binary"
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
)

// The guest and the host exchange structured messages (requests, replies,
// display data) over one virtual file, separate from fd 1 and 2 so that
// user output can never be mistaken for a protocol message. The file lives
// at channelGuestDir/channelName. Each message is a frame: a 4-byte
// big-endian length and that many bytes of JSON.
//
// A second file, deadlineName, sets a timeout for the next read of the
// channel: the guest writes a number of nanoseconds to it, and that read
// fails with EAGAIN when no frame came in time. The guest's asyncio loop
// waits that way for its next timer or the next message, whichever is first.
const (
	channelGuestDir = "/.wasipy/host"
	channelName     = "channel"
	deadlineName    = "deadline"
	cputimeName     = "cputime" // read: the worker's CPU time in ns (see clock.go)

	// maxGuestFrame caps one frame the guest writes. A larger length
	// prefix is refused at once (EINVAL), before any byte of it is kept.
	maxGuestFrame = 256 << 20
	// maxPartialBytes caps the bytes of unfinished frames held for all the
	// guest's open channel files together. Cell code can open the channel
	// as often as it likes and start a large frame on each; without this
	// budget the worker's Go heap (outside the guest's memory cap) would
	// grow by maxGuestFrame per open file.
	maxPartialBytes = maxGuestFrame + 1<<20
)

// channel is the host end of that file. Reads block the guest until the
// host has a frame for it: that is how an idle interpreter waits for work
// without spinning.
type channel struct {
	in   chan []byte   // frames for the guest, already length-prefixed
	wake *broadcast    // an interrupt: ends a sleep in poll_oneoff early
	done chan struct{} // closed when the host shuts the guest down

	// Guest goroutine only.
	pending []byte
	timeout time.Duration // for the next read; < 0 means none
	partial int           // bytes of unfinished frames held by all writers
	budget  int           // at most this many (maxPartialBytes)
	w0      frameWriter   // the writer of c.write (tests)

	reading atomic.Bool // the guest is blocked in a read of the channel

	onFrame  func(payload []byte) // a complete frame written by the guest
	onBlock  func()               // the guest is about to block in a read
	closeOne sync.Once
}

func newChannel(onFrame func([]byte), onBlock func()) *channel {
	c := &channel{
		in:      make(chan []byte, 64),
		wake:    newBroadcast(),
		done:    make(chan struct{}),
		onFrame: onFrame,
		onBlock: onBlock,
		timeout: -1,
		budget:  maxPartialBytes,
	}
	c.w0.ch = c
	return c
}

// push queues a message for the guest. It blocks while the guest is not
// reading (the queue is small on purpose: the guest handles one at a time).
func (c *channel) push(payload []byte) bool {
	frame := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(frame, uint32(len(payload)))
	copy(frame[4:], payload)
	select {
	case c.in <- frame:
		return true
	case <-c.done:
		return false
	}
}

// interruptWaiting tells a guest that waits on the channel (for input, a
// host call, or its event loop's next timer) with an in-band message, so
// that it raises KeyboardInterrupt at a point where no frame can be torn.
// It reports whether the guest was waiting; if not, it is running code (or
// sleeping), which the caller stops with the interrupt flags and wake.
func (c *channel) interruptWaiting() bool {
	if !c.reading.Load() {
		return false
	}
	frame := make([]byte, 4+len(interruptMessage))
	binary.BigEndian.PutUint32(frame, uint32(len(interruptMessage)))
	copy(frame[4:], interruptMessage)
	select {
	case c.in <- frame:
		return true
	default:
		// The queue is full, so the guest is about to take a frame and
		// run: the caller trips the flags instead, which it sees then.
		// Never block here: this runs on the interrupt path.
		return false
	}
}

var interruptMessage = []byte(`{"type":"interrupt"}`)

func (c *channel) close() { c.closeOne.Do(func() { close(c.done) }) }

func (c *channel) read(buf []byte) (int, experimentalsys.Errno) {
	timeout := c.timeout
	c.timeout = -1
	if len(c.pending) == 0 {
		select {
		case f := <-c.in:
			c.pending = f
		default:
			if timeout == 0 {
				return 0, experimentalsys.EAGAIN
			}
			if c.onBlock != nil {
				c.onBlock()
			}
			var expired <-chan time.Time
			if timeout > 0 {
				t := time.NewTimer(timeout)
				defer t.Stop()
				expired = t.C
			}
			c.reading.Store(true)
			defer c.reading.Store(false)
			select {
			case f := <-c.in:
				c.pending = f
			case <-expired:
				return 0, experimentalsys.EAGAIN
			case <-c.done:
				return 0, 0 // EOF: the guest's main loop ends
			}
		}
	}
	n := copy(buf, c.pending)
	c.pending = c.pending[n:]
	return n, 0
}

// write splits bytes the guest wrote through the channel file of the tests
// (every file the guest opens has its own frameWriter).
func (c *channel) write(buf []byte) (int, experimentalsys.Errno) { return c.w0.write(buf) }

// frameWriter splits the bytes written to one open channel file into
// frames. Each open file has its own, so that cell code which opens the
// channel and leaves half a frame on its descriptor cannot swallow the
// runtime's own frames into it. Everything the guest writes is untrusted:
// a length prefix above maxGuestFrame is refused before anything is
// allocated for it, and bytes are held only as they actually arrive,
// within the channel-wide maxPartialBytes budget.
type frameWriter struct {
	ch  *channel
	buf []byte // the unfinished frame, prefix included
}

func (w *frameWriter) write(buf []byte) (int, experimentalsys.Errno) {
	c := w.ch
	data := buf
	if len(w.buf) > 0 {
		if c.partial+len(buf) > c.budget {
			w.drop()
			return 0, experimentalsys.EINVAL
		}
		w.buf = append(w.buf, buf...)
		c.partial += len(buf)
		data = w.buf
	}
	for len(data) >= 4 {
		size := binary.BigEndian.Uint32(data)
		if size > maxGuestFrame {
			w.drop()
			return 0, experimentalsys.EINVAL
		}
		if uint64(len(data)-4) < uint64(size) {
			break
		}
		payload := make([]byte, size)
		copy(payload, data[4:4+size])
		data = data[4+size:]
		c.onFrame(payload)
	}
	switch {
	case len(data) == 0:
		w.drop()
	case len(w.buf) == 0:
		// Frames came whole and a piece of the next one is left: keep it.
		if c.partial+len(data) > c.budget {
			return 0, experimentalsys.EINVAL
		}
		w.buf = append([]byte(nil), data...)
		c.partial += len(data)
	default:
		// Slide the unfinished frame to the front; let a large buffer go.
		c.partial -= len(w.buf) - len(data)
		w.buf = append(w.buf[:0:0], data...)
	}
	return len(buf), 0
}

// drop forgets the unfinished frame and returns its bytes to the budget.
func (w *frameWriter) drop() {
	w.ch.partial -= len(w.buf)
	w.buf = nil
}

// channelFS is the read-write file system mounted at channelGuestDir. It
// holds the one file, channelName.
type channelFS struct {
	experimentalsys.UnimplementedFS
	ch *channel
}

func (f *channelFS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	switch path {
	case "", ".":
		return &channelDir{}, 0
	case channelName:
		return &channelFile{ch: f.ch, w: frameWriter{ch: f.ch}}, 0
	case deadlineName:
		return &deadlineFile{ch: f.ch}, 0
	case cputimeName:
		return &cputimeFile{}, 0
	}
	return nil, experimentalsys.ENOENT
}

func (f *channelFS) Stat(path string) (sys.Stat_t, experimentalsys.Errno) {
	switch path {
	case "", ".":
		return sys.Stat_t{Mode: fs.ModeDir | 0o500, Nlink: 2}, 0
	case channelName, deadlineName, cputimeName:
		return sys.Stat_t{Mode: fs.ModeNamedPipe | 0o600, Nlink: 1}, 0
	}
	return sys.Stat_t{}, experimentalsys.ENOENT
}

func (f *channelFS) Lstat(path string) (sys.Stat_t, experimentalsys.Errno) { return f.Stat(path) }

type channelDir struct {
	experimentalsys.UnimplementedFile
}

func (*channelDir) IsDir() (bool, experimentalsys.Errno) { return true, 0 }
func (*channelDir) Stat() (sys.Stat_t, experimentalsys.Errno) {
	return sys.Stat_t{Mode: fs.ModeDir | 0o500, Nlink: 2}, 0
}
func (*channelDir) Readdir(int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	return []experimentalsys.Dirent{{Name: channelName, Type: fs.ModeNamedPipe}, {Name: deadlineName, Type: fs.ModeNamedPipe}, {Name: cputimeName, Type: fs.ModeNamedPipe}}, 0
}

type channelFile struct {
	experimentalsys.UnimplementedFile
	ch *channel
	w  frameWriter
}

func (*channelFile) IsDir() (bool, experimentalsys.Errno) { return false, 0 }
func (*channelFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	return sys.Stat_t{Mode: fs.ModeNamedPipe | 0o600, Nlink: 1}, 0
}
func (f *channelFile) Read(buf []byte) (int, experimentalsys.Errno)  { return f.ch.read(buf) }
func (f *channelFile) Write(buf []byte) (int, experimentalsys.Errno) { return f.w.write(buf) }

// Close forgets an unfinished frame left on this descriptor.
func (f *channelFile) Close() experimentalsys.Errno {
	f.w.drop()
	return 0
}

// broadcast wakes everyone waiting at the time it fires, and nobody later:
// an interrupt must not cut short a sleep that starts after it.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func newBroadcast() *broadcast { return &broadcast{ch: make(chan struct{})} }

// wait returns a channel closed at the next fire.
func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *broadcast) fire() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}

// deadlineFile sets the timeout of the next channel read.
type deadlineFile struct {
	experimentalsys.UnimplementedFile
	ch *channel
}

func (*deadlineFile) IsDir() (bool, experimentalsys.Errno) { return false, 0 }
func (*deadlineFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	return sys.Stat_t{Mode: fs.ModeNamedPipe | 0o200, Nlink: 1}, 0
}
func (f *deadlineFile) Write(buf []byte) (int, experimentalsys.Errno) {
	ns, err := strconv.ParseInt(strings.TrimSpace(string(buf)), 10, 64)
	if err != nil {
		return 0, experimentalsys.EINVAL
	}
	f.ch.timeout = time.Duration(ns)
	if ns < 0 {
		f.ch.timeout = -1
	}
	return len(buf), 0
}

// cputimeFile reads as the worker's CPU time in nanoseconds, in decimal,
// afresh at every pread at offset 0. wasi-libc has no CPU clock (its
// times() is the monotonic clock), so time.process_time() reads this.
type cputimeFile struct {
	experimentalsys.UnimplementedFile
}

func (*cputimeFile) IsDir() (bool, experimentalsys.Errno) { return false, 0 }
func (*cputimeFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	return sys.Stat_t{Mode: fs.ModeNamedPipe | 0o400, Nlink: 1}, 0
}
func (*cputimeFile) Pread(buf []byte, off int64) (int, experimentalsys.Errno) {
	s := strconv.FormatInt(processCPUTime(), 10)
	if off >= int64(len(s)) {
		return 0, 0
	}
	return copy(buf, s[off:]), 0
}
func (f *cputimeFile) Read(buf []byte) (int, experimentalsys.Errno) { return f.Pread(buf, 0) }

// dropLog reports frames of the guest that were dropped or refused. Cell
// code decides how many there are, so the log is rate-limited: at most
// dropLogBurst lines per dropLogEvery, then one line that says how many
// more were dropped meanwhile. Counts are kept for tests.
type dropLog struct {
	log *slog.Logger

	mu         sync.Mutex
	windowFrom time.Time
	inWindow   int
	suppressed int
	total      int
}

const (
	dropLogBurst = 10
	dropLogEvery = time.Second
)

func newDropLog(w io.Writer) *dropLog {
	h := slog.Handler(slog.DiscardHandler)
	if w != nil {
		h = slog.NewTextHandler(w, nil)
	}
	return &dropLog{log: slog.New(h).With("component", "interpreter channel")}
}

func (d *dropLog) drop(what string, args ...any) {
	d.mu.Lock()
	d.total++
	now := time.Now()
	if now.Sub(d.windowFrom) >= dropLogEvery {
		if d.suppressed > 0 {
			d.log.Warn("more guest frames dropped", "count", d.suppressed)
		}
		d.windowFrom, d.inWindow, d.suppressed = now, 0, 0
	}
	if d.inWindow >= dropLogBurst {
		d.suppressed++
		d.mu.Unlock()
		return
	}
	d.inWindow++
	d.mu.Unlock()
	d.log.Warn("guest frame dropped: "+what, args...)
}

// dropped is how many frames were dropped so far.
func (d *dropLog) dropped() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.total
}

// interruptFD is the worker's end of the interrupt pipe (Start passes it as
// the first of cmd.ExtraFiles).
const interruptFD = 3

// interruptRelay applies interrupts in the worker. Each interrupt names the
// number of the host's last request frame sent before it; the interrupt
// acts once that many message frames have reached the guest's queue, so it
// never overtakes the request it is meant for (it travels on another
// pipe). It never waits: act does not block, and a deferred interrupt is
// applied by the stdin relay as the frame arrives.
type interruptRelay struct {
	act func()

	mu      sync.Mutex
	count   uint64 // message frames handed to the guest's queue
	pending uint64 // an interrupt waiting for frame number pending
}

func (r *interruptRelay) delivered() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count++
	if r.pending != 0 && r.count >= r.pending {
		r.pending = 0
		r.act()
	}
}

func (r *interruptRelay) interrupt(after uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count >= after {
		r.act()
	} else if after > r.pending {
		r.pending = after
	}
}

// serve reads interrupts (8-byte big-endian frame numbers) until the
// kernel closes the pipe.
func (r *interruptRelay) serve(in io.Reader) {
	var b [8]byte
	for {
		if _, err := io.ReadFull(in, b[:]); err != nil {
			return
		}
		r.interrupt(binary.BigEndian.Uint64(b[:]))
	}
}
