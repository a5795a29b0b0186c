package kernelcmd

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/wasipy/wasipy/kernelspec"
)

// ksRun runs the kernelspec subcommand and returns its exit status and
// outputs.
func ksRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runKernelspec(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// ksReadSpec reads dir/kernel.json.
func ksReadSpec(t *testing.T, dir string) kernelspec.Spec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s kernelspec.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// ksFakeWasm writes a file that passes the WebAssembly magic check.
func ksFakeWasm(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "python.wasm")
	if err := os.WriteFile(p, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func ksSelf(t *testing.T) string {
	t.Helper()
	exe, err := kernelspecExecutable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestKernelspecWrite(t *testing.T) {
	data := t.TempDir()
	t.Setenv("WASIPY_DATA_DIR", data)
	dir := filepath.Join(t.TempDir(), "out", "wasipy")
	code, stdout, stderr := ksRun(t, "--write", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, dir) {
		t.Errorf("stdout %q does not name %s", stdout, dir)
	}
	s := ksReadSpec(t, dir)
	want := []string{ksSelf(t), "--site-dir", filepath.Join(data, "site", "wasipy"), "--connection-file", "{connection_file}"}
	if !reflect.DeepEqual(s.Argv, want) {
		t.Errorf("argv = %q, want %q", s.Argv, want)
	}
	if !filepath.IsAbs(s.Argv[0]) {
		t.Errorf("argv[0] %q is not absolute", s.Argv[0])
	}
	for _, logo := range []string{"logo-32x32.png", "logo-64x64.png", "logo-svg.svg"} {
		if _, err := os.Stat(filepath.Join(dir, logo)); err != nil {
			t.Error(err)
		}
	}
}

func TestKernelspecPythonWasmIsAbsolute(t *testing.T) {
	wasm := ksFakeWasm(t)
	t.Chdir(filepath.Dir(wasm))
	dir := t.TempDir()
	code, _, stderr := ksRun(t, "--write", dir, "--python-wasm", "python.wasm")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := ksReadSpec(t, dir).Argv
	// t.TempDir may sit behind a symlink (macOS); compare resolved paths.
	wantWasm, _ := filepath.EvalSymlinks(wasm)
	if len(got) != 7 || got[1] != "--python-wasm" || got[3] != "--site-dir" || got[5] != "--connection-file" {
		t.Fatalf("argv = %q", got)
	}
	if gotWasm, _ := filepath.EvalSymlinks(got[2]); !filepath.IsAbs(got[2]) || gotWasm != wantWasm {
		t.Errorf("--python-wasm argument %q, want absolute %q", got[2], wasm)
	}
}

func TestKernelspecPythonWasmChecked(t *testing.T) {
	notWasm := filepath.Join(t.TempDir(), "python.wasm")
	if err := os.WriteFile(notWasm, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(t.TempDir(), "missing.wasm"), notWasm, t.TempDir()} {
		code, _, stderr := ksRun(t, "--write", t.TempDir(), "--python-wasm", p)
		if code != 1 || !strings.Contains(stderr, "--python-wasm") {
			t.Errorf("--python-wasm %s: exit %d, stderr %q", p, code, stderr)
		}
	}
}

func TestKernelspecInstallUser(t *testing.T) {
	data := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", data)
	wasm := ksFakeWasm(t)
	for i := 0; i < 2; i++ { // twice: installing is idempotent
		code, stdout, stderr := ksRun(t, "--install", "--user", "--python-wasm", wasm)
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, code, stderr)
		}
		dir := filepath.Join(data, "kernels", "wasipy")
		if !strings.Contains(stdout, dir) {
			t.Errorf("stdout %q does not name %s", stdout, dir)
		}
		if argv := ksReadSpec(t, dir).Argv; len(argv) != 7 || argv[2] != wasm {
			t.Errorf("argv = %q", argv)
		}
	}
}

func TestKernelspecInstallDefaultsToUser(t *testing.T) {
	data := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", data)
	if code, _, stderr := ksRun(t, "--install", "--name", "wasipy-test"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	ksReadSpec(t, filepath.Join(data, "kernels", "wasipy-test"))
}

func TestKernelspecInstallPrefix(t *testing.T) {
	prefix := t.TempDir()
	if code, _, stderr := ksRun(t, "--install", "--prefix", prefix); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	ksReadSpec(t, filepath.Join(prefix, "share", "jupyter", "kernels", "wasipy"))
}

func TestKernelspecInstallSysPrefix(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses a shell script as python3")
	}
	prefix := t.TempDir()
	bin := t.TempDir()
	script := "#!/bin/sh\necho " + prefix + "\n"
	if err := os.WriteFile(filepath.Join(bin, "python3"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	if code, _, stderr := ksRun(t, "--install", "--sys-prefix"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	ksReadSpec(t, filepath.Join(prefix, "share", "jupyter", "kernels", "wasipy"))

	t.Setenv("PATH", t.TempDir())
	code, _, stderr := ksRun(t, "--install", "--sys-prefix")
	if code != 1 || !strings.Contains(stderr, "python3") {
		t.Errorf("without python3: exit %d, stderr %q", code, stderr)
	}
}

// Each kernelspec names its own package folder in argv: the data dir's
// site/NAME, NAME the kernel's name however it is given; --site-dir
// overrides it.
func TestKernelspecSiteDirPerKernelspec(t *testing.T) {
	data := t.TempDir()
	t.Setenv("WASIPY_DATA_DIR", data)
	t.Setenv("JUPYTER_DATA_DIR", t.TempDir())
	siteOf := func(argv []string) string {
		for i, a := range argv {
			if a == "--site-dir" && i+1 < len(argv) {
				return argv[i+1]
			}
		}
		t.Fatalf("no --site-dir in %q", argv)
		return ""
	}
	sites := map[string]bool{}
	for _, name := range []string{"wasipy", "wasipy-b"} {
		code, stdout, stderr := ksRun(t, "--install", "--name", name)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		got := siteOf(ksReadSpec(t, strings.TrimSpace(strings.SplitN(stdout, " in ", 2)[1])).Argv)
		if got != filepath.Join(data, "site", name) {
			t.Errorf("--name %s: site %s", name, got)
		}
		sites[got] = true
	}
	if len(sites) != 2 {
		t.Errorf("two kernelspecs share a site folder: %v", sites)
	}
	dir := filepath.Join(t.TempDir(), "written-name")
	if code, _, stderr := ksRun(t, "--write", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := siteOf(ksReadSpec(t, dir).Argv); got != filepath.Join(data, "site", "written-name") {
		t.Errorf("--write %s: site %s", dir, got)
	}
	own := filepath.Join(t.TempDir(), "mine")
	if code, _, stderr := ksRun(t, "--write", dir, "--site-dir", own); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := siteOf(ksReadSpec(t, dir).Argv); got != own {
		t.Errorf("--site-dir %s: site %s", own, got)
	}
	if code, _, _ := ksRun(t, "--site-dir", ""); code != 2 {
		t.Errorf("an empty --site-dir: exit %d, want 2", code)
	}
}

// A kernel started without --site-dir takes its kernelspec's folder from
// the connection file's kernel_name.
func TestSiteDirFromConnectionFile(t *testing.T) {
	data := t.TempDir()
	t.Setenv("WASIPY_DATA_DIR", data)
	conn := filepath.Join(t.TempDir(), "kernel.json")
	write := func(name string) {
		body := `{"transport":"tcp","ip":"127.0.0.1","shell_port":1,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5,"key":"k","signature_scheme":"hmac-sha256","kernel_name":` + strconvQuote(name) + `}`
		if err := os.WriteFile(conn, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{"py-a": "py-a", "Py-B": "py-b", "": "default", "../../etc": "default"} {
		write(name)
		if got := siteDirFor(conn); got != filepath.Join(data, "site", want) {
			t.Errorf("kernel_name %q: %s, want site/%s", name, got, want)
		}
	}
	if got := siteDirFor(filepath.Join(t.TempDir(), "missing.json")); got != filepath.Join(data, "site", "default") {
		t.Errorf("no connection file: %s", got)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestKernelspecPrintsSpec(t *testing.T) {
	code, stdout, stderr := ksRun(t)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s kernelspec.Spec
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("stdout is not kernel.json: %v\n%s", err, stdout)
	}
	if s.InterruptMode != "message" {
		t.Errorf("spec = %+v", s)
	}
}

func TestKernelspecHelp(t *testing.T) {
	code, stdout, _ := ksRun(t, "--help")
	if code != 0 || !strings.Contains(stdout, "--python-wasm") {
		t.Errorf("--help: exit %d, stdout %q", code, stdout)
	}
}

func TestKernelspecUsageErrors(t *testing.T) {
	cases := [][]string{
		{"--write", t.TempDir(), "--install"},
		{"--write", ""},
		{"--install", "--user", "--prefix", "/p"},
		{"--install", "--sys-prefix", "--user"},
		{"--user"},
		{"--write", t.TempDir(), "--prefix", "/p"},
		{"--name", "x"},
		{"--install", "--name", "../evil"},
		{"--install", "--prefix", ""},
		{"--python-wasm", ""},
		{"--bogus"},
		{"extra"},
	}
	for _, args := range cases {
		code, _, stderr := ksRun(t, args...)
		if code != 2 || stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 with a message", args, code, stderr)
		}
	}
}

// Jupyter itself must accept what --install writes, when a Python with
// jupyter_client is around.
func TestKernelspecJupyterReadsIt(t *testing.T) {
	var python string
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if path, err := exec.LookPath(p); err == nil &&
			exec.Command(path, "-c", "import jupyter_client").Run() == nil {
			python = path
			break
		}
	}
	if python == "" {
		t.Skip("no python3 with jupyter_client")
	}
	data := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", data)
	t.Setenv("JUPYTER_PATH", "") // it would be searched before the data dir
	if code, _, stderr := ksRun(t, "--install"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	out, err := exec.Command(python, "-c", `
import json
from jupyter_client.kernelspec import KernelSpecManager
m = KernelSpecManager()
s = m.get_kernel_spec("wasipy")
print(json.dumps({"dir": s.resource_dir, "spec": s.to_dict()}))
`).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("jupyter_client: %v\n%s%s", err, out, stderr)
	}
	var got struct {
		Dir  string
		Spec map[string]any
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Dir != filepath.Join(data, "kernels", "wasipy") ||
		got.Spec["display_name"] != kernelspec.DisplayName ||
		got.Spec["interrupt_mode"] != "message" {
		t.Errorf("jupyter_client sees %+v", got)
	}
}
