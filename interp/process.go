package interp

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wasipy/wasipy/interp/internal/codecache"
	"github.com/wasipy/wasipy/interp/internal/guestproto"
	"github.com/wasipy/wasipy/interp/internal/pipe"
	"github.com/wasipy/wasipy/interp/internal/worker"
)

// Event is something the guest produced while running a request, or in the
// background: "stream" (content {name, text}) or a message the guest shaped
// itself ("execute_result", "display_data", "error", "clear_output", ...).
type Event struct {
	Type    string
	Content json.RawMessage
	// ParentID, when set, names the request the event belongs to (the
	// parent_id given with that request): output of an asyncio task that
	// an earlier cell started.
	ParentID string
	Buffers  [][]byte
	Metadata json.RawMessage
}

// Payload is a request's content with binary buffers and metadata, for
// Call: the buffers cross as raw bytes, without base64.
type Payload struct {
	Content  any
	Metadata any
	Buffers  [][]byte
}

// HostHandler answers a request the guest makes of the host (input(),
// calls into Go). It runs on its own goroutine; the guest waits for the
// answer (or, for async calls, goes on and is told later).
type HostHandler func(ctx context.Context, method string, content json.RawMessage, buffers [][]byte) (result any, resultBuffers [][]byte, err error)

// ErrExited is returned by Call when the interpreter ends during the call.
var ErrExited = errors.New("the interpreter exited")

// ExitError says how the interpreter ended.
type ExitError struct {
	Code   uint32
	Reason string
	// Signal names the signal that killed the worker process (kill -9,
	// the OOM killer), if one did.
	Signal string
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return "the interpreter's process was killed (" + e.Signal + ")"
	}
	if e.Reason != "" {
		return fmt.Sprintf("the interpreter exited (code %d): %s", e.Code, e.Reason)
	}
	return fmt.Sprintf("the interpreter exited with code %d", e.Code)
}

func (e *ExitError) Unwrap() error { return ErrExited }

// Limits of the guest → kernel message path. Cell code can open the
// channel file and write any frame the runtime could, so none of these
// may depend on the guest behaving.
const (
	// maxHostRequests is how many host_requests of the guest may be in
	// flight at once: being answered, or answered with the answer not yet
	// handed to the worker (the guest is not reading). A request beyond
	// it is answered at once with an error (HostError: too many ...).
	maxHostRequests = 256
	// maxRefusals is how many of those error answers may wait for the
	// guest to read them; a request beyond both limits is dropped and
	// logged, and its sender waits (until interrupted) for nothing.
	maxRefusals = 256
)

// Process is a running interpreter in a worker process.
type Process struct {
	cmd   *exec.Cmd
	hello json.RawMessage // what the guest said when it started
	start StartInfo       // how it started (set before hello arrives)
	log   *dropLog

	stdin io.WriteCloser
	// Everything for the worker's stdin goes through outq, written by
	// writeLoop alone: when the guest stops reading the channel, that
	// goroutine blocks and nobody else does. Interrupts do not queue
	// behind it: they have a pipe of their own (intrW).
	outMu    sync.Mutex
	outCond  *sync.Cond
	outq     []outFrame
	outErr   error  // the worker's stdin failed; nothing more is sent
	outSeq   uint64 // message frames queued so far
	written  uint64 // message frames written so far (the next Process of a Renew numbers on from it)
	lastReq  uint64 // outSeq of the last request (roundTrip) queued
	hostBusy int    // host requests in flight (see maxHostRequests)
	refusals int    // error answers for refused host requests, queued
	intrMu   sync.Mutex
	intrW    *os.File // the interrupt pipe (the worker's fd 3)

	callMu sync.Mutex // one request at a time: the guest is single-threaded

	mu          sync.Mutex
	current     *call              // the outermost call: its events sink gets output
	calls       map[int64]*call    // calls waiting for their reply, nested ones too
	abandoned   map[int64]struct{} // calls whose caller gave up (see abandon)
	handles     handleTable        // Go values Python holds handles on
	modules     map[string]*Module
	converter   Converter // see SetConverter
	streams     Streams   // see SetStreams
	hasStdin    bool      // SetStdin was called
	stdinMu     sync.Mutex
	stdinReader io.Reader // see SetStdin; guarded by stdinMu
	background  func(Event)
	host        HostHandler
	hostCtx     context.Context
	hostCancel  context.CancelFunc

	exited  chan struct{}
	exitErr *ExitError

	writerDone chan struct{}          // closed when writeLoop has returned
	next       *Process               // the interpreter Renew is replacing this one with
	nextHello  chan<- json.RawMessage // where the next one's hello goes
	renewed    bool                   // Renew handed the worker on: Close must not end it
	cfg        Config                 // what it was started with
}

