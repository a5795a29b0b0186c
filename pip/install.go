package pip

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// Site is a folder of installed distributions (a site-packages). Only the
// host writes it: the guest sees it through a read-only mount. Every
// change (install, upgrade, uninstall) is one transaction under an flock
// on the folder: files are staged beside their destination, the ones they
// replace are moved aside, and a failure at any step moves everything
// back, so the folder is as it was or as asked, never half of each.
type Site struct {
	Dir string
}

// lockName is the lock file in the site folder; the guest may read it,
// which tells it nothing.
const lockName = ".wasipy-lock"

// Normalize is PEP 503's normalized project name.
func Normalize(name string) string {
	return strings.ToLower(normRun.ReplaceAllString(name, "-"))
}

var normRun = regexp.MustCompile(`[-_.]+`)

// Installed is one distribution in the site folder.
type Installed struct {
	Name, Version string
	DistInfo      string   // folder name beneath the site
	Files         []string // from RECORD, relative, slash-separated
}

func (s Site) lock() (func(), error) {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// List reads the distributions installed in the site folder.
func (s Site) List() ([]Installed, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Installed
	for _, e := range ents {
		if !e.IsDir() || !strings.HasSuffix(e.Name(), ".dist-info") {
			continue
		}
		d, err := s.read(e.Name())
		if err != nil {
			continue // not one of ours, or damaged: not touched
		}
		out = append(out, d)
	}
	return out, nil
}

func (s Site) read(distInfo string) (Installed, error) {
	meta, err := os.ReadFile(filepath.Join(s.Dir, distInfo, "METADATA"))
	if err != nil {
		return Installed{}, err
	}
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(append(meta, '\n', '\n'))))
	if err != nil {
		return Installed{}, fmt.Errorf("%s/METADATA: %v", distInfo, err)
	}
	d := Installed{Name: msg.Header.Get("Name"), Version: msg.Header.Get("Version"), DistInfo: distInfo}
	if d.Name == "" {
		return Installed{}, fmt.Errorf("%s/METADATA has no Name", distInfo)
	}
	rec, err := os.ReadFile(filepath.Join(s.Dir, distInfo, "RECORD"))
	if err != nil {
		return Installed{}, err
	}
	r := csv.NewReader(bytes.NewReader(rec))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return Installed{}, fmt.Errorf("%s/RECORD: %v", distInfo, err)
	}
	for _, row := range rows {
		if len(row) == 0 || checkMember(row[0]) != nil {
			continue // never act on a path that could leave the folder
		}
		d.Files = append(d.Files, row[0])
	}
	return d, nil
}

// Request is one wheel of a transaction.
type Request struct {
	Filename  string
	Data      []byte
	Requested bool // asked for by name (REQUESTED), not only a dependency
}

// Install unpacks the wheels and removes the distributions named in
// remove (and any installed distribution of a wheel's name), as one
// transaction. It returns "name-version" of what it installed and of
// what it removed.
func (s Site) Install(reqs []Request, remove []string) (installed, removed []string, err error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	if _, err := s.recover(); err != nil {
		return nil, nil, fmt.Errorf("recovering an interrupted transaction: %w", err)
	}
	wheels := make([]*Wheel, len(reqs))
	drop := map[string]bool{}
	for _, n := range remove {
		drop[Normalize(n)] = true
	}
	for i, r := range reqs {
		if wheels[i], err = OpenWheel(r.Filename, r.Data); err != nil {
			return nil, nil, err
		}
		drop[Normalize(wheels[i].Name)] = true
	}
	current, err := s.List()
	if err != nil {
		return nil, nil, err
	}
	tx := &transaction{site: s.Dir}
	defer tx.cleanup()
	if tx.journal, err = openJournal(s.Dir); err != nil {
		return nil, nil, err
	}
	if tx.staging, err = os.MkdirTemp(s.Dir, stagingPrefix); err != nil {
		return nil, nil, err
	}
	if tx.trash, err = os.MkdirTemp(s.Dir, trashPrefix); err != nil {
		return nil, nil, err
	}
	if err := tx.journal.write(record{Staging: filepath.Base(tx.staging), Trash: filepath.Base(tx.trash)}, false); err != nil {
		return nil, nil, err
	}
	reach("begun")
	for i, w := range wheels {
		if err := unpack(w, tx.staging, reqs[i].Requested); err != nil {
			return nil, nil, err
		}
		installed = append(installed, w.Name+"-"+w.Version)
	}
	reach("staged")
	for _, d := range current {
		if !drop[Normalize(d.Name)] {
			continue
		}
		removed = append(removed, d.Name+"-"+d.Version)
		for _, f := range d.Files {
			if err := tx.move(filepath.Join(s.Dir, filepath.FromSlash(f)), filepath.Join(tx.trash, filepath.FromSlash(f)), true); err != nil {
				tx.rollback()
				return nil, nil, err
			}
		}
		tx.emptied = append(tx.emptied, d.Files...)
	}
	if len(tx.emptied) > 0 {
		if err := tx.journal.write(record{Emptied: tx.emptied}, false); err != nil {
			tx.rollback()
			return nil, nil, err
		}
	}
	if err := tx.merge(tx.staging, s.Dir); err != nil {
		tx.rollback()
		return nil, nil, err
	}
	reach("merged")
	// The point of no return: from here a killed kernel's transaction is
	// finished, not undone, by the next one.
	if err := tx.journal.write(record{Commit: true}, true); err != nil {
		tx.rollback()
		return nil, nil, err
	}
	tx.committed = true
	reach("committed")
	return installed, removed, nil
}

