// Package channel is the guest's end of the host: a virtual folder
// (GuestDir) whose files carry the guest protocol's frames both ways, set
// a timeout for the next read, and read the worker's CPU time. Everything
// the guest writes there is untrusted: cell code can open these files too.
package channel

import (
	"bytes"
	"encoding/binary"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasipy/wasipy/interp/internal/guestproto"
	"github.com/wasipy/wasipy/interp/internal/wake"
)

// The guest and the host exchange structured messages (requests, replies,
// display data) over one virtual file, separate from fd 1 and 2 so that
// user output can never be mistaken for a protocol message. The file lives
// at GuestDir/channelName. Each message is a frame: a 4-byte
// big-endian length and that many bytes of JSON.
//
// A second file, deadlineName, sets a timeout for the next read of the
// channel: the guest writes a number of nanoseconds to it, and that read
// fails with EAGAIN when no frame came in time. The guest's asyncio loop
// waits that way for its next timer or the next message, whichever is first.
const (
	// GuestDir is where the worker mounts FS in the guest.
	GuestDir     = "/.wasipy/host"
	channelName  = "channel"
	deadlineName = "deadline"
	cputimeName  = "cputime" // read: the worker's CPU time in ns (see cputime_unix.go)
	imageName    = "image"   // write: the name of an image of itself the guest asks for; read: what became of it

	// maxGuestFrame caps one frame the guest writes: guestproto.MaxFrame,
	// a 256 MiB buffer and a head of up to 1 MiB. A larger length prefix
	// is refused at once (EINVAL), before any byte of it is kept.
	maxGuestFrame = guestproto.MaxFrame
	// maxPartialBytes caps the bytes of unfinished frames held for all the
	// guest's open channel files together. Cell code can open the channel
	// as often as it likes and start a large frame on each; without this
	// budget the worker's Go heap (outside the guest's memory cap) would
	// grow by maxGuestFrame per open file.
	maxPartialBytes = maxGuestFrame + 1<<20
)

// Channel is the host end of that file. Reads block the guest until the
// host has a frame for it: that is how an idle interpreter waits for work
// without spinning.
type Channel struct {
	in chan []byte // payloads for the guest; read() puts the length prefix before each
	// Wake is fired by an interrupt: it ends a sleep in poll_oneoff
	// early.
	Wake *wake.Broadcast
	done chan struct{} // closed when the host shuts the guest down

	// Guest goroutine only.
	prefix  [4]byte
	cur     []byte        // the current frame's payload, whole
	head    []byte        // what is left of the current frame's prefix (in prefix)
	pending []byte        // what is left of its payload
	toNUL   int           // bytes of pending up to the NUL after the message's head, if not read yet
	timeout time.Duration // for the next read; < 0 means none
	partial int           // bytes of unfinished frames held by all writers
	budget  int           // at most this many (maxPartialBytes)

	reading atomic.Bool // the guest is blocked in a read of the channel
	spare   spareBuffer

	imageMu      sync.Mutex
	imageRequest string // see ImageRequest
	imageResult  []byte // see SetImageResult

	onFrame  func(parts [][]byte) // a complete frame written by the guest: see New
	onBlock  func()               // the guest is about to block in a read
	closeOne sync.Once
}

// New returns a channel that hands every complete frame the guest writes
// to onFrame (on the guest's goroutine) and calls onBlock, if set, before
// the guest blocks in a read (the guest counts as waiting already: see
// InterruptWaiting).
//
// onFrame gets the frame's payload in parts (its bytes are the parts one
// after the other), lent for the call only: a part may be the guest's own
// memory, so that a large buffer goes on to the kernel without being
// copied here. onFrame must copy what it keeps.
func New(onFrame func(parts [][]byte), onBlock func()) *Channel {
	c := &Channel{
		in:      make(chan []byte, 64),
		Wake:    wake.New(),
		done:    make(chan struct{}),
		onFrame: onFrame,
		onBlock: onBlock,
		timeout: -1,
		budget:  maxPartialBytes,
	}
	return c
}

// Next is a new channel for the worker's next guest (after a Renew): its
// own queue and framing state, the same callbacks and the same Wake, which
// the worker's clocks and interrupter hold.
func (c *Channel) Next() *Channel {
	n := New(c.onFrame, c.onBlock)
	n.Wake = c.Wake
	return n
}

