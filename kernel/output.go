package kernel

import (
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/wasipy/wasipy/protocol"
	"github.com/wasipy/wasipy/protocol/content"
)

const (
	// MaxStreamText bounds the text (in UTF-8 bytes) of one stream message
	// the kernel publishes; longer text leaves in several messages. The
	// iopub queue merges adjacent stream messages up to the same size.
	MaxStreamText = 1 << 20
	// maxLateError is the largest error message still shown after a
	// cell's output passed the cap: one per cell, so that an interrupted
	// flood still shows its KeyboardInterrupt.
	maxLateError = 64 << 10
)

// outputMeter holds one cell's output budget (Options.MaxOutput): stream
// text and display data count; past the cap, output is dropped and counted,
// and the cell is told once when it ends. The budget starts afresh with each
// execute_request; output of background tasks counts against the budget of
// the window it arrives in.
type outputMeter struct {
	mu          sync.Mutex
	limit       int64 // 0: no cap
	used        int64
	dropped     int64             // bytes dropped and not yet reported
	parent      *protocol.Message // the cell the unreported drops belong to
	lateErrorOK bool              // one small error may still pass
}

// reset starts a fresh budget. It returns what was dropped since the last
// report, and under which cell, so the caller can report it.
func (m *outputMeter) reset() (dropped int64, parent *protocol.Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dropped, parent = m.dropped, m.parent
	m.used, m.dropped, m.parent, m.lateErrorOK = 0, 0, nil, true
	return dropped, parent
}

// report returns what was dropped since the last report, and clears it.
func (m *outputMeter) report() (dropped int64, parent *protocol.Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dropped, parent = m.dropped, m.parent
	m.dropped, m.parent = 0, nil
	return dropped, parent
}

// admit charges n bytes of output of parent and returns how many of them
// may be published: n, or fewer once the budget runs out. Only a divisible
// output (stream text) is admitted in part; the rest is dropped whole.
func (m *outputMeter) admit(parent *protocol.Message, n int64, divisible bool) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.limit <= 0 {
		return n
	}
	allowed := min(n, max(m.limit-m.used, 0))
	if allowed < n && !divisible {
		allowed = 0
	}
	m.used += allowed
	if allowed < n {
		m.dropped += n - allowed
		if m.parent == nil {
			m.parent = parent
		}
		// Once anything is dropped, everything after it is too: a smaller
		// display that would still fit must not appear out of order.
		m.used = m.limit
	}
	return allowed
}

// admitError is admit for an error message: past the cap, one error of at
// most maxLateError bytes per cell still passes (and is not counted).
func (m *outputMeter) admitError(parent *protocol.Message, n int64) bool {
	if m.admit(parent, n, false) == n {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lateErrorOK && n <= maxLateError {
		m.lateErrorOK = false
		m.dropped -= n // shown after all
		return true
	}
	return false
}

// splitText cuts text into pieces of at most max bytes without splitting a
// character (text is valid UTF-8: the interpreter's streams are decoded, and
// JSON strings are).
func splitText(text string, max int) []string {
	var parts []string
	for len(text) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		if cut == 0 { // not UTF-8 after all: cut anywhere rather than loop
			cut = max
		}
		parts = append(parts, text[:cut])
		text = text[cut:]
	}
	if text != "" {
		parts = append(parts, text)
	}
	return parts
}

// prefixText is the longest prefix of text of at most n bytes that does
// not split a character.
func prefixText(text string, n int64) string {
	if int64(len(text)) <= n {
		return text
	}
	cut := int(n)
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut]
}

// reportDropped tells the cell once how much of its output was dropped and
// how to raise the cap.
func (k *Kernel) reportDropped(dropped int64, parent *protocol.Message) {
	if dropped <= 0 || parent == nil {
		return
	}
	k.log.Info("output over the cap dropped", "bytes", dropped, "max_output", k.opts.MaxOutput)
	k.publish(parent, "stream", content.Stream{Name: "stderr", Text: fmt.Sprintf(
		"\n[wasipy] Output limit reached: this cell's output passed %s, and %s more was dropped. "+
			"The cap is the kernel's --max-output flag: raise it in the kernelspec "+
			"(wasipy-kernel kernelspec --install --max-output 1G, or edit argv in kernel.json; 0 means no cap).\n",
		humanSize(k.opts.MaxOutput), humanSize(dropped))})
}

// humanSize writes a byte count for people: "100 MiB", "1.5 GiB", "12 KiB".
func humanSize(n int64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d bytes", n)
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
