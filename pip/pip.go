// Package pip is the host side of %pip and wasipy.pip: it downloads
// wheels through Go's net/http under the kernel's --allow-net policy,
// checks their hashes, keeps them in a download cache shared between
// kernels, and installs them into the site folder, which the guest sees
// read-only. The guest resolves (with packaging and resolvelib, see
// interp/runtime/_wasipy_pip.py); every write happens here, with the
// host's authority, and only beneath the site folder and the cache.
package pip

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/wasipy/wasipy/fetch"
	"github.com/wasipy/wasipy/interp"
)

// ModuleName is the Go module's name in Python.
const ModuleName = "_wasipy_pip_host"

// MaxPage caps an index page.
const MaxPage = 64 << 20

// Installer is what a kernel needs to install packages.
type Installer struct {
	Site  Site
	Cache Cache
	// Policy says which hosts downloads may reach (the kernel's
	// --allow-net, the same as wasipy.http's).
	Policy fetch.Policy
	// Client makes the requests; nil means a client with a 5-minute
	// timeout per request.
	Client *http.Client

	transfers transfers
}

// Cache is a folder of wheels named by their SHA-256, shared by every
// kernel of the user. A file is trusted only after its content hashes to
// its name, on every read.
type Cache struct {
	Dir string
}

var hexSHA = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Get returns the wheel with this SHA-256, if the cache holds it intact.
func (c Cache) Get(sum string) ([]byte, bool) {
	if c.Dir == "" || !hexSHA.MatchString(sum) {
		return nil, false
	}
	p := filepath.Join(c.Dir, sum+".whl")
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
		_ = os.Remove(p) // damaged: fetched again next time
		return nil, false
	}
	return data, true
}

// Put stores data under its SHA-256 (written to a temporary name, then
// renamed, so a reader never sees half a file).
func (c Cache) Put(data []byte) string {
	s := sha256.Sum256(data)
	sum := hex.EncodeToString(s[:])
	if c.Dir == "" {
		return sum
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return sum
	}
	f, err := os.CreateTemp(c.Dir, ".part-")
	if err != nil {
		return sum
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), filepath.Join(c.Dir, sum+".whl")) != nil {
		_ = os.Remove(f.Name())
	}
	return sum
}

func (in *Installer) client() *http.Client {
	c := http.Client{Timeout: 5 * time.Minute}
	if in.Client != nil {
		c = *in.Client
	}
	policy := in.Policy
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if !policy.Allows(req.URL) {
			return denied(policy, req.URL)
		}
		return nil
	}
	return &c
}

func denied(p fetch.Policy, u *url.URL) error {
	return &interp.GuestError{Type: "PermissionError", Message: fmt.Sprintf(
		"%s is not allowed: the kernel may reach only the hosts of its --allow-net option (%s); start it with --allow-net %s to install from there",
		u.Redacted(), strings.Join(p.Allow, ","), u.Host)}
}

// get fetches an http(s) URL that the policy allows, up to limit bytes,
// counting what has arrived in prog (nil: not counted).
func (in *Installer) get(ctx context.Context, raw, accept string, limit int64, prog *progress) (*http.Response, []byte, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, &interp.GuestError{Type: "ValueError", Message: fmt.Sprintf("not an http(s) URL: %q", raw)}
	}
	if !in.Policy.Allows(u) {
		return nil, nil, denied(in.Policy, u)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return nil, nil, &interp.GuestError{Type: "ValueError", Message: err.Error()}
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := in.client().Do(req)
	if err != nil {
		var ge *interp.GuestError
		if errors.As(err, &ge) {
			return nil, nil, ge
		}
		return nil, nil, &interp.GuestError{Type: "ConnectionError", Message: fmt.Sprintf("%s: %v", u.Redacted(), err)}
	}
	defer resp.Body.Close()
	var body io.Reader = io.LimitReader(resp.Body, limit+1)
	if prog != nil {
		prog.total.Store(resp.ContentLength)
		body = &countingReader{r: body, n: &prog.done}
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, nil, &interp.GuestError{Type: "ConnectionError", Message: fmt.Sprintf("%s: %v", u.Redacted(), err)}
	}
	if int64(len(data)) > limit {
		return nil, nil, &interp.GuestError{Type: "OSError", Message: fmt.Sprintf("%s: over %d bytes", u.Redacted(), limit)}
	}
	return resp, data, nil
}

