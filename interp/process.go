package interp

import (
	"bufio"
	"bytes"
	"context"
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
)

// workerEnv marks a process as an interpreter worker and carries its Config.
const workerEnv = "WASIPY_INTERP_WORKER"

// Config says which interpreter to run and what the sandbox holds.
type Config struct {
	// PythonWasm is the WASI CPython command module to run.
	PythonWasm string `json:"python_wasm"`
	// CacheDir keeps the stripped module and wazero's compilation cache.
	// Empty disables caching (every start compiles for seconds).
	CacheDir string `json:"cache_dir"`
	// WorkDir is mounted read-write at the same path in the guest and made
	// its working directory, so relative paths agree with the host's.
	WorkDir string `json:"work_dir"`
	// ImportPaths are host folders of pure-Python packages, mounted
	// read-only at the same paths and added to the guest's sys.path.
	ImportPaths []string `json:"import_paths,omitempty"`
	// Env adds variables to the guest's environment.
	Env map[string]string `json:"env,omitempty"`
	// MemoryLimit caps the guest's linear memory in bytes (rounded down to
	// whole 64 KiB pages). Past it, allocations fail and Python raises
	// MemoryError. 0 means DefaultMemoryLimit; more than MaxMemoryLimit
	// (all that wasm32 can address) means MaxMemoryLimit.
	MemoryLimit uint64 `json:"memory_limit,omitempty"`
	// Modules are Python modules implemented in Go (see Module).
	Modules []*Module `json:"-"`
	// Executable is the program started as the worker; it must call
	// WorkerMain first thing. Empty means this program.
	Executable string `json:"-"`
	// Stderr receives the worker's own diagnostics. Nil discards them.
	Stderr io.Writer `json:"-"`

	// prepareInto, set by Prepare, makes the worker compile the runtime's
	// bytecode into this host folder and exit, running no user code.
	prepareInto string
	// PrepareInto carries prepareInto to the worker.
	PrepareInto string `json:"prepare_into,omitempty"`
}

// LanguageInfo describes the interpreter, as the guest reports it at start.
type LanguageInfo struct {
	Name              string          `json:"name"`
	Version           string          `json:"version"`
	Mimetype          string          `json:"mimetype"`
	FileExtension     string          `json:"file_extension"`
	PygmentsLexer     string          `json:"pygments_lexer"`
	CodemirrorMode    json.RawMessage `json:"codemirror_mode"`
	NbconvertExporter string          `json:"nbconvert_exporter"`
}

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
// Call (comm messages from the frontend carry both).
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
}

func (e *ExitError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("the interpreter exited (code %d): %s", e.Code, e.Reason)
	}
	return fmt.Sprintf("the interpreter exited with code %d", e.Code)
}

func (e *ExitError) Unwrap() error { return ErrExited }

// Process is a running interpreter in a worker process.
type Process struct {
	cmd  *exec.Cmd
	info LanguageInfo

	sendMu sync.Mutex
	stdin  io.WriteCloser

	callMu sync.Mutex // one request at a time: the guest is single-threaded

	mu         sync.Mutex
	nextID     int64
	current    *call           // the outermost call: its events sink gets output
	calls      map[int64]*call // calls waiting for their reply, nested ones too
	handles    handleTable     // Go values Python holds handles on
	modules    map[string]*Module
	background func(Event)
	host       HostHandler
	hostCtx    context.Context
	hostCancel context.CancelFunc

	exited  chan struct{}
	exitErr *ExitError
}

type call struct {
	id     int64
	events func(Event)
	reply  chan *guestMessage
}