type call struct {
	id     int64
	events func(Event)
	reply  chan *guestproto.Message // buffered 1; only the reply that removes the call from calls sends
}

// outFrame is one frame queued for the worker's stdin; sent, if set, runs
// once it was written (or discarded because the worker is gone).
type outFrame struct {
	kind  byte
	parts [][]byte // the payload, written one part after the other
	sent  func()
}

// Start launches a worker and waits until the interpreter has started and
// said hello.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	exe := cfg.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(cfg.PythonWasm); err != nil {
		return nil, fmt.Errorf("python.wasm: %w", err)
	}
	if cfg.prepareInto == "" && cfg.CacheDir != "" && !codecache.PycacheReady(pycacheDir(cfg)) {
		// Once per runtime version: compile the runtime's bytecode (and
		// warm the module cache) in a worker of its own.
		if err := Prepare(ctx, cfg); err != nil && cfg.Stderr != nil {
			fmt.Fprintln(cfg.Stderr, "wasipy: runtime bytecode not cached:", err)
		}
	}
	raw, err := json.Marshal(workerConfig(cfg))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), worker.EnvVar+"="+string(raw))
	if cfg.Stderr != nil {
		cmd.Stderr = cfg.Stderr
	}
	tieToParent(cmd)
	// The pipes are made here, not with StdinPipe, to reach their files:
	// both get 1 MiB buffers, so large buffers cross in few wake-ups.
	stdinR, stdin, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdin = stdinR
	pipe.Enlarge(stdin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stdinR.Close()
		stdin.Close()
		return nil, err
	}
	if f, ok := stdout.(*os.File); ok {
		pipe.Enlarge(f)
	}
	// The interrupt pipe is the worker's fd 3 and the quota's counters its
	// fd 4 (worker.InterruptFD, worker.QuotaFD): the order of ExtraFiles.
	intrR, intrW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdin.Close()
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{intrR}
	if cfg.DiskQuota != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, cfg.DiskQuota.File())
	}
	if err := cmd.Start(); err != nil {
		intrR.Close()
		intrW.Close()
		stdinR.Close()
		stdin.Close()
		return nil, fmt.Errorf("start interpreter worker: %w", err)
	}
	stdinR.Close() // the worker's copy is the one that counts
	intrR.Close()
	p := &Process{cmd: cmd, stdin: stdin, intrW: intrW, exited: make(chan struct{}), writerDone: make(chan struct{}), calls: map[int64]*call{}, modules: map[string]*Module{}}
	p.log = newDropLog(cfg.Stderr)
	p.outCond = sync.NewCond(&p.outMu)
	go p.writeLoop()
	for _, m := range cfg.Modules {
		p.modules[m.Name] = m
	}
	p.hostCtx, p.hostCancel = context.WithCancel(context.Background())
	hello := make(chan json.RawMessage, 1)
	go p.readLoop(stdout, hello)
	p.cfg = cfg
	return p.awaitHello(ctx, hello)
}

