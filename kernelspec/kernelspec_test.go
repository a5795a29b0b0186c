package kernelspec

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
)

func TestNew(t *testing.T) {
	s := New("/opt/wasipy/bin/wasipy-kernel", []string{"--python-wasm", "/opt/wasipy/python.wasm"})
	want := []string{
		"/opt/wasipy/bin/wasipy-kernel",
		"--python-wasm", "/opt/wasipy/python.wasm",
		"--connection-file", "{connection_file}",
	}
	if !reflect.DeepEqual(s.Argv, want) {
		t.Errorf("Argv = %q, want %q", s.Argv, want)
	}
	if s.DisplayName != "Python 3.13 (wasipy)" || s.Language != "python" || s.InterruptMode != "message" {
		t.Errorf("spec = %+v", s)
	}
	if s.Metadata["debugger"] != true {
		t.Errorf("metadata = %v, want debugger true (the kernel has one)", s.Metadata)
	}
}

func TestNewMakesBinaryAbsolute(t *testing.T) {
	s := New("bin/wasipy-kernel", nil)
	if !filepath.IsAbs(s.Argv[0]) {
		t.Errorf("argv[0] = %q, want an absolute path", s.Argv[0])
	}
	if len(s.Argv) != 3 || s.Argv[1] != "--connection-file" || s.Argv[2] != "{connection_file}" {
		t.Errorf("Argv = %q", s.Argv)
	}
}

func TestMarshalFields(t *testing.T) {
	data, err := New("/k", nil).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"argv", "display_name", "language", "interrupt_mode", "metadata"} {
		if _, ok := m[k]; !ok {
			t.Errorf("kernel.json lacks %q: %s", k, data)
		}
	}
	if _, ok := m["env"]; ok {
		t.Errorf("empty env should be omitted: %s", data)
	}
	if !bytes.HasSuffix(data, []byte("}\n")) || !bytes.Contains(data, []byte("\n  \"argv\"")) {
		t.Errorf("kernel.json should be indented and end with a newline:\n%s", data)
	}
}

func TestWriteDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spec", "wasipy")
	s := New("/k", nil)
	s.Env = map[string]string{"A": "1"}
	if err := WriteDir(dir, s); err != nil {
		t.Fatal(err)
	}
	checkSpecDir(t, dir, s)
}

func checkSpecDir(t *testing.T, dir string, want Spec) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got Spec
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("kernel.json: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kernel.json = %+v, want %+v", got, want)
	}
	for name, size := range map[string]int{"logo-32x32.png": 32, "logo-64x64.png": 64} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Errorf("%s is %v, want %dx%d", name, b, size, size)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "logo-svg.svg"))
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		XMLName xml.Name
	}
	if err := xml.Unmarshal(svg, &root); err != nil || root.XMLName.Local != "svg" {
		t.Errorf("logo-svg.svg is not an SVG document (root %v, err %v)", root.XMLName, err)
	}
}

