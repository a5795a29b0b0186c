package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Limits of a store.
const (
	// MaxSize is the size of the log beyond which it is compacted.
	MaxSize = 16 << 20
	// MaxInput and MaxOutput cap the bytes kept of one cell's source and
	// result; longer text is cut and ends with Truncated.
	MaxInput  = 1 << 20
	MaxOutput = 64 << 10
)

// Truncated ends a source or output that was cut to fit MaxInput or MaxOutput.
const Truncated = "\n… [truncated by wasipy's history]"

const (
	logName     = "history.jsonl"
	lockName    = "lock"
	counterName = "session"
)

// ErrClosed is returned by a Store (or its sessions) used after Close.
var ErrClosed = errors.New("history: store is closed")

// Store is a history directory opened by one kernel. Its methods are safe
// for concurrent use, and other Store values (in this process or others) may
// use the same directory at the same time.
type Store struct {
	dir     string
	path    string
	maxSize int64

	mu     sync.Mutex // guards everything below; the flock guards the files
	lock   *os.File
	f      *os.File // the log, O_APPEND
	closed bool
	cache  cache
}

// record is one line of the log.
type record struct {
	Kind    string  `json:"k,omitempty"` // "" a cell, "s" a session start
	Session int     `json:"s"`
	Line    int     `json:"l,omitempty"`
	Input   string  `json:"i,omitempty"`
	Output  *string `json:"o,omitempty"`
	Time    string  `json:"t,omitempty"`
}

// Open opens the store in dir, creating dir (mode 0700) and its files
// (mode 0600) as needed.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("history: empty directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("history: %s is not a directory", dir)
	} else if fi.Mode().Perm()&0o077 != 0 {
		// Tighten a directory made by someone else's umask; best effort.
		_ = os.Chmod(dir, 0o700)
	}
	s := &Store{dir: dir, path: filepath.Join(dir, logName), maxSize: MaxSize}
	var err error
	if s.lock, err = os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if s.f, err = openLog(s.path); err != nil {
		s.lock.Close()
		return nil, err
	}
	return s, nil
}

func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		_ = f.Chmod(0o600)
	}
	return f, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the store's files. Sessions of a closed store return
// ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.cache = cache{}
	return errors.Join(s.f.Close(), s.lock.Close())
}

// locked runs fn holding s.mu and the file lock (exclusive or shared).
func (s *Store) locked(exclusive bool, fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := flock(s.lock, exclusive); err != nil {
		return fmt.Errorf("history: lock: %w", err)
	}
	defer funlock(s.lock)
	if err := s.reopenIfReplaced(); err != nil {
		return err
	}
	return fn()
}

// reopenIfReplaced makes s.f the file now at s.path: another kernel may
// have compacted (replaced) the log, or someone removed it.
func (s *Store) reopenIfReplaced() error {
	cur, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	onDisk, err := os.Stat(s.path)
	if err == nil && os.SameFile(cur, onDisk) {
		return nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("history: %w", err)
	}
	f, err := openLog(s.path)
	if err != nil {
		return err
	}
	s.f.Close()
	s.f = f
	return nil
}

// Session is one kernel session of a store: the cells it records are
// numbered by their execution count.
type Session struct {
	s *Store
	n int
}

// NewSession starts a session. Its number is one more than that of the
// last session started in the store by any kernel.
func (s *Store) NewSession() (*Session, error) {
	var n int
	err := s.locked(true, func() error {
		last, err := s.lastSession()
		if err != nil {
			return err
		}
		n = last + 1
		if err := s.writeCounter(n); err != nil {
			return err
		}
		return s.appendLocked(record{Kind: "s", Session: n, Time: time.Now().UTC().Format(time.RFC3339)})
	})
	if err != nil {
		return nil, err
	}
	return &Session{s: s, n: n}, nil
}

// lastSession reads the counter file; when it is missing or unreadable, it
// falls back to the highest session number found in the log.
func (s *Store) lastSession() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, counterName))
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n >= 0 {
			return n, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("history: %w", err)
	}
	if err := s.refresh(); err != nil {
		return 0, err
	}
	return s.cache.maxSession, nil
}

func (s *Store) writeCounter(n int) error {
	tmp, err := os.CreateTemp(s.dir, ".session-*")
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(strconv.Itoa(n) + "\n")
	if err2 := tmp.Close(); err == nil {
		err = err2
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(s.dir, counterName))
	}
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// Number is the session's number, as history_reply entries give it.
func (ss *Session) Number() int { return ss.n }

// Store is the store the session belongs to.
func (ss *Session) Store() *Store { return ss.s }