// awaitHello waits for the interpreter's hello, then registers the Go
// modules with it.
func (p *Process) awaitHello(ctx context.Context, hello <-chan json.RawMessage) (*Process, error) {
	select {
	case h := <-hello:
		if err := guestproto.CheckHello(h); err != nil {
			p.Close()
			return nil, err
		}
		var fields map[string]json.RawMessage
		if json.Unmarshal(h, &fields) != nil || fields == nil {
			p.Close()
			return nil, fmt.Errorf("interpreter hello: not a JSON object: %.100q", h)
		}
		p.hello = h
		if p.start.ImageMissing && !p.cfg.prepareImage {
			rebuildImage(p.cfg)
		}
		if len(p.modules) > 0 {
			if _, err := p.Call(ctx, string(guestproto.FFIModules), p.moduleList(), nil); err != nil {
				p.Close()
				return nil, fmt.Errorf("registering Go modules: %w", err)
			}
		}
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("interpreter failed to start: %w", p.exitErr)
	case <-ctx.Done():
		p.Close()
		return nil, ctx.Err()
	}
}

// ErrBusy is Renew's answer while the interpreter runs a request.
var ErrBusy = errors.New("the interpreter is busy")

// Renew replaces the interpreter with a fresh one in the same worker
// process, and returns it; p ends (its Done closes, Err says it was
// replaced). The worker has compiled python.wasm already, so the fresh
// interpreter costs a restore from the image (or CPython's init, without
// one): a restart takes milliseconds instead of a new process's start.
//
// Only an idle interpreter can be renewed (ErrBusy otherwise: one that
// runs code may never give the worker back; Close and Start a new one).
// If the fresh one has not said hello within ctx, the worker is ended and
// ctx's error returned. Settings made on p (converter, streams, stdin,
// handlers, Go modules) carry over.
func (p *Process) Renew(ctx context.Context) (*Process, error) {
	select {
	case <-p.exited:
		return nil, fmt.Errorf("interpreter already ended: %w", p.exitErr)
	default:
	}
	if !p.callMu.TryLock() { // a request runs; none may start meanwhile
		return nil, ErrBusy
	}
	defer p.callMu.Unlock()
	p.mu.Lock()
	if p.current != nil || len(p.calls) > 0 || p.next != nil {
		p.mu.Unlock()
		return nil, ErrBusy
	}
	n := &Process{cmd: p.cmd, stdin: p.stdin, intrW: p.intrW, log: p.log, cfg: p.cfg,
		exited: make(chan struct{}), writerDone: make(chan struct{}),
		calls: map[int64]*call{}, modules: map[string]*Module{},
		converter: p.converter, streams: p.streams, hasStdin: p.hasStdin,
		background: p.background, host: p.host}
	for name, m := range p.modules {
		n.modules[name] = m
	}
	p.stdinMu.Lock()
	n.stdinReader = p.stdinReader
	p.stdinMu.Unlock()
	n.outCond = sync.NewCond(&n.outMu)
	n.hostCtx, n.hostCancel = context.WithCancel(context.Background())
	hello := make(chan json.RawMessage, 1)
	p.next, p.nextHello = n, hello
	p.renewed = true
	p.mu.Unlock()
	// The Renew frame is p's writer's last: after it, the next one's
	// writer takes the pipe over.
	if err := p.queue(pipe.Renew, nil, func() {
		p.outMu.Lock()
		if p.outErr == nil {
			p.outErr = errRenewed
		}
		p.outCond.Broadcast()
		p.outMu.Unlock()
	}, false); err != nil {
		p.mu.Lock()
		p.next, p.nextHello, p.renewed = nil, nil, false
		p.mu.Unlock()
		return nil, err
	}
	go func() {
		<-p.writerDone
		// Interrupts name request frames by their number in the worker's
		// life (interrupt.Relay counts every message frame it was handed):
		// the next Process numbers on from the frames p wrote, including
		// for any it queued already.
		p.outMu.Lock()
		written := p.written
		p.outMu.Unlock()
		n.outMu.Lock()
		n.outSeq += written
		if n.lastReq != 0 {
			n.lastReq += written
		}
		n.outMu.Unlock()
		n.writeLoop()
	}()
	p.hostCancel()
	return n.awaitHello(ctx, hello)
}