// Uninstall removes the named distributions as one transaction and
// returns "name-version" of each; a name not installed is an error.
func (s Site) Uninstall(names []string) ([]string, error) {
	current, err := s.List()
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, d := range current {
		have[Normalize(d.Name)] = true
	}
	for _, n := range names {
		if !have[Normalize(n)] {
			return nil, fmt.Errorf("%s is not installed", n)
		}
	}
	_, removed, err := s.Install(nil, names)
	return removed, err
}

// transaction is a journal of renames that rollback undoes, newest first.
type transaction struct {
	site, staging, trash string
	journal              *journal
	done                 [][2]string
	emptied              []string // files moved away: their folders may now be empty
	committed            bool
}

func (t *transaction) move(from, to string, missingOK bool) error {
	if _, err := os.Lstat(from); errors.Is(err, fs.ErrNotExist) && missingOK {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	relFrom, err1 := filepath.Rel(t.site, from)
	relTo, err2 := filepath.Rel(t.site, to)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("%s: outside the site folder", from)
	}
	if err := t.journal.write(record{Move: &[2]string{filepath.ToSlash(relFrom), filepath.ToSlash(relTo)}}, false); err != nil {
		return err
	}
	if err := os.Rename(from, to); err != nil {
		return err
	}
	t.done = append(t.done, [2]string{from, to})
	reach("moved")
	return nil
}

// merge moves src's entries into dst: a folder dst lacks moves whole, a
// folder both have (a namespace package) is merged, and a file dst has
// already belongs to another distribution: a conflict.
func (t *transaction) merge(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		st, err := os.Lstat(to)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := t.move(from, to, false); err != nil {
				return err
			}
		case err != nil:
			return err
		case e.IsDir() && st.IsDir():
			if err := t.merge(from, to); err != nil {
				return err
			}
		default:
			rel, _ := filepath.Rel(t.staging, from)
			return fmt.Errorf("%s is already installed by another package; uninstall that one first", filepath.ToSlash(rel))
		}
	}
	return nil
}

func (t *transaction) rollback() {
	for i := len(t.done) - 1; i >= 0; i-- {
		_ = os.Rename(t.done[i][1], t.done[i][0])
	}
	t.done = nil
}

// cleanup removes the staging and trash folders and, after a commit, the
// folders that the removed distributions left empty; then the journal,
// which ends the transaction.
func (t *transaction) cleanup() {
	if t.staging != "" {
		_ = os.RemoveAll(t.staging)
	}
	if t.trash != "" {
		_ = os.RemoveAll(t.trash)
	}
	if t.committed {
		removeEmptied(t.site, t.emptied)
	}
	if t.journal != nil {
		reach("cleaned")
		t.journal.done(t.site)
	}
}

// unpack writes a wheel's files beneath dir, with INSTALLER, REQUESTED
// (when asked for by name) and a RECORD of what was written.
func unpack(w *Wheel, dir string, requested bool) error {
	var record [][]string
	for _, f := range w.zr.File {
		if f.Mode().IsDir() || strings.HasSuffix(f.Name, "/") {
			continue
		}
		if f.Name == w.DistInfo+"/RECORD" || strings.HasPrefix(f.Name, w.DistInfo+"/RECORD.") {
			continue
		}
		dest := w.destination(f.Name)
		if dest == "" {
			continue
		}
		data, err := w.read(f.Name, MaxUnpacked)
		if err != nil {
			return err
		}
		if err := writeNew(dir, dest, data); err != nil {
			return err
		}
		record = append(record, recordRow(dest, data))
	}
	extra := map[string][]byte{w.DistInfo + "/INSTALLER": []byte("wasipy\n")}
	if requested {
		extra[w.DistInfo+"/REQUESTED"] = nil
	}
	for name, data := range extra {
		if err := writeNew(dir, name, data); err != nil {
			return err
		}
		record = append(record, recordRow(name, data))
	}
	record = append(record, []string{w.DistInfo + "/RECORD", "", ""})
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.WriteAll(record)
	return writeNew(dir, w.DistInfo+"/RECORD", buf.Bytes())
}

func recordRow(name string, data []byte) []string {
	sum := sha256.Sum256(data)
	return []string{name, "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]), fmt.Sprint(len(data))}
}

// writeNew creates dir/rel; O_EXCL, so two members naming one file (a
// purelib file and a root file of the same path) is an error, not an
// overwrite.
func writeNew(dir, rel string, data []byte) error {
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %v", rel, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
