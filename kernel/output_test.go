package kernel

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/display"
	"github.com/wasipy/wasipy/protocol"
	"github.com/wasipy/wasipy/protocol/content"
)

func TestOutputMeter(t *testing.T) {
	a, b := &protocol.Message{}, &protocol.Message{}
	m := &outputMeter{limit: 100}
	m.reset()
	require.EqualValues(t, 60, m.admit(a, 60, true))
	require.EqualValues(t, 0, m.admit(a, 50, false), "an indivisible output that does not fit is dropped whole")
	require.EqualValues(t, 0, m.admit(a, 10, true), "after a drop, nothing more passes, even what would fit")
	require.True(t, m.admitError(a, 30), "one small error still passes")
	require.False(t, m.admitError(a, 30), "only one")
	require.False(t, m.admitError(a, maxLateError+1))
	dropped, parent := m.report()
	require.EqualValues(t, 50+10+30+maxLateError+1, dropped)
	require.Same(t, a, parent)
	dropped, _ = m.report()
	require.Zero(t, dropped, "reported once")

	require.EqualValues(t, 0, m.admit(b, 5, true), "background output after the cell ended still counts")
	dropped, parent = m.reset()
	require.EqualValues(t, 5, dropped)
	require.Same(t, b, parent)
	require.EqualValues(t, 60, m.admit(a, 60, true), "a fresh budget")
	require.EqualValues(t, 40, m.admit(a, 150, true), "stream text is admitted in part")
	dropped, _ = m.report()
	require.EqualValues(t, 110, dropped)
	unlimited := &outputMeter{}
	require.EqualValues(t, 1<<40, unlimited.admit(a, 1<<40, false))
}

func TestSplitTextKeepsCharacters(t *testing.T) {
	text := strings.Repeat("a€😀", 1000) // 1-, 3- and 4-byte characters
	for _, max := range []int{4, 5, 7, 100, 4096} {
		parts := splitText(text, max)
		require.Equal(t, text, strings.Join(parts, ""))
		for _, p := range parts {
			require.LessOrEqual(t, len(p), max)
			require.True(t, utf8.ValidString(p), "a character was split at max %d", max)
		}
	}
	require.Nil(t, splitText("", 10))
	require.Equal(t, "a€", prefixText("a€😀", 6))
	require.Equal(t, "a€😀", prefixText("a€😀", 100))
}

// scriptInterp is an interpreter whose execute emits the events of the
// cell named by the code.
type scriptInterp struct {
	*fakeInterp
	cells map[string][]func(Publisher)
}

func (s *scriptInterp) Execute(ctx context.Context, req content.ExecuteRequest, cell Cell, pub Publisher) (content.ExecuteReply, error) {
	for _, emit := range s.cells[req.Code] {
		emit(pub)
	}
	return content.ExecuteReply{Status: content.StatusOK}, nil
}

func streamEv(name, text string) func(Publisher) {
	return func(p Publisher) { p.Stream(name, text) }
}