// ImageRequest is the name the guest last wrote to its image file: the
// image of itself it asks the worker to take (see the worker). Untrusted:
// the worker checks it.
func (c *Channel) ImageRequest() string {
	c.imageMu.Lock()
	defer c.imageMu.Unlock()
	return c.imageRequest
}

// SetImageResult is what the guest reads from its image file next: what
// became of the image it asked for.
func (c *Channel) SetImageResult(b []byte) {
	c.imageMu.Lock()
	defer c.imageMu.Unlock()
	c.imageResult = append([]byte(nil), b...)
}

// Push queues a message for the guest. It blocks while the guest is not
// reading (the queue is small on purpose: the guest handles one at a
// time); it returns false once the channel is closed.
//
// The payload is not copied (a 256 MiB buffer is not doubled here): the
// caller must not change it afterwards.
func (c *Channel) Push(payload []byte) bool {
	select {
	case c.in <- payload:
		return true
	case <-c.done:
		return false
	}
}

// InterruptWaiting tells a guest that waits on the channel (for input, a
// host call, or its event loop's next timer) with an in-band message, so
// that it raises KeyboardInterrupt at a point where no frame can be torn.
// It reports whether the guest was waiting; if not, it is running code (or
// sleeping), which the caller stops with the interrupt flags and wake.
func (c *Channel) InterruptWaiting() bool {
	// A frame already queued is what the guest runs next: the interrupt is
	// for it (the relay acts once its request was handed over), so it
	// must trip the flags rather than wait behind it.
	if !c.reading.Load() || len(c.in) > 0 {
		return false
	}
	select {
	case c.in <- interruptMessage:
		return true
	default:
		// The queue is full, so the guest is about to take a frame and
		// run: the caller trips the flags instead, which it sees then.
		// Never block here: this runs on the interrupt path.
		return false
	}
}

// interruptMessage is the in-band interrupt: the guest raises
// KeyboardInterrupt where it reads it.
var interruptMessage, _ = guestproto.Encode(&guestproto.Message{Type: guestproto.Interrupt})

// Close ends the guest's reads (EOF): the host is gone.
func (c *Channel) Close() { c.closeOne.Do(func() { close(c.done) }) }

func (c *Channel) read(buf []byte) (int, experimentalsys.Errno) {
	timeout := c.timeout
	c.timeout = -1
	if len(c.head) == 0 && len(c.pending) == 0 {
		select {
		case f := <-c.in:
			c.take(f)
		default:
			if timeout == 0 {
				return 0, experimentalsys.EAGAIN
			}
			// Waiting from here on, hook included: an interrupt that comes
			// while onBlock runs (the worker may collect and release memory
			// there, milliseconds) is queued in-band and met by this read,
			// rather than left in the flags for the next cell to trip on.
			c.reading.Store(true)
			defer c.reading.Store(false)
			if c.onBlock != nil {
				c.onBlock()
			}
			var expired <-chan time.Time
			if timeout > 0 {
				t := time.NewTimer(timeout)
				defer t.Stop()
				expired = t.C
			}
			select {
			case f := <-c.in:
				// Running from here on: an interrupt that comes now must
				// trip the flags, not queue behind this frame.
				c.reading.Store(false)
				c.take(f)
			case <-expired:
				return 0, experimentalsys.EAGAIN
			case <-c.done:
				return 0, 0 // EOF: the guest's main loop ends
			}
		}
	}
	// One read may carry the prefix and as much of the payload as fits:
	// the guest reads a large frame's payload straight into its own
	// buffer, in one call, whatever its size.
	//
	// A read that has the message's head ends at the NUL after it, so the
	// guest knows the buffers' lengths before it reads them, and reads
	// each into a bytes object of its own (os.read of its length: no
	// copy in the guest).
	n := copy(buf, c.head)
	c.head = c.head[n:]
	avail := c.pending
	if c.toNUL > 0 {
		avail = avail[:c.toNUL]
	}
	m := copy(buf[n:], avail)
	c.pending = c.pending[m:]
	if c.toNUL > 0 {
		c.toNUL -= m
	}
	if len(c.head) == 0 && len(c.pending) == 0 && c.cur != nil {
		c.spare.put(c.cur) // read whole: the next large frame may reuse it
		c.cur = nil
	}
	return n + m, 0
}

// Buffer returns n bytes to read the next frame for the guest into: a
// large payload the guest has read whole, when one is at hand, so that a
// run of large buffers does not allocate (and zero, and fault in) each.
// Its contents are garbage; Push hands it back.
func (c *Channel) Buffer(n int) []byte { return c.spare.get(n) }

