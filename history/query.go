package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// DefaultTail is how many entries a tail request without n gets.
const DefaultTail = 10

// Request is the content of a history_request.
type Request struct {
	// Output asks for each cell's output next to its input.
	Output bool `json:"output"`
	// Raw asks for the raw input rather than the transformed one. Only
	// the raw input is stored, so both give the same text.
	Raw bool `json:"raw"`
	// HistAccessType is "tail", "range" or "search".
	HistAccessType string `json:"hist_access_type"`
	// Session (range) is a session number; 0 is the current session and
	// a negative number counts back from it (-1 is the previous one).
	Session int `json:"session"`
	// Start and Stop (range) select lines Start <= line < Stop; Stop 0
	// means no upper bound. Negative values count back from the end of
	// the session, as IPython does for its current session.
	Start int `json:"start"`
	Stop  int `json:"stop"`
	// N is how many of the most recent entries tail and search return
	// (tail: DefaultTail when 0; search: all matches when 0).
	N int `json:"n"`
	// Pattern (search) is a glob matched against the whole input: "*"
	// any text (newlines included), "?" one character, "[abc]", "[a-z]",
	// "[!a]" or "[^a]" a character class; everything else is literal and
	// case-sensitive, as in SQLite's GLOB that IPython uses.
	Pattern string `json:"pattern"`
	// Unique (search) keeps only the most recent cell of each input.
	Unique bool `json:"unique"`
}

// Entry is one element of history_reply's "history" list.
type Entry struct {
	Session, Line int
	Input         string
	Output        *string // nil when the cell had no result
	// WithOutput selects the shape [session, line, [input, output]]
	// (output null when nil) rather than [session, line, input].
	WithOutput bool
}

// MarshalJSON gives the spec's shapes: [session, line, input] or, with
// WithOutput, [session, line, [input, output]].
func (e Entry) MarshalJSON() ([]byte, error) {
	if e.WithOutput {
		return json.Marshal([]any{e.Session, e.Line, []any{e.Input, e.Output}})
	}
	return json.Marshal([]any{e.Session, e.Line, e.Input})
}

// UnmarshalJSON reads either shape MarshalJSON writes.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil {
		return err
	}
	if len(parts) != 3 {
		return fmt.Errorf("history: entry has %d elements, want 3", len(parts))
	}
	var x Entry
	if err := json.Unmarshal(parts[0], &x.Session); err != nil {
		return err
	}
	if err := json.Unmarshal(parts[1], &x.Line); err != nil {
		return err
	}
	if err := json.Unmarshal(parts[2], &x.Input); err != nil {
		var pair []*string
		if json.Unmarshal(parts[2], &pair) != nil || len(pair) != 2 || pair[0] == nil {
			return errors.New("history: entry's third element is neither input nor [input, output]")
		}
		x.Input, x.Output, x.WithOutput = *pair[0], pair[1], true
	}
	*e = x
	return nil
}

// Query answers a history_request: it returns the reply's "history" list,
// never nil. current is the number of the asking kernel's session (what
// session 0 and negative sessions are relative to). An unknown
// hist_access_type gets an empty list, as ipykernel gives.
func (s *Store) Query(ctx context.Context, q Request, current int) ([]Entry, error) {
	var out []Entry
	err := s.locked(false, func() error {
		if err := s.refresh(); err != nil {
			return err
		}
		s.cache.sort()
		cells := s.cache.cells
		var err error
		switch q.HistAccessType {
		case "tail":
			n := q.N
			if n <= 0 {
				n = DefaultTail
			}
			out = entries(lastN(cells, n), q.Output)
		case "range":
			out = entries(rangeOf(cells, q, current), q.Output)
		case "search":
			out, err = search(ctx, cells, q)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []Entry{}
	}
	return out, nil
}

// Query is s.Store().Query(ctx, q, s.Number()).
func (ss *Session) Query(ctx context.Context, q Request) ([]Entry, error) {
	return ss.s.Query(ctx, q, ss.n)
}

func lastN(cells []cell, n int) []cell {
	if n > 0 && len(cells) > n {
		return cells[len(cells)-n:]
	}
	return cells
}

func entries(cells []cell, withOutput bool) []Entry {
	out := make([]Entry, len(cells))
	for i, c := range cells {
		out[i] = Entry{Session: c.session, Line: c.line, Input: c.input, Output: c.output, WithOutput: withOutput}
	}
	return out
}

// rangeOf selects lines [Start, Stop) of a session from sorted cells.
func rangeOf(cells []cell, q Request, current int) []cell {
	session := q.Session
	if session <= 0 {
		session += current
	}
	lo := sort.Search(len(cells), func(i int) bool { return cells[i].session >= session })
	hi := sort.Search(len(cells), func(i int) bool { return cells[i].session > session })
	cells = cells[lo:hi]
	if len(cells) == 0 {
		return nil
	}
	end := cells[len(cells)-1].line + 1 // one past the session's last line
	start, stop := q.Start, q.Stop
	if start < 0 {
		start += end
	}
	switch {
	case stop == 0:
		stop = end
	case stop < 0:
		stop += end
	}
	lo = sort.Search(len(cells), func(i int) bool { return cells[i].line >= start })
	hi = sort.Search(len(cells), func(i int) bool { return cells[i].line >= stop })
	if lo >= hi {
		return nil
	}
	return cells[lo:hi]
}

func search(ctx context.Context, cells []cell, q Request) ([]Entry, error) {
	g := compileGlob(q.Pattern)
	var hits []cell
	for i, c := range cells {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if g.match(c.input) {
			hits = append(hits, c)
		}
	}
	if q.Unique {
		// Keep the most recent cell of each input, in order.
		seen := make(map[string]bool, len(hits))
		kept := hits[:0:0]
		for i := len(hits) - 1; i >= 0; i-- {
			if !seen[hits[i].input] {
				seen[hits[i].input] = true
				kept = append(kept, hits[i])
			}
		}
		for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
			kept[i], kept[j] = kept[j], kept[i]
		}
		hits = kept
	}
	return entries(lastN(hits, q.N), q.Output), nil
}