// Record stores one executed cell: line is its execution count, source the
// raw code, output the text/plain of its execute_result (nil when it had
// none). Recording a line again replaces it, so a kernel may record the
// source when the cell starts and again with its output when it ends.
func (ss *Session) Record(line int, source string, output *string) error {
	if line < 1 {
		return fmt.Errorf("history: line %d: execution counts start at 1", line)
	}
	rec := record{Session: ss.n, Line: line, Input: cut(source, MaxInput)}
	if output != nil {
		o := cut(*output, MaxOutput)
		rec.Output = &o
	}
	return ss.s.locked(true, func() error {
		if err := ss.s.appendLocked(rec); err != nil {
			return err
		}
		// The cell is stored; a failed compaction is retried by the next
		// write and is not the caller's concern.
		_ = ss.s.compactIfLarge()
		return nil
	})
}

// cut shortens s to at most max bytes (on a character boundary), ending it
// with Truncated.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max - len(Truncated)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + Truncated
}

// appendLocked writes rec as one line with a single O_APPEND write. The
// caller holds the exclusive lock.
func (s *Store) appendLocked(rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	b = append(b, '\n')
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if size := fi.Size(); size > 0 {
		// A writer that died mid-line left no newline: end that line so
		// that only it, and not this record too, is unreadable.
		var last [1]byte
		if _, err := s.f.ReadAt(last[:], size-1); err == nil && last[0] != '\n' {
			b = append([]byte{'\n'}, b...)
		}
	}
	if _, err := s.f.Write(b); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// compactIfLarge replaces a log larger than maxSize by its most recent
// lines, about half of maxSize of them. The caller holds the exclusive lock.
func (s *Store) compactIfLarge() error {
	fi, err := s.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() <= s.maxSize {
		return nil
	}
	data := make([]byte, fi.Size())
	if _, err := s.f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	}
	keep := s.maxSize / 2
	start := 0
	if int64(len(data)) > keep {
		start = len(data) - int(keep)
		// Keep whole lines: start after a newline, but keep the last line
		// even if it alone is larger than keep.
		if i := bytes.IndexByte(data[start-1:len(data)-1], '\n'); i >= 0 {
			start += i
		} else if j := bytes.LastIndexByte(data[:len(data)-1], '\n'); j >= 0 {
			start = j + 1
		} else {
			start = 0
		}
	}
	tmp, err := os.CreateTemp(s.dir, ".history-*.jsonl")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data[start:])
	if err == nil {
		err = tmp.Sync()
	}
	if err2 := tmp.Close(); err == nil {
		err = err2
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		return err
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return s.reopenIfReplaced()
}

// cell is a parsed cell record.
type cell struct {
	session, line int
	input         string
	output        *string
}

func (c cell) before(d cell) bool {
	return c.session < d.session || c.session == d.session && c.line < d.line
}

// cache holds the parsed log, read incrementally: off is how far the file
// identified by id has been parsed.
type cache struct {
	id         os.FileInfo
	off        int64
	cells      []cell         // ordered by (session, line) when sorted
	index      map[[2]int]int // (session, line) -> position in cells
	sorted     bool
	maxSession int
}

// refresh brings the cache up to date with the log. The caller holds the
// file lock (shared is enough).
func (s *Store) refresh() error {
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	c := &s.cache
	if c.id == nil || !os.SameFile(c.id, fi) || fi.Size() < c.off {
		*c = cache{id: fi, index: map[[2]int]int{}, sorted: true}
	}
	if fi.Size() == c.off {
		return nil
	}
	data := make([]byte, fi.Size()-c.off)
	n, err := s.f.ReadAt(data, c.off)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("history: %w", err)
	}
	data = data[:n]
	// Parse complete lines only: a line without its newline is being
	// written or was cut short, and is looked at again next time.
	end := bytes.LastIndexByte(data, '\n') + 1
	c.off += int64(end)
	for data = data[:end]; len(data) > 0; {
		i := bytes.IndexByte(data, '\n')
		c.add(data[:i])
		data = data[i+1:]
	}
	return nil
}

func (c *cache) add(line []byte) {
	var r record
	if len(line) == 0 || json.Unmarshal(line, &r) != nil || r.Session < 1 {
		return // corrupt or foreign: skip
	}
	c.maxSession = max(c.maxSession, r.Session)
	if r.Kind != "" || r.Line < 1 {
		return
	}
	x := cell{session: r.Session, line: r.Line, input: r.Input, output: r.Output}
	key := [2]int{x.session, x.line}
	if i, ok := c.index[key]; ok {
		c.cells[i] = x
		return
	}
	if n := len(c.cells); n > 0 && !c.cells[n-1].before(x) {
		c.sorted = false
	}
	c.index[key] = len(c.cells)
	c.cells = append(c.cells, x)
}

func (c *cache) sort() {
	if c.sorted {
		return
	}
	sort.Slice(c.cells, func(i, j int) bool { return c.cells[i].before(c.cells[j]) })
	for i, x := range c.cells {
		c.index[[2]int{x.session, x.line}] = i
	}
	c.sorted = true
}