var errRenewed = errors.New("the interpreter was replaced by a fresh one")

// StartInfo says how the interpreter started: from an image or from
// scratch (and why), and how long its phases took.
func (p *Process) StartInfo() StartInfo { return p.start }

// Hello is what the guest said when it started, a JSON object: the
// runtime describes its language there (name, version, ...).
func (p *Process) Hello() json.RawMessage { return p.hello }

// Done is closed when the interpreter has ended.
func (p *Process) Done() <-chan struct{} { return p.exited }

// SetBackground sets where events go that arrive while no call runs
// (output of code the guest runs between requests).
func (p *Process) SetBackground(f func(Event)) {
	p.mu.Lock()
	p.background = f
	p.mu.Unlock()
}

// SetHostHandler sets who answers the guest's requests of the host.
func (p *Process) SetHostHandler(h HostHandler) {
	p.mu.Lock()
	p.host = h
	p.mu.Unlock()
}

// Call sends a request of the guest protocol and waits for its reply,
// handing every event the request produces to events, in order.
func (p *Process) Call(ctx context.Context, typ string, content any, events func(Event)) (json.RawMessage, error) {
	p.callMu.Lock()
	defer p.callMu.Unlock()
	raw, _, err := p.roundTrip(ctx, typ, content, events, true)
	return raw, err
}

// CallAlongside sends a request that may have to be served while another
// request runs (a debugger's request while a cell is stopped at a
// breakpoint). With no request running it is Call. Otherwise the guest
// reads it the next time it waits on the channel: at once when stopped at
// a breakpoint, else in input() or an awaited Go call, and at the latest
// when the running request ends. Its events go where the running
// request's go; it never delays an interrupt of the running request.
func (p *Process) CallAlongside(ctx context.Context, typ string, content any) (json.RawMessage, error) {
	if p.callMu.TryLock() {
		defer p.callMu.Unlock()
		raw, _, err := p.exchange(ctx, typ, content, nil, true, true, nil, nil)
		return raw, err
	}
	raw, _, err := p.exchange(ctx, typ, content, nil, false, false, nil, nil)
	return raw, err
}

// RingAlongside is CallAlongside for a request that must be read while
// the running request goes on without reading the channel (a debugger's
// pause of a running cell): after sending it, it interrupts the guest,
// ordered after the request. The guest's runtime takes that interrupt as a
// ring, reads the request and goes on; it raises no KeyboardInterrupt.
func (p *Process) RingAlongside(ctx context.Context, typ string, content any) (json.RawMessage, error) {
	if p.callMu.TryLock() {
		defer p.callMu.Unlock()
		raw, _, err := p.exchange(ctx, typ, content, nil, true, true, nil, nil)
		return raw, err
	}
	// Ordered: the ring must not overtake the request it rings for. The
	// guest has at most this one request of ours unread (the kernel sends
	// debug requests one at a time), so the worker's queue has room for
	// it and the ring, and with it any later interrupt, is not held up.
	raw, _, err := p.exchange(ctx, typ, content, nil, false, true, p.ring, nil)
	return raw, err
}

// ring interrupts the guest once the request just queued reached it.
func (p *Process) ring() {
	if err := p.Interrupt(); err != nil {
		p.log.drop("cannot ring the guest", "err", err)
	}
}

// roundTrip sends one request and waits for its reply. outermost says
// whether the request's events go to its own sink (a request from the
// kernel) or to the running request's (a nested call from a Func).
func (p *Process) roundTrip(ctx context.Context, typ string, content any, events func(Event), outermost bool) (json.RawMessage, [][]byte, error) {
	return p.roundTripWith(ctx, typ, content, events, outermost, nil)
}

