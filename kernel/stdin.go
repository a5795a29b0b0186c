package kernel

import (
	"context"
	"log/slog"
	"sync"

	"github.com/wasipy/wasipy/protocol"
	"github.com/wasipy/wasipy/protocol/content"
)

// stdinBroker asks the frontend for input (input_request on stdin) on
// behalf of the running cell, and hands it the frontend's input_reply. At
// most one question waits at a time.
type stdinBroker struct {
	cells *cellState
	// send puts an input_request on stdin, to the client of parent.
	send func(parent *protocol.Message, req content.InputRequest) error
	quit <-chan struct{} // closed when the kernel shuts down

	mu      sync.Mutex
	pending chan string   // the waiting question's answer, while one waits
	stop    chan struct{} // closed by cancel, while one waits
}

// ask sends input_request to the client that sent the running cell, and
// waits for its input_reply, the cell's end (an interrupt ended it), ctx or
// quit, whichever comes first.
func (b *stdinBroker) ask(ctx context.Context, prompt string, password bool) (string, error) {
	parent, cellDone := b.cells.current()
	if parent == nil {
		return "", &InputError{Type: "StdinNotImplementedError", Message: "input() is only available while a cell runs"}
	}
	b.mu.Lock()
	if b.pending != nil {
		b.mu.Unlock()
		return "", &InputError{Type: "StdinNotImplementedError", Message: "input() is only available while a cell runs"}
	}
	answer, stop := make(chan string, 1), make(chan struct{})
	b.pending, b.stop = answer, stop
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.pending, b.stop = nil, nil
		b.mu.Unlock()
	}()
	if err := b.send(parent, content.InputRequest{Prompt: prompt, Password: password}); err != nil {
		return "", &InputError{Type: "StdinNotImplementedError", Message: "the frontend's stdin channel is not connected: " + err.Error()}
	}
	select {
	case v := <-answer:
		return v, nil
	case <-ctx.Done():
		return "", &InputError{Type: "KeyboardInterrupt"}
	case <-cellDone: // the cell ended (interrupted) before an answer came
		return "", &InputError{Type: "KeyboardInterrupt"}
	case <-stop: // the kernel restarts
		return "", &InputError{Type: "KeyboardInterrupt"}
	case <-b.quit:
		return "", &InputError{Type: "EOFError", Message: "the kernel is shutting down"}
	}
}

// cancel ends the question that waits, if any, as an interrupt does.
func (b *stdinBroker) cancel() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stop != nil {
		close(b.stop)
		b.stop = nil
	}
}

// answer hands an input_reply to the waiting question; anything else on
// stdin, or a reply no question waits for, is logged and dropped.
func (b *stdinBroker) answer(m *protocol.Message, log *slog.Logger) {
	if m.Header.MsgType != "input_reply" {
		log.Debug("unexpected stdin message", "msg_type", m.Header.MsgType)
		return
	}
	var reply content.InputReply
	if err := m.DecodeContent(&reply); err != nil {
		log.Warn("bad input_reply", "err", err)
		return
	}
	b.mu.Lock()
	pending := b.pending
	b.mu.Unlock()
	if pending == nil {
		log.Debug("input_reply with no pending input_request")
		return
	}
	select {
	case pending <- reply.Value:
	default:
	}
}