func startScripted(t *testing.T, maxOutput int64, cells map[string][]func(Publisher)) (*Kernel, *fakeTransport) {
	tr := newFakeTransport()
	start := func(ctx context.Context, host Host) (Interpreter, error) {
		return &scriptInterp{fakeInterp: newFakeInterp(host), cells: cells}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	k, err := New(ctx, tr, start, Options{MaxOutput: maxOutput})
	require.NoError(t, err)
	go k.Run(ctx)
	t.Cleanup(func() { cancel(); k.Close() })
	return k, tr
}

func runCell(t *testing.T, k *Kernel, tr *fakeTransport, code string) (id string, published []*protocol.Message) {
	t.Helper()
	m, err := protocol.NewMessage(nil, "client", "execute_request", map[string]any{"code": code})
	require.NoError(t, err)
	k.HandleMessage(protocol.Shell, m)
	id = m.Header.MsgID
	tr.waitIOPub(t, id, append([]string{"status:busy", "execute_input"}, append(expectedTypes(t, tr, id), "status:idle")...))
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, p := range tr.published {
		if p.ParentHeader.MsgID == id && p.Header.MsgType != "status" && p.Header.MsgType != "execute_input" {
			published = append(published, p)
		}
	}
	return id, published
}

// expectedTypes waits for the reply and returns the output types published
// before it (the idle status follows the reply).
func expectedTypes(t *testing.T, tr *fakeTransport, id string) []string {
	tr.waitReply(t, id)
	var out []string
	for _, ty := range tr.iopub(id) {
		if ty != "status:busy" && ty != "status:idle" && ty != "execute_input" {
			out = append(out, ty)
		}
	}
	return out
}

func streamTexts(t *testing.T, msgs []*protocol.Message) (texts []string) {
	for _, m := range msgs {
		if m.Header.MsgType == "stream" {
			var c struct{ Name, Text string }
			require.NoError(t, json.Unmarshal(m.Content, &c))
			texts = append(texts, c.Name+":"+c.Text)
		}
	}
	return texts
}

// Past --max-output: the rest of the cell's output is dropped, the cell is
// told once how much, its last error still shows, and the next cell has a
// fresh budget.
func TestMaxOutputDropsAndTellsOnce(t *testing.T) {
	var b display.Bundle
	require.NoError(t, b.Set("text/plain", strings.Repeat("d", 80)))
	out := display.Output{Kind: display.DisplayData, Bundle: b}
	show := func(p Publisher) { require.NoError(t, p.Display(out)) }
	k, tr := startScripted(t, 1000, map[string][]func(Publisher){
		"flood": {
			streamEv("stdout", strings.Repeat("a", 600)),
			streamEv("stdout", strings.Repeat("b", 600)),
			show,
			streamEv("stderr", "late"),
			func(p Publisher) { p.Error(*content.NewError("KeyboardInterrupt", "")) },
		},
		"small": {streamEv("stdout", strings.Repeat("c", 600)), show},
	})
	_, msgs := runCell(t, k, tr, "flood")
	var types []string
	for _, m := range msgs {
		types = append(types, m.Header.MsgType)
	}
	require.Equal(t, []string{"stream", "stream", "error", "stream"}, types)
	texts := streamTexts(t, msgs)
	require.Equal(t, "stdout:"+strings.Repeat("a", 600), texts[0])
	require.Equal(t, "stdout:"+strings.Repeat("b", 400), texts[1])
	notice := texts[2]
	require.True(t, strings.HasPrefix(notice, "stderr:"), notice)
	dropped := 200 + out.Size() + 4
	require.Contains(t, notice, humanSize(dropped)+" more was dropped")
	require.Contains(t, notice, "--max-output")

	_, msgs = runCell(t, k, tr, "small")
	require.Len(t, msgs, 2, "a fresh budget, no notice")
	require.Equal(t, []string{"stdout:" + strings.Repeat("c", 600)}, streamTexts(t, msgs))
	require.Equal(t, "display_data", msgs[1].Header.MsgType)
}

// However long a stream event's text, it is published in messages of at
// most MaxStreamText bytes; a stream of another name than stdout or
// stderr is dropped.
func TestStreamTextIsPublishedInBoundedPieces(t *testing.T) {
	long := strings.Repeat("€x", MaxStreamText) // 4 MiB, multibyte
	k, tr := startScripted(t, 0, map[string][]func(Publisher){
		"long": {
			streamEv("stdout", long),
			streamEv("elsewhere", "x"),
		},
	})
	_, msgs := runCell(t, k, tr, "long")
	var joined strings.Builder
	for _, text := range streamTexts(t, msgs) {
		text = strings.TrimPrefix(text, "stdout:")
		require.LessOrEqual(t, len(text), MaxStreamText)
		joined.WriteString(text)
	}
	require.Equal(t, len(long), joined.Len())
	require.Equal(t, long, joined.String())
	require.Len(t, msgs, 4)
}

func TestHumanSize(t *testing.T) {
	require.Equal(t, "100 MiB", humanSize(100<<20))
	require.Equal(t, "1.5 GiB", humanSize(3<<29))
	require.Equal(t, "12 bytes", humanSize(12))
}