// take makes payload the frame that reads serve next.
func (c *Channel) take(payload []byte) {
	c.cur = payload
	binary.BigEndian.PutUint32(c.prefix[:], uint32(len(payload)))
	c.head = c.prefix[:]
	c.pending = payload
	c.toNUL = bytes.IndexByte(payload, 0) + 1 // 0: no buffers, nothing to stop at
}

// FrameWriter splits the bytes written to one open channel file into
// frames, handed to the channel's onFrame. Each open file has its own, so that cell code which opens the
// channel and leaves half a frame on its descriptor cannot swallow the
// runtime's own frames into it. Everything the guest writes is untrusted:
// a length prefix above maxGuestFrame is refused before anything is
// allocated for it, and bytes are held only as they actually arrive,
// within the channel-wide maxPartialBytes budget.
type FrameWriter struct {
	ch  *Channel
	buf []byte // the unfinished frame, prefix included
}

// Write takes bytes the guest wrote; EINVAL refuses a frame over the
// limits (and forgets it).
//
// Nothing whole is copied: frames that arrive in one write are lent to
// onFrame straight from the guest's memory, and a frame written in pieces
// (a head, then a large buffer: the runtime does not join them) is handed
// on as what was held plus the rest of this write. Only the pieces before
// the last are kept, in w.buf, within the budget.
func (w *FrameWriter) Write(buf []byte) (int, experimentalsys.Errno) {
	c := w.ch
	n := len(buf)
	if len(w.buf) > 0 {
		// Finish the frame this descriptor has begun.
		if len(w.buf) < 4 {
			k := min(4-len(w.buf), len(buf))
			if !w.hold(buf[:k]) {
				return 0, experimentalsys.EINVAL
			}
			buf = buf[k:]
			if len(w.buf) < 4 {
				return n, 0
			}
			if binary.BigEndian.Uint32(w.buf) > maxGuestFrame {
				w.Drop()
				return 0, experimentalsys.EINVAL
			}
		}
		need := 4 + int(binary.BigEndian.Uint32(w.buf)) - len(w.buf)
		if len(buf) < need {
			if !w.hold(buf) {
				return 0, experimentalsys.EINVAL
			}
			return n, 0
		}
		held := w.buf
		w.Drop()
		c.onFrame([][]byte{held[4:], buf[:need]})
		buf = buf[need:]
	}
	for len(buf) >= 4 {
		size := binary.BigEndian.Uint32(buf)
		if size > maxGuestFrame {
			return 0, experimentalsys.EINVAL
		}
		if uint64(len(buf)-4) < uint64(size) {
			break
		}
		end := 4 + int(size)
		c.onFrame([][]byte{buf[4:end]})
		buf = buf[end:]
	}
	if len(buf) > 0 && !w.hold(buf) {
		// The start of the next frame, past the budget.
		return 0, experimentalsys.EINVAL
	}
	return n, 0
}

// hold keeps b as more of the unfinished frame, within the channel's
// budget; past it, the frame is forgotten and hold says false.
func (w *FrameWriter) hold(b []byte) bool {
	c := w.ch
	if c.partial+len(b) > c.budget {
		w.Drop()
		return false
	}
	w.grow(len(b))
	w.buf = append(w.buf, b...)
	c.partial += len(b)
	return true
}

// grow makes room in w.buf for n more bytes. Capacity is never more than
// the announced frame, nor more than twice what will be held, so the
// guest cannot make the worker allocate for bytes it never sends.
func (w *FrameWriter) grow(n int) {
	need := len(w.buf) + n
	if need <= cap(w.buf) {
		return
	}
	target := need
	if len(w.buf) >= 4 {
		if frame := 4 + int(binary.BigEndian.Uint32(w.buf)); frame > need {
			target = min(frame, max(need, 2*cap(w.buf)))
		}
	}
	grown := make([]byte, len(w.buf), target)
	copy(grown, w.buf)
	w.buf = grown
}

// Drop forgets the unfinished frame and returns its bytes to the budget.
func (w *FrameWriter) Drop() {
	w.ch.partial -= len(w.buf)
	w.buf = nil
}

// NewFrameWriter returns the frame splitter of one more open channel file.
func (c *Channel) NewFrameWriter() *FrameWriter { return &FrameWriter{ch: c} }

// FS is the file system to mount at GuestDir: the channel, the deadline
// and the CPU clock.
func (c *Channel) FS() experimentalsys.FS { return &channelFS{ch: c} }

