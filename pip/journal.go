package pip

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// A transaction keeps a journal in the site folder so that a kernel killed
// half-way through an install (SIGKILL, OOM, a closed laptop) leaves
// nothing half-done for long: the next transaction, or the next kernel
// start, reads the journal and either undoes every rename (no commit
// record: the folder is as it was before) or finishes the clean-up (a
// commit record: the folder is as asked). Each record is written before
// the rename it announces, so a rename the journal does not name never
// happened. Records are not fsynced one by one: a killed process loses
// nothing it wrote; only the commit record is synced, as the point of no
// return.
const journalName = ".wasipy-journal"

// The prefixes of a transaction's scratch folders beside the installed
// packages (wheel members starting with ".wasipy" are refused, so no
// package can own one).
const (
	stagingPrefix = ".wasipy-staging-"
	trashPrefix   = ".wasipy-trash-"
)

// record is one line of the journal; paths are relative to the site folder
// and slash-separated.
type record struct {
	Staging string     `json:"staging,omitempty"`
	Trash   string     `json:"trash,omitempty"`
	Move    *[2]string `json:"move,omitempty"`
	Emptied []string   `json:"emptied,omitempty"`
	Commit  bool       `json:"commit,omitempty"`
}

// crashPoint, when set (by tests), is called at each step of a
// transaction where a kill must be recoverable.
var crashPoint func(step string)

func reach(step string) {
	if crashPoint != nil {
		crashPoint(step)
	}
}

type journal struct {
	f *os.File
}

func openJournal(site string) (*journal, error) {
	f, err := os.OpenFile(filepath.Join(site, journalName), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("transaction journal: %w", err)
	}
	return &journal{f: f}, nil
}

func (j *journal) write(r record, sync bool) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("transaction journal: %w", err)
	}
	if sync {
		return j.f.Sync()
	}
	return nil
}

// done closes and removes the journal: the transaction is over.
func (j *journal) done(site string) {
	_ = j.f.Close()
	_ = os.Remove(filepath.Join(site, journalName))
}

// siteRel checks a path read from the journal: relative, clean, inside
// the site folder. The guest cannot write the journal (the site is
// mounted read-only), but a damaged file must not move anything
// elsewhere.
func siteRel(site, rel string) (string, bool) {
	if rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || rel == "." || strings.HasPrefix(rel, "../") || rel == ".." || strings.Contains(rel, "\\") {
		return "", false
	}
	return filepath.Join(site, filepath.FromSlash(rel)), true
}

// Recover finishes or undoes a transaction that a killed kernel left in
// the site folder, under the folder's lock. It reports what it did ("" when
// there was nothing to do).
func (s Site) Recover() (string, error) {
	unlock, err := s.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	return s.recover()
}

// recover runs with the lock held.
func (s Site) recover() (string, error) {
	var recs []record
	f, err := os.Open(filepath.Join(s.Dir, journalName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", err
	default:
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			var r record
			if json.Unmarshal(sc.Bytes(), &r) != nil {
				break // a torn last line: the rename it announced never ran
			}
			recs = append(recs, r)
		}
		f.Close()
	}
	committed := false
	var emptied []string
	for _, r := range recs {
		committed = committed || r.Commit
		emptied = append(emptied, r.Emptied...)
	}
	did := ""
	if len(recs) > 0 {
		if committed {
			did = "finished an interrupted transaction"
			removeEmptied(s.Dir, emptied)
		} else {
			did = "rolled back an interrupted transaction"
			for i := len(recs) - 1; i >= 0; i-- {
				m := recs[i].Move
				if m == nil {
					continue
				}
				from, ok1 := siteRel(s.Dir, m[0])
				to, ok2 := siteRel(s.Dir, m[1])
				if !ok1 || !ok2 {
					continue
				}
				_, errTo := os.Lstat(to)
				_, errFrom := os.Lstat(from)
				if errTo != nil || !errors.Is(errFrom, fs.ErrNotExist) {
					continue // that rename never happened
				}
				if err := os.MkdirAll(filepath.Dir(from), 0o755); err != nil {
					return "", err
				}
				if err := os.Rename(to, from); err != nil {
					return "", fmt.Errorf("rolling back %s: %w", m[0], err)
				}
			}
		}
	}
	// Scratch folders hold nothing the site needs once the journal is
	// replayed (or when there was none: they were made before any rename).
	ents, err := os.ReadDir(s.Dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, stagingPrefix) || strings.HasPrefix(n, trashPrefix) {
			if err := os.RemoveAll(filepath.Join(s.Dir, n)); err != nil {
				return "", err
			}
			if did == "" {
				did = "removed scratch folders of an interrupted transaction"
			}
		}
	}
	if err := os.Remove(filepath.Join(s.Dir, journalName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	return did, nil
}

// removeEmptied removes the folders that removed files leave empty,
// deepest first; os.Remove leaves a folder that still holds something.
func removeEmptied(site string, files []string) {
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	sort.Slice(list, func(i, j int) bool { return strings.Count(list[i], "/") > strings.Count(list[j], "/") })
	for _, d := range list {
		if p, ok := siteRel(site, d); ok {
			_ = os.Remove(p)
		}
	}
}
