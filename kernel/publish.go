package kernel

import (
	"context"

	"github.com/wasipy/wasipy/comm"
	"github.com/wasipy/wasipy/display"
	"github.com/wasipy/wasipy/protocol"
	"github.com/wasipy/wasipy/protocol/content"
)

// cellPublisher publishes what a request produces on iopub under parent,
// within the running cell's output budget (output.go).
type cellPublisher struct {
	k      *Kernel
	parent *protocol.Message
	// onResult, when set, sees each execute_result of the cell (the
	// history records its text).
	onResult func(display.Output)
}

var _ Publisher = cellPublisher{}

// Stream publishes stream text, in messages of at most MaxStreamText bytes.
func (p cellPublisher) Stream(name, text string) {
	if name != "stdout" && name != "stderr" {
		p.k.log.Warn("dropping a stream of unknown name", "name", name)
		return
	}
	text = prefixText(text, p.k.output.admit(p.parent, int64(len(text)), true))
	for _, part := range splitText(text, MaxStreamText) {
		p.k.publish(p.parent, "stream", content.Stream{Name: name, Text: part})
	}
}

// Display checks a display message and publishes it; past the output
// budget it is dropped (clear_output always passes: it adds nothing).
func (p cellPublisher) Display(o display.Output) error {
	if err := o.Check(); err != nil {
		p.k.log.Warn("dropping a malformed display message", "err", err)
		return err
	}
	if o.Kind == display.ExecuteResult && p.onResult != nil {
		p.onResult(o)
	}
	if o.Kind != display.ClearOutput && p.k.output.admit(p.parent, o.Size(), false) == 0 {
		return nil
	}
	p.k.publish(p.parent, string(o.Kind), o.Content())
	return nil
}

// Error publishes an error; past the budget, one small error per cell
// still passes, so an interrupted flood shows its KeyboardInterrupt.
func (p cellPublisher) Error(e content.Error) {
	if e.Traceback == nil {
		e.Traceback = []string{}
	}
	size := int64(len(e.Ename) + len(e.Evalue))
	for _, line := range e.Traceback {
		size += int64(len(line))
	}
	if p.k.output.admitError(p.parent, size) {
		p.k.publish(p.parent, "error", e)
	}
}

// Comm publishes a comm message of the interpreter's code.
func (p cellPublisher) Comm(m comm.Message) {
	p.k.publishFull(p.parent, m.Type, m.Content(), m.Metadata, m.Buffers)
}

// currentCell publishes under the running cell, or the last one between
// cells.
func (k *Kernel) currentCell() cellPublisher {
	return cellPublisher{k: k, parent: k.cells.parentFor("")}
}

// liveCell publishes display data under the cell current at each call.
type liveCell struct{ k *Kernel }

func (l liveCell) Display(o display.Output) error { return l.k.currentCell().Display(o) }

// commSender publishes the comm messages of Go code under the current cell.
type commSender struct{ k *Kernel }

func (s commSender) SendComm(m comm.Message) error {
	s.k.currentCell().Comm(m)
	return nil
}

// kernelHost is what the kernel offers the interpreters it starts.
type kernelHost struct{ k *Kernel }

func (h kernelHost) Background(parentID string) Publisher {
	return cellPublisher{k: h.k, parent: h.k.cells.parentFor(parentID)}
}

func (h kernelHost) Input(ctx context.Context, prompt string, password bool) (string, error) {
	return h.k.stdin.ask(ctx, prompt, password)
}