// Page fetches an index page (PEP 503 HTML or PEP 691 JSON).
func (in *Installer) Page(ctx context.Context, raw, accept string) (map[string]any, error) {
	resp, data, err := in.get(ctx, raw, accept, MaxPage, nil)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"url":          resp.Request.URL.String(),
		"status":       int64(resp.StatusCode),
		"content_type": resp.Header.Get("Content-Type"),
		"body":         data,
	}, nil
}

// Fetched is a checked wheel in the cache.
type Fetched struct {
	SHA256   string
	Metadata []byte
	Size     int
	Cached   bool
}

// Download fetches a wheel (or takes it from the cache when its SHA-256 is
// known), checks it against want (the index's hash; "" when the index gave
// none) and as a wheel, and caches it.
func (in *Installer) Download(ctx context.Context, raw, filename, want string) (*Fetched, error) {
	return in.download(ctx, raw, filename, want, nil)
}

func (in *Installer) download(ctx context.Context, raw, filename, want string, prog *progress) (*Fetched, error) {
	want = strings.ToLower(want)
	if data, ok := in.Cache.Get(want); ok {
		return in.check(filename, data, true)
	}
	resp, data, err := in.get(ctx, raw, "", MaxWheelSize, prog)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &interp.GuestError{Type: "ConnectionError", Message: fmt.Sprintf("%s: HTTP %s", resp.Request.URL.Redacted(), resp.Status)}
	}
	s := sha256.Sum256(data)
	if got := hex.EncodeToString(s[:]); want != "" && got != want {
		return nil, &interp.GuestError{Type: "ValueError", Message: fmt.Sprintf(
			"%s does not match the hash the index gave: expected sha256 %s, got %s. Nothing was installed", filename, want, got)}
	}
	f, err := in.check(filename, data, false)
	if err != nil {
		return nil, err
	}
	in.Cache.Put(data)
	return f, nil
}

// AddLocal takes a wheel file's bytes (from the notebook's folder or a
// --find-links folder), checks it and caches it.
func (in *Installer) AddLocal(filename string, data []byte) (*Fetched, error) {
	f, err := in.check(filename, data, false)
	if err != nil {
		return nil, err
	}
	in.Cache.Put(data)
	return f, nil
}

func (in *Installer) check(filename string, data []byte, cached bool) (*Fetched, error) {
	w, err := OpenWheel(filename, data)
	if err != nil {
		return nil, &interp.GuestError{Type: "ValueError", Message: err.Error()}
	}
	s := sha256.Sum256(data)
	return &Fetched{SHA256: hex.EncodeToString(s[:]), Metadata: w.Metadata, Size: len(data), Cached: cached}, nil
}

// InstallCached installs wheels that Download or AddLocal put in the
// cache, and removes the distributions named in remove, as one
// transaction.
func (in *Installer) InstallCached(items []CachedWheel, remove []string) (installed, removed []string, err error) {
	reqs := make([]Request, len(items))
	for i, it := range items {
		data, ok := in.Cache.Get(it.SHA256)
		if !ok {
			return nil, nil, fmt.Errorf("%s (sha256 %s) is not in the download cache", it.Filename, it.SHA256)
		}
		reqs[i] = Request{Filename: it.Filename, Data: data, Requested: it.Requested}
	}
	return in.Site.Install(reqs, remove)
}

// CachedWheel names a wheel in the cache.
type CachedWheel struct {
	Filename, SHA256 string
	Requested        bool
}