// roundTripWith is roundTrip telling onID the request's id before it is
// sent (py_await needs it to cancel the request).
func (p *Process) roundTripWith(ctx context.Context, typ string, content any, events func(Event), outermost bool, onID func(int64)) (json.RawMessage, [][]byte, error) {
	// Only the outermost requests (cells) are what an interrupt targets: a
	// call from Go queued behind a spinning cell must not hold back the
	// interrupt that would free it (see Interrupt).
	return p.exchange(ctx, typ, content, events, outermost, outermost, nil, onID)
}

// exchange sends one request and waits for its reply. ordered says whether
// a later interrupt waits until this request reached the guest (see
// Interrupt). A request sent alongside a running one is not: the guest may
// not read it until that one ends, and the interrupt that ends it must not
// wait for that. queued, if set, runs once the request is queued
// (RingAlongside); onID, if set, is told the request's id before it is
// sent.
func (p *Process) exchange(ctx context.Context, typ string, content any, events func(Event), outermost, ordered bool, queued func(), onID func(int64)) (json.RawMessage, [][]byte, error) {
	var buffers [][]byte
	var metadata json.RawMessage
	if pl, ok := content.(*Payload); ok {
		content, buffers = pl.Content, pl.Buffers
		if pl.Metadata != nil {
			md, err := json.Marshal(pl.Metadata)
			if err != nil {
				return nil, nil, err
			}
			metadata = md
		}
	}
	body, err := json.Marshal(content)
	if err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	c := &call{id: p.newCallID(), events: events, reply: make(chan *guestproto.Message, 1)}
	p.calls[c.id] = c
	if outermost {
		p.current = c
	}
	p.mu.Unlock()
	if onID != nil {
		onID(c.id)
	}
	defer func() {
		p.mu.Lock()
		delete(p.calls, c.id)
		if outermost {
			p.current = nil
		}
		p.mu.Unlock()
	}()
	// Not joined: the buffers are written to the worker as they are.
	msg, size, err := guestproto.EncodeParts(&guestproto.Message{Type: guestproto.Kind(typ), ID: c.id, Content: body, Metadata: metadata, Buffers: buffers})
	if err != nil {
		return nil, nil, err
	}
	if guestproto.TooLarge(msg, size) {
		return nil, nil, fmt.Errorf("a request of %d bytes is over the guest channel's limit of %d (one buffer of at most %d and a head of at most %d)",
			size, guestproto.MaxFrame, guestproto.MaxBuffer, guestproto.MaxHead)
	}
	if err := p.queue(pipe.Message, msg, nil, ordered); err != nil {
		select {
		case <-p.exited:
			return nil, nil, p.exitErr
		default:
			return nil, nil, err
		}
	}
	if queued != nil {
		queued()
	}
	select {
	case r := <-c.reply:
		return r.Content, r.Buffers, nil
	case <-p.exited:
		// Output the guest wrote before it died was delivered first.
		return nil, nil, p.exitErr
	case <-ctx.Done():
		p.abandon(c.id)
		return nil, nil, ctx.Err()
	}
}

// maxAbandoned caps how many calls given up on are remembered.
const maxAbandoned = 1024

// abandon remembers a call whose caller stopped waiting: its reply, when
// it comes, may hold handles on Python objects that nobody will release
// unless route does (see strayReply).
func (p *Process) abandon(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.abandoned == nil {
		p.abandoned = map[int64]struct{}{}
	}
	if len(p.abandoned) >= maxAbandoned {
		for k := range p.abandoned {
			delete(p.abandoned, k)
			break
		}
	}
	p.abandoned[id] = struct{}{}
}

