package pip

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/fetch"
)

// wheel builds a wheel of files with a correct RECORD unless badRecord.
func wheel(t *testing.T, name, version string, files map[string]string, badRecord bool) (string, []byte) {
	t.Helper()
	di := name + "-" + version + ".dist-info"
	all := map[string]string{di + "/METADATA": "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n", di + "/WHEEL": "Wheel-Version: 1.0\n"}
	for k, v := range files {
		all[k] = v
	}
	var rec strings.Builder
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		data := all[k]
		if badRecord && !strings.Contains(k, ".dist-info") {
			data += "changed"
		}
		s := sha256.Sum256([]byte(data))
		fmt.Fprintf(&rec, "%s,sha256=%s,%d\n", k, base64.RawURLEncoding.EncodeToString(s[:]), len(data))
	}
	all[di+"/RECORD"] = rec.String()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	for _, k := range append(names, di+"/RECORD") {
		w, err := z.Create(k)
		require.NoError(t, err)
		_, _ = w.Write([]byte(all[k]))
	}
	require.NoError(t, z.Close())
	return name + "-" + version + "-py3-none-any.whl", buf.Bytes()
}

func TestOpenWheelRefusesUnsafeMembers(t *testing.T) {
	for _, bad := range []string{"../evil.py", "/abs.py", "a/../../b.py", "a\\b.py", "c:x.py", ".wasipy-lock", "pkg/./x.py"} {
		fn, data := wheel(t, "p", "1.0", map[string]string{bad: "x"}, false)
		_, err := OpenWheel(fn, data)
		require.Error(t, err, bad)
	}
}

func TestOpenWheelChecksRecordAndTags(t *testing.T) {
	fn, data := wheel(t, "p", "1.0", map[string]string{"p.py": "x = 1"}, true)
	_, err := OpenWheel(fn, data)
	require.ErrorContains(t, err, "does not match its RECORD hash")

	fn, data = wheel(t, "p", "1.0", map[string]string{"p.py": "x = 1"}, false)
	w, err := OpenWheel(fn, data)
	require.NoError(t, err)
	require.Contains(t, string(w.Metadata), "Name: p")

	_, err = OpenWheel("p-1.0-cp313-cp313-linux_x86_64.whl", data)
	require.ErrorContains(t, err, "cannot load C extensions")
	_, err = OpenWheel("p-1.0-py3-none-any.whl", []byte("not a zip"))
	require.ErrorContains(t, err, "not a zip")
}

func TestInstallUpgradeUninstall(t *testing.T) {
	s := Site{Dir: t.TempDir()}
	fn, data := wheel(t, "p", "1.0", map[string]string{"p/__init__.py": "v = 1", "p/old.py": ""}, false)
	inst, rem, err := s.Install([]Request{{Filename: fn, Data: data, Requested: true}}, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"p-1.0"}, inst)
	require.Empty(t, rem)
	require.FileExists(t, filepath.Join(s.Dir, "p-1.0.dist-info", "REQUESTED"))
	installer, _ := os.ReadFile(filepath.Join(s.Dir, "p-1.0.dist-info", "INSTALLER"))
	require.Equal(t, "wasipy\n", string(installer))

	fn, data = wheel(t, "p", "2.0", map[string]string{"p/__init__.py": "v = 2"}, false)
	_, rem, err = s.Install([]Request{{Filename: fn, Data: data}}, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"p-1.0"}, rem)
	got, _ := os.ReadFile(filepath.Join(s.Dir, "p", "__init__.py"))
	require.Equal(t, "v = 2", string(got))
	require.NoFileExists(t, filepath.Join(s.Dir, "p", "old.py"))
	require.NoDirExists(t, filepath.Join(s.Dir, "p-1.0.dist-info"))

	rem, err = s.Uninstall([]string{"P"})
	require.NoError(t, err)
	require.Equal(t, []string{"p-2.0"}, rem)
	require.NoDirExists(t, filepath.Join(s.Dir, "p"))
	_, err = s.Uninstall([]string{"p"})
	require.ErrorContains(t, err, "not installed")
}

// A transaction that fails half-way (the second wheel's file belongs to
// another installed distribution) leaves the site folder as it was.
func TestInstallIsAtomic(t *testing.T) {
	s := Site{Dir: t.TempDir()}
	fn, data := wheel(t, "owner", "1.0", map[string]string{"shared.py": "mine"}, false)
	_, _, err := s.Install([]Request{{Filename: fn, Data: data}}, nil)
	require.NoError(t, err)
	fn1, d1 := wheel(t, "p", "1.0", map[string]string{"p.py": ""}, false)
	before := tree(t, s.Dir)
	fn2, d2 := wheel(t, "q", "1.0", map[string]string{"shared.py": "theirs"}, false)
	_, _, err = s.Install([]Request{{Filename: fn1, Data: d1}, {Filename: fn2, Data: d2}}, []string{})
	require.ErrorContains(t, err, "shared.py is already installed by another package")
	require.Equal(t, before, tree(t, s.Dir))
}

func tree(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		out[strings.TrimPrefix(p, dir)] = string(data)
		return nil
	}))
	return out
}

func TestDownloadVerifiesHashAndCaches(t *testing.T) {
	fn, data := wheel(t, "p", "1.0", map[string]string{"p.py": ""}, false)
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++; _, _ = w.Write(data) }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	in := &Installer{Site: Site{Dir: t.TempDir()}, Cache: Cache{Dir: t.TempDir()}, Policy: fetch.Policy{Allow: []string{u.Host}}}
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])

	_, err := in.Download(context.Background(), srv.URL+"/"+fn, fn, strings.Repeat("0", 64))
	require.ErrorContains(t, err, "does not match the hash")
	_, ok := in.Cache.Get(strings.Repeat("0", 64))
	require.False(t, ok)

	f, err := in.Download(context.Background(), srv.URL+"/"+fn, fn, good)
	require.NoError(t, err)
	require.False(t, f.Cached)
	f, err = in.Download(context.Background(), srv.URL+"/"+fn, fn, good)
	require.NoError(t, err)
	require.True(t, f.Cached)
	require.Equal(t, 2, hits)

	// A damaged cache entry is not used.
	require.NoError(t, os.WriteFile(filepath.Join(in.Cache.Dir, good+".whl"), []byte("tampered"), 0o600))
	f, err = in.Download(context.Background(), srv.URL+"/"+fn, fn, good)
	require.NoError(t, err)
	require.False(t, f.Cached)

	denied := &Installer{Cache: Cache{Dir: t.TempDir()}}
	_, err = denied.Download(context.Background(), srv.URL+"/"+fn, fn, good)
	require.ErrorContains(t, err, "--allow-net")
	require.Equal(t, 3, hits)
}

func TestParsePreload(t *testing.T) {
	got, err := ParsePreload(" six , tabulate>=0.8,")
	require.NoError(t, err)
	require.Equal(t, []string{"six", "tabulate>=0.8"}, got)
	p := filepath.Join(t.TempDir(), "req.txt")
	require.NoError(t, os.WriteFile(p, []byte("# c\nsix  # why\n\nidna==3.3\n"), 0o600))
	got, err = ParsePreload(p)
	require.NoError(t, err)
	require.Equal(t, []string{"six", "idna==3.3"}, got)
}