// channelFS holds the files of GuestDir.
type channelFS struct {
	experimentalsys.UnimplementedFS
	ch *Channel
}

func (f *channelFS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	switch path {
	case "", ".":
		return &channelDir{}, 0
	case channelName:
		return &channelFile{ch: f.ch, w: FrameWriter{ch: f.ch}}, 0
	case deadlineName:
		return &deadlineFile{ch: f.ch}, 0
	case cputimeName:
		return &cputimeFile{}, 0
	case imageName:
		return &imageFile{ch: f.ch}, 0
	}
	return nil, experimentalsys.ENOENT
}

func (f *channelFS) Stat(path string) (sys.Stat_t, experimentalsys.Errno) {
	switch path {
	case "", ".":
		return sys.Stat_t{Mode: fs.ModeDir | 0o500, Nlink: 2}, 0
	case channelName, deadlineName, cputimeName, imageName:
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
	return []experimentalsys.Dirent{{Name: channelName, Type: fs.ModeNamedPipe}, {Name: deadlineName, Type: fs.ModeNamedPipe}, {Name: cputimeName, Type: fs.ModeNamedPipe}, {Name: imageName, Type: fs.ModeNamedPipe}}, 0
}

type channelFile struct {
	experimentalsys.UnimplementedFile
	ch *Channel
	w  FrameWriter
}

func (*channelFile) IsDir() (bool, experimentalsys.Errno) { return false, 0 }
func (*channelFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	return sys.Stat_t{Mode: fs.ModeNamedPipe | 0o600, Nlink: 1}, 0
}
func (f *channelFile) Read(buf []byte) (int, experimentalsys.Errno)  { return f.ch.read(buf) }
func (f *channelFile) Write(buf []byte) (int, experimentalsys.Errno) { return f.w.Write(buf) }

// Close forgets an unfinished frame left on this descriptor.
func (f *channelFile) Close() experimentalsys.Errno {
	f.w.Drop()
	return 0
}

// deadlineFile sets the timeout of the next channel read.
type deadlineFile struct {
	experimentalsys.UnimplementedFile
	ch *Channel
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

// spareBuffer keeps one large payload the guest has read, for the next
// large frame (Buffer), and lets it go after spareTTL unused: the worker
// does not sit on 256 MiB because one buffer once crossed.
type spareBuffer struct {
	mu    sync.Mutex
	buf   []byte
	timer *time.Timer
}

const (
	spareMin = 1 << 20 // smaller payloads are cheap to allocate
	spareTTL = 2 * time.Second
)

func (s *spareBuffer) put(b []byte) {
	if cap(b) < spareMin {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cap(b) <= cap(s.buf) {
		return
	}
	s.buf = b
	if s.timer == nil {
		s.timer = time.AfterFunc(spareTTL, s.drop)
	} else {
		s.timer.Reset(spareTTL)
	}
}

func (s *spareBuffer) get(n int) []byte {
	if n >= spareMin {
		s.mu.Lock()
		b := s.buf
		if cap(b) >= n {
			s.buf = nil
			s.mu.Unlock()
			return b[:n]
		}
		s.mu.Unlock()
	}
	return make([]byte, n)
}

func (s *spareBuffer) drop() {
	s.mu.Lock()
	s.buf = nil
	s.mu.Unlock()
}

// maxImageName bounds what the guest may write to its image file.
const maxImageName = 256

// imageFile is how the guest asks for an image of itself (a write: its
// name) and learns what became of it (a read: JSON the worker set).
type imageFile struct {
	experimentalsys.UnimplementedFile
	ch  *Channel
	off int
}

func (*imageFile) IsDir() (bool, experimentalsys.Errno) { return false, 0 }
func (*imageFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	return sys.Stat_t{Mode: fs.ModeNamedPipe | 0o600, Nlink: 1}, 0
}

func (f *imageFile) Write(buf []byte) (int, experimentalsys.Errno) {
	if len(buf) > maxImageName {
		return 0, experimentalsys.EINVAL
	}
	f.ch.imageMu.Lock()
	f.ch.imageRequest = string(buf)
	f.ch.imageMu.Unlock()
	return len(buf), 0
}

func (f *imageFile) Read(buf []byte) (int, experimentalsys.Errno) {
	f.ch.imageMu.Lock()
	defer f.ch.imageMu.Unlock()
	if f.off >= len(f.ch.imageResult) {
		return 0, 0
	}
	n := copy(buf, f.ch.imageResult[f.off:])
	f.off += n
	return n, 0
}