// newCallID picks the id of a request to the guest: random, so that cell
// code writing forged replies cannot aim them at requests the host has not
// made yet, and unique among the calls waiting. Callers hold p.mu.
func (p *Process) newCallID() int64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		// 53 bits: exact in any JSON reader, and never zero (omitempty).
		id := int64(binary.BigEndian.Uint64(b[:]) & (1<<53 - 1))
		if _, taken := p.calls[id]; id != 0 && !taken {
			return id
		}
	}
}

// Interrupt asks the running code to stop with KeyboardInterrupt. It
// travels on the interrupt pipe, so a guest that does not read the channel
// (and the queue of messages for it that backs up) cannot delay it. It
// carries the number of the last request queued: the worker applies it
// once that request has reached the guest, so an interrupt sent just
// after a request never overtakes it.
func (p *Process) Interrupt() error {
	p.mu.Lock()
	idle := p.current == nil && len(p.calls) == 0
	p.mu.Unlock()
	if idle {
		// Nothing of the host's runs: an interrupt would interrupt nothing
		// (as an idle ipykernel's), and one that found the guest between
		// two reads of its event loop could linger into the next cell.
		return nil
	}
	p.outMu.Lock()
	seq := p.lastReq
	p.outMu.Unlock()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	p.intrMu.Lock()
	defer p.intrMu.Unlock()
	// The worker reads this pipe at all times; the deadline only guards
	// against a stopped (SIGSTOP) worker holding the control channel.
	_ = p.intrW.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := p.intrW.Write(b[:])
	return err
}

// Close ends the interpreter at once.
func (p *Process) Close() error {
	p.hostCancel()
	p.mu.Lock()
	renewed := p.renewed
	p.mu.Unlock()
	if renewed {
		return nil // the worker runs the next interpreter now
	}
	_ = p.stdin.Close()
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
	}
	p.intrMu.Lock()
	_ = p.intrW.Close()
	p.intrMu.Unlock()
	return nil
}

// send queues one frame for the worker (a message the guest did not ask
// for, such as py_release).
func (p *Process) send(kind byte, payload []byte) error {
	return p.queue(kind, [][]byte{payload}, nil, false)
}

// queue adds a frame for writeLoop and never blocks. request marks a
// request of the host's (roundTrip), which interrupts are ordered after.
func (p *Process) queue(kind byte, parts [][]byte, sent func(), request bool) error {
	p.outMu.Lock()
	defer p.outMu.Unlock()
	if err := p.outErr; err != nil {
		if sent != nil {
			p.outMu.Unlock()
			sent()
			p.outMu.Lock()
		}
		return err
	}
	p.outq = append(p.outq, outFrame{kind, parts, sent})
	if kind == pipe.Message {
		p.outSeq++
		if request {
			p.lastReq = p.outSeq
		}
	}
	p.outCond.Signal()
	return nil
}

// writeLoop is the only writer of the worker's stdin. It may block for as
// long as the guest does not read the channel; nothing waits on it but
// the requests whose frames it holds.
func (p *Process) writeLoop() {
	defer close(p.writerDone)
	for {
		p.outMu.Lock()
		for len(p.outq) == 0 && p.outErr == nil {
			p.outCond.Wait()
		}
		batch, failed := p.outq, p.outErr != nil
		p.outq = nil
		p.outMu.Unlock()
		var err error
		for _, f := range batch {
			if err == nil && !failed {
				err = pipe.WriteFrameParts(p.stdin, f.kind, f.parts)
				if err == nil && f.kind == pipe.Message {
					p.outMu.Lock()
					p.written++
					p.outMu.Unlock()
				}
			}
			if f.sent != nil {
				f.sent()
			}
		}
		if failed {
			return
		}
		if err != nil {
			p.outMu.Lock()
			p.outErr = fmt.Errorf("interpreter input: %w", err)
			p.outMu.Unlock()
			// Run the sent callbacks of what is still queued, then stop.
		}
	}
}

func (p *Process) readLoop(stdout io.Reader, hello chan<- json.RawMessage) {
	p.readFrames(bufio.NewReaderSize(stdout, 256<<10), hello)
}

