package pip

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// Limits on what a wheel may hold: a wheel is untrusted bytes from an
// index (or from the notebook's folder), and the installer unpacks it with
// the host's authority.
const (
	MaxWheelSize   = 256 << 20 // compressed
	MaxUnpacked    = 1 << 30   // all files, uncompressed
	MaxWheelFiles  = 20000
	maxMetadataLen = 4 << 20
)

// wheelName is PEP 427's file name: name-version(-build)?-python-abi-platform.whl.
var wheelName = regexp.MustCompile(`^([A-Za-z0-9_.]+)-([A-Za-z0-9_.!+]+)(?:-[0-9][A-Za-z0-9_.]*)?-([A-Za-z0-9_.]+)-([A-Za-z0-9_.]+)-([A-Za-z0-9_.]+)\.whl$`)

// Wheel is a checked wheel: every member has a safe relative path, its
// dist-info folder is the one its file name promises, and every file the
// RECORD lists has the hash the RECORD gives.
type Wheel struct {
	Name, Version string // as in the file name (escaped, PEP 427)
	DistInfo      string // "name-version.dist-info"
	Metadata      []byte
	zr            *zip.Reader
}

// ParseFilename splits a wheel's file name and says whether its tags are
// ones a pure-Python interpreter can run (abi none, platform any).
func ParseFilename(name string) (dist, version string, pure bool, err error) {
	m := wheelName.FindStringSubmatch(name)
	if m == nil {
		return "", "", false, fmt.Errorf("%q is not a wheel file name", name)
	}
	pure = true
	for _, abi := range strings.Split(m[4], ".") {
		if abi != "none" {
			pure = false
		}
	}
	for _, plat := range strings.Split(m[5], ".") {
		if plat != "any" {
			pure = false
		}
	}
	return m[1], m[2], pure, nil
}

// OpenWheel checks data as a wheel named filename.
func OpenWheel(filename string, data []byte) (*Wheel, error) {
	dist, version, pure, err := ParseFilename(filename)
	if err != nil {
		return nil, err
	}
	if !pure {
		return nil, fmt.Errorf("%s is not a pure-Python wheel; wasipy's interpreter cannot load C extensions", filename)
	}
	if len(data) > MaxWheelSize {
		return nil, fmt.Errorf("%s: over %d bytes", filename, MaxWheelSize)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a zip archive: %v", filename, err)
	}
	if len(zr.File) > MaxWheelFiles {
		return nil, fmt.Errorf("%s: more than %d files", filename, MaxWheelFiles)
	}
	w := &Wheel{Name: dist, Version: version, zr: zr}
	// The dist-info folder's name is compared case-insensitively: the
	// file name's escaping and the folder's may differ in case only.
	want := strings.ToLower(dist + "-" + version + ".dist-info")
	var total uint64
	seen := map[string]bool{}
	for _, f := range zr.File {
		if err := checkMember(f.Name); err != nil {
			return nil, fmt.Errorf("%s: %v", filename, err)
		}
		if seen[strings.ToLower(f.Name)] {
			return nil, fmt.Errorf("%s: %q appears twice", filename, f.Name)
		}
		seen[strings.ToLower(f.Name)] = true
		if !f.Mode().IsRegular() && !f.Mode().IsDir() {
			return nil, fmt.Errorf("%s: %q is not a regular file", filename, f.Name)
		}
		total += f.UncompressedSize64
		if total > MaxUnpacked {
			return nil, fmt.Errorf("%s: unpacks to more than %d bytes", filename, MaxUnpacked)
		}
		top := strings.SplitN(f.Name, "/", 2)[0]
		if strings.HasSuffix(strings.ToLower(top), ".dist-info") && strings.ToLower(top) == want {
			w.DistInfo = top
		}
	}
	if w.DistInfo == "" {
		return nil, fmt.Errorf("%s: no %s-%s.dist-info folder", filename, dist, version)
	}
	if w.Metadata, err = w.read(w.DistInfo+"/METADATA", maxMetadataLen); err != nil {
		return nil, fmt.Errorf("%s: %v", filename, err)
	}
	if err := w.checkRecord(); err != nil {
		return nil, fmt.Errorf("%s: %v", filename, err)
	}
	return w, nil
}

// checkMember refuses names that could land outside the folder they are
// unpacked into, or that mean different things on different systems.
func checkMember(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.ContainsRune(name, 0) || strings.Contains(name, ":") {
		return fmt.Errorf("unsafe member name %q", name)
	}
	clean := path.Clean(strings.TrimSuffix(name, "/"))
	if clean != strings.TrimSuffix(name, "/") || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("unsafe member name %q", name)
	}
	for _, part := range strings.Split(clean, "/") {
		if part == ".." || part == "." || strings.HasPrefix(part, ".wasipy") {
			return fmt.Errorf("unsafe member name %q", name)
		}
	}
	return nil
}

func (w *Wheel) file(name string) *zip.File {
	for _, f := range w.zr.File {
		if f.Name == name {
			return f
		}
	}
	return nil
}

func (w *Wheel) read(name string, limit int64) ([]byte, error) {
	f := w.file(name)
	if f == nil {
		return nil, fmt.Errorf("no %s", name)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is over %d bytes", name, limit)
	}
	return data, nil
}

// checkRecord verifies every file against RECORD (PEP 376/427): a wheel
// whose contents were changed after it was built is refused. Every file
// but RECORD itself (and its signatures) must be listed.
func (w *Wheel) checkRecord() error {
	rec, err := w.read(w.DistInfo+"/RECORD", maxMetadataLen)
	if err != nil {
		return err
	}
	hashes := map[string]string{}
	r := csv.NewReader(bufio.NewReader(bytes.NewReader(rec)))
	r.FieldsPerRecord = -1
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("RECORD: %v", err)
		}
		if len(row) >= 2 {
			hashes[row[0]] = row[1]
		}
	}
	for _, f := range w.zr.File {
		if f.Mode().IsDir() || strings.HasSuffix(f.Name, "/") {
			continue
		}
		if f.Name == w.DistInfo+"/RECORD" || f.Name == w.DistInfo+"/RECORD.jws" || f.Name == w.DistInfo+"/RECORD.p7s" {
			continue
		}
		want, ok := hashes[f.Name]
		if !ok {
			return fmt.Errorf("%s is not in RECORD", f.Name)
		}
		algo, digest, ok := strings.Cut(want, "=")
		if !ok || algo != "sha256" {
			return fmt.Errorf("RECORD has no sha256 for %s", f.Name)
		}
		got, err := fileDigest(f)
		if err != nil {
			return err
		}
		if got != digest {
			return fmt.Errorf("%s does not match its RECORD hash", f.Name)
		}
	}
	return nil
}

func fileDigest(f *zip.File) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(rc, MaxUnpacked)); err != nil {
		return "", fmt.Errorf("%s: %v", f.Name, err)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)), nil
}

// destination maps a member to where it is installed beneath the site
// folder: purelib and platlib of the .data folder go to the root; the
// other .data schemes (scripts, headers, data) have no place in the
// sandbox and are skipped ("" returned).
func (w *Wheel) destination(name string) string {
	data := strings.TrimSuffix(w.DistInfo, ".dist-info") + ".data/"
	if !strings.HasPrefix(name, data) {
		return name
	}
	rest := strings.TrimPrefix(name, data)
	scheme, sub, _ := strings.Cut(rest, "/")
	if (scheme == "purelib" || scheme == "platlib") && sub != "" {
		return sub
	}
	return ""
}