// guestMessage is one message of the guest protocol (see
// runtime/_wasipy_kernel.py): JSON, then optionally a NUL byte and the
// binary buffers whose lengths BufferLengths lists.
type guestMessage struct {
	Type          string          `json:"type"`
	ID            int64           `json:"id,omitempty"`
	RID           int64           `json:"rid,omitempty"`
	Method        string          `json:"method,omitempty"`
	ParentID      string          `json:"parent_id,omitempty"`
	Content       json.RawMessage `json:"content,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
	Error         *hostError      `json:"error,omitempty"`
	BufferLengths []int           `json:"buffer_lengths,omitempty"`
	buffers       [][]byte
}

// hostError is how a failed host request is reported to the guest, which
// raises it as an exception of that type (HostError unless a Python
// builtin exception such as PermissionError is named).
type hostError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func decodeGuestMessage(payload []byte) (*guestMessage, error) {
	head, rest := payload, []byte(nil)
	if i := bytes.IndexByte(payload, 0); i >= 0 {
		head, rest = payload[:i], payload[i+1:]
	}
	var m guestMessage
	if err := json.Unmarshal(head, &m); err != nil {
		return nil, err
	}
	for _, n := range m.BufferLengths {
		if n < 0 || n > len(rest) {
			return nil, errors.New("guest message buffers are shorter than announced")
		}
		m.buffers = append(m.buffers, rest[:n])
		rest = rest[n:]
	}
	return &m, nil
}

func encodeGuestMessage(m *guestMessage) ([]byte, error) {
	m.BufferLengths = nil
	for _, b := range m.buffers {
		m.BufferLengths = append(m.BufferLengths, len(b))
	}
	head, err := json.Marshal(m)
	if err != nil || len(m.buffers) == 0 {
		return head, err
	}
	out := append(head, 0)
	for _, b := range m.buffers {
		out = append(out, b...)
	}
	return out, nil
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
	cfg.PrepareInto = cfg.prepareInto
	if cfg.PrepareInto == "" && cfg.CacheDir != "" && !pycacheReady(pycacheDir(cfg.CacheDir)) {
		// Once per runtime version: compile the runtime's bytecode (and
		// warm the module cache) in a worker of its own.
		if err := Prepare(ctx, cfg); err != nil && cfg.Stderr != nil {
			fmt.Fprintln(cfg.Stderr, "wasipy: runtime bytecode not cached:", err)
		}
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), workerEnv+"="+string(raw))
	if cfg.Stderr != nil {
		cmd.Stderr = cfg.Stderr
	}
	tieToParent(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start interpreter worker: %w", err)
	}
	p := &Process{cmd: cmd, stdin: stdin, exited: make(chan struct{}), calls: map[int64]*call{}, modules: map[string]*Module{}}
	for _, m := range cfg.Modules {
		p.modules[m.Name] = m
	}
	p.hostCtx, p.hostCancel = context.WithCancel(context.Background())
	hello := make(chan json.RawMessage, 1)
	go p.readLoop(stdout, hello)
	select {
	case h := <-hello:
		if err := json.Unmarshal(h, &p.info); err != nil {
			p.Close()
			return nil, fmt.Errorf("interpreter hello: %w", err)
		}
		if len(p.modules) > 0 {
			if _, err := p.Call(ctx, "ffi_modules", p.moduleList(), nil); err != nil {
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

// Info describes the interpreter.
func (p *Process) Info() LanguageInfo { return p.info }

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

// roundTrip sends one request and waits for its reply. outermost says
// whether the request's events go to its own sink (a request from the
// kernel) or to the running request's (a nested call from a Func).
func (p *Process) roundTrip(ctx context.Context, typ string, content any, events func(Event), outermost bool) (json.RawMessage, [][]byte, error) {
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
	p.nextID++
	c := &call{id: p.nextID, events: events, reply: make(chan *guestMessage, 1)}
	p.calls[c.id] = c
	if outermost {
		p.current = c
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.calls, c.id)
		if outermost {
			p.current = nil
		}
		p.mu.Unlock()
	}()
	msg, err := encodeGuestMessage(&guestMessage{Type: typ, ID: c.id, Content: body, Metadata: metadata, buffers: buffers})
	if err != nil {
		return nil, nil, err
	}
	if err := p.send(frameMessage, msg); err != nil {
		select {
		case <-p.exited:
			return nil, nil, p.exitErr
		default:
			return nil, nil, err
		}
	}
	select {
	case r := <-c.reply:
		return r.Content, r.buffers, nil
	case <-p.exited:
		// Output the guest wrote before it died was delivered first.
		return nil, nil, p.exitErr
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// Interrupt asks the running code to stop with KeyboardInterrupt.
func (p *Process) Interrupt() error {
	return p.send(frameInterrupt, nil)
}

// Close ends the interpreter at once.
func (p *Process) Close() error {
	p.hostCancel()
	_ = p.stdin.Close()
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
	}
	return nil
}

func (p *Process) send(kind byte, payload []byte) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return writeFrame(p.stdin, kind, payload)
}

func (p *Process) readLoop(stdout io.Reader, hello chan<- json.RawMessage) {
	r := bufio.NewReaderSize(stdout, 256<<10)
	var decoders [2]utf8Stream
	exit := &ExitError{Code: 1, Reason: "the interpreter worker stopped unexpectedly"}
	for {
		kind, payload, err := readFrame(r)
		if err != nil {
			break
		}
		switch kind {
		case frameStdout, frameStderr:
			i, name := 0, "stdout"
			if kind == frameStderr {
				i, name = 1, "stderr"
			}
			if text := decoders[i].decode(payload); text != "" {
				p.deliver(streamEvent(name, text))
			}
		case frameMessage:
			m, err := decodeGuestMessage(payload)
			if err != nil {
				continue
			}
			switch m.Type {
			case "hello":
				// Once, at start. (User code can reach the channel file too:
				// nothing it writes may block this loop.)
				select {
				case hello <- m.Content:
				default:
				}
			case "reply":
				p.mu.Lock()
				c := p.calls[m.ID]
				p.mu.Unlock()
				if c != nil {
					c.reply <- m
				}
			case "host_request":
				go p.serveHost(m)
			default:
				p.deliver(Event{Type: m.Type, Content: m.Content, ParentID: m.ParentID, Buffers: m.buffers, Metadata: m.Metadata})
			}
		case frameExit:
			var info exitInfo
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
	p.exitErr = exit
	close(p.exited)
}

// serveHost answers one host_request of the guest.
func (p *Process) serveHost(m *guestMessage) {
	p.mu.Lock()
	h := p.host
	p.mu.Unlock()
	reply := &guestMessage{Type: "host_reply", RID: m.RID}
	if strings.HasPrefix(m.Method, "ffi.") {
		h = p.serveFFI
	}
	if h == nil {
		reply.Error = &hostError{Type: "HostError", Message: "the host does not answer " + m.Method}
	} else {
		result, buffers, err := h(p.hostCtx, m.Method, m.Content, m.buffers)
		if err != nil {
			reply.Error = errorForGuest(err)
		} else {
			if reply.Content, err = json.Marshal(result); err != nil {
				reply.Content, reply.Error = nil, errorForGuest(err)
			}
			reply.buffers = buffers
		}
	}
	payload, err := encodeGuestMessage(reply)
	if err == nil {
		_ = p.send(frameMessage, payload)
	}
}

// GuestError is an error that reaches Python as an exception of the named
// type (a builtin exception such as PermissionError, KeyboardInterrupt or
// EOFError); any other error becomes HostError.
type GuestError struct {
	Type    string
	Message string
}

func (e *GuestError) Error() string { return e.Type + ": " + e.Message }

func errorForGuest(err error) *hostError {
	var ge *GuestError
	if errors.As(err, &ge) {
		return &hostError{Type: ge.Type, Message: ge.Message}
	}
	return &hostError{Type: "HostError", Message: err.Error()}
}

func (p *Process) deliver(e Event) {
	p.mu.Lock()
	sink := p.background
	if p.current != nil && p.current.events != nil && e.ParentID == "" {
		sink = p.current.events
	}
	p.mu.Unlock()
	if sink != nil {
		sink(e)
	}
}

func streamEvent(name, text string) Event {
	b, _ := json.Marshal(struct {
		Name string `json:"name"`
		Text string `json:"text"`
	}{name, text})
	return Event{Type: "stream", Content: b}
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