// readFrames reads the worker's frames for this interpreter until the
// worker ends, or until it says the interpreter was renewed (Renew): then
// this Process ends and the next one reads on from the same pipe.
func (p *Process) readFrames(r *bufio.Reader, hello chan<- json.RawMessage) {
	var decoders [2]utf8Stream
	exit := &ExitError{Code: 1, Reason: "the interpreter worker stopped unexpectedly"}
	for {
		kind, payload, err := pipe.ReadFrame(r)
		if err != nil {
			break
		}
		switch kind {
		case pipe.Renewed:
			p.mu.Lock()
			next, nextHello := p.next, p.nextHello
			p.mu.Unlock()
			if next == nil {
				continue // not asked for: nothing to hand over to
			}
			for i, name := range []string{"stdout", "stderr"} {
				if text := decoders[i].flush(); text != "" {
					p.deliver(streamEvent(name, text))
				}
			}
			p.end(&ExitError{Code: 0, Reason: "replaced by a fresh interpreter in the same worker"})
			next.readFrames(r, nextHello)
			return
		case pipe.Stdout, pipe.Stderr:
			i, name := 0, "stdout"
			if kind == pipe.Stderr {
				i, name = 1, "stderr"
			}
			if p.rawStream(kind, payload) {
				continue
			}
			if text := decoders[i].decode(payload); text != "" {
				p.deliver(streamEvent(name, text))
			}
		case pipe.Message:
			p.route(payload, hello)
		case pipe.Started:
			_ = json.Unmarshal(payload, &p.start) // before the hello, which Start waits for
		case pipe.Exit:
			var info pipe.ExitInfo
			_ = json.Unmarshal(payload, &info)
			exit = &ExitError{Code: info.Code, Reason: info.Error}
		}
	}
	for i, name := range []string{"stdout", "stderr"} {
		if text := decoders[i].flush(); text != "" {
			p.deliver(streamEvent(name, text))
		}
	}
	_ = p.cmd.Wait()
	if st := p.cmd.ProcessState; st != nil && !st.Exited() {
		// Killed by a signal (kill -9, the OOM killer): say which.
		exit.Signal = st.String()
	}
	p.end(exit)
	p.mu.Lock()
	next := p.next
	p.mu.Unlock()
	if next != nil {
		// Renewed, but the worker ended before the fresh one began.
		next.end(exit)
	}
}

// end marks this interpreter ended with exit.
func (p *Process) end(exit *ExitError) {
	p.exitErr = exit
	// Nothing more can be written: writeLoop ends, queued answers are let go.
	p.outMu.Lock()
	if p.outErr == nil {
		p.outErr = exit
	}
	p.outCond.Broadcast()
	p.outMu.Unlock()
	close(p.exited)
}

func streamEvent(name, text string) Event {
	b, _ := json.Marshal(struct {
		Name string `json:"name"`
		Text string `json:"text"`
	}{name, text})
	return Event{Type: string(guestproto.Stream), Content: b}
}

// utf8Stream turns a byte stream into text without splitting a character
// that arrives in two writes; invalid bytes become U+FFFD.
type utf8Stream struct {
	tail []byte
}

func (u *utf8Stream) decode(b []byte) string {
	if len(u.tail) > 0 {
		b = append(u.tail, b...)
		u.tail = nil
	}
	// Hold back an incomplete character at the end (at most 3 bytes).
	cut := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	u.tail = append([]byte(nil), b[cut:]...)
	return strings.ToValidUTF8(string(b[:cut]), "\uFFFD")
}

func (u *utf8Stream) flush() string {
	s := strings.ToValidUTF8(string(u.tail), "\uFFFD")
	u.tail = nil
	return s
}

// Err says how the interpreter ended (an *ExitError), or nil while it runs.
func (p *Process) Err() error {
	select {
	case <-p.exited:
		return p.exitErr
	default:
		return nil
	}
}