func TestInstallIdempotent(t *testing.T) {
	data := t.TempDir()
	s := New("/k", nil)
	dir, err := Install(data, "wasipy", s)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(data, "kernels", "wasipy"); dir != want {
		t.Errorf("Install returned %q, want %q", dir, want)
	}
	// A stray file from an older install must not survive a reinstall.
	if err := os.WriteFile(filepath.Join(dir, "stale.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := New("/k2", []string{"--python-wasm", "/p.wasm"})
	dir2, err := Install(data, "wasipy", s2)
	if err != nil {
		t.Fatal(err)
	}
	if dir2 != dir {
		t.Errorf("second Install returned %q, want %q", dir2, dir)
	}
	checkSpecDir(t, dir, s2)
	if _, err := os.Stat(filepath.Join(dir, "stale.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale file survived the reinstall: %v", err)
	}
	entries, err := os.ReadDir(filepath.Join(data, "kernels"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "wasipy" {
		t.Errorf("kernels/ holds %v, want only wasipy", entries)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("kernelspec dir mode = %v (%v), want 0755", fi.Mode().Perm(), err)
	}
}

func TestInstallRejectsBadNames(t *testing.T) {
	data := t.TempDir()
	for _, name := range []string{"", ".", "..", "a/b", "../x", "a b"} {
		if _, err := Install(data, name, New("/k", nil)); err == nil {
			t.Errorf("Install(%q) succeeded", name)
		}
	}
	for _, name := range []string{"wasipy", "wasipy-3.12", "My_Kernel"} {
		if !ValidName(name) {
			t.Errorf("ValidName(%q) = false", name)
		}
	}
}

func TestUserDataDirEnv(t *testing.T) {
	t.Setenv("JUPYTER_DATA_DIR", "/j")
	t.Setenv("XDG_DATA_HOME", "/xdg")
	if got := UserDataDir(); got != "/j" {
		t.Errorf("with JUPYTER_DATA_DIR: %q", got)
	}
	t.Setenv("JUPYTER_DATA_DIR", "")
	want := "/xdg/jupyter"
	if runtime.GOOS == "darwin" {
		home, _ := os.UserHomeDir()
		want = filepath.Join(home, "Library", "Jupyter")
	}
	if got := UserDataDir(); got != want {
		t.Errorf("with XDG_DATA_HOME: %q, want %q", got, want)
	}
}

func TestUserDataDirPlatforms(t *testing.T) {
	home := func() (string, error) { return "/home/u", nil }
	noHome := func() (string, error) { return "", errors.New("no home") }
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	cases := []struct {
		goos string
		env  map[string]string
		home func() (string, error)
		want string
	}{
		{"linux", nil, home, "/home/u/.local/share/jupyter"},
		{"linux", map[string]string{"XDG_DATA_HOME": "/x"}, home, "/x/jupyter"},
		{"linux", map[string]string{"JUPYTER_DATA_DIR": "/j", "XDG_DATA_HOME": "/x"}, home, "/j"},
		{"darwin", nil, home, "/home/u/Library/Jupyter"},
		{"darwin", map[string]string{"XDG_DATA_HOME": "/x"}, home, "/home/u/Library/Jupyter"},
		{"darwin", map[string]string{"JUPYTER_DATA_DIR": "/j"}, home, "/j"},
		{"freebsd", nil, home, "/home/u/.local/share/jupyter"},
		{"linux", nil, noHome, ".local/share/jupyter"},
	}
	for _, c := range cases {
		if got := userDataDir(env(c.env), c.goos, c.home); got != filepath.FromSlash(c.want) {
			t.Errorf("userDataDir(%v, %s) = %q, want %q", c.env, c.goos, got, c.want)
		}
	}
}

func TestPrefixDataDir(t *testing.T) {
	if got := PrefixDataDir("/opt/env"); got != filepath.FromSlash("/opt/env/share/jupyter") {
		t.Errorf("PrefixDataDir = %q", got)
	}
}

func TestSysPrefixDataDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses a shell script as python3")
	}
	bin := t.TempDir()
	script := "#!/bin/sh\necho /fake/prefix\n"
	if err := os.WriteFile(filepath.Join(bin, "python3"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	got, err := SysPrefixDataDir()
	if err != nil {
		t.Fatal(err)
	}
	if got != "/fake/prefix/share/jupyter" {
		t.Errorf("SysPrefixDataDir = %q", got)
	}
}

func TestSysPrefixDataDirNoPython(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := SysPrefixDataDir(); !errors.Is(err, ErrNoPython) {
		t.Errorf("err = %v, want ErrNoPython", err)
	}
}

func TestSysPrefixDataDirFailingPython(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses a shell script as python3")
	}
	bin := t.TempDir()
	script := "#!/bin/sh\necho broken >&2\nexit 3\n"
	if err := os.WriteFile(filepath.Join(bin, "python3"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	if _, err := SysPrefixDataDir(); err == nil || !bytes.Contains([]byte(err.Error()), []byte("broken")) {
		t.Errorf("err = %v, want one quoting python3's stderr", err)
	}
}

func TestSiteDirIsPerKernelspec(t *testing.T) {
	a, b := SiteDir("/d", "wasipy"), SiteDir("/d", "wasipy-other")
	if a != "/d/site/wasipy" || b != "/d/site/wasipy-other" {
		t.Fatalf("SiteDir: %s, %s", a, b)
	}
	if got := SiteDir("/d", "WasiPy"); got != a {
		t.Fatalf("kernel names are case-insensitive: %s", got)
	}
	for _, bad := range []string{"", "..", "../x", "a/b", "."} {
		if got := SiteDir("/d", bad); got != "/d/site/default" {
			t.Fatalf("SiteDir(%q) = %s, want the default folder", bad, got)
		}
	}
}
