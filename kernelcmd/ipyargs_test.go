package kernelcmd

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestSplitIPythonArgs(t *testing.T) {
	rest, o := splitIPythonArgs([]string{
		"--HistoryManager.hist_file=:memory:",
		"-f", "/tmp/conn.json",
		"--HistoryManager.enabled", "False",
		"--IPKernelApp.matplotlib=inline",
		"--log-level=debug",
		"--InlineBackend.rc", "--env", "A=B",
		"--", "--Not.parsed=1",
	})
	wantRest := []string{"-f", "/tmp/conn.json", "--log-level=debug", "--env", "A=B", "--", "--Not.parsed=1"}
	if !reflect.DeepEqual(rest, wantRest) {
		t.Fatalf("rest = %q, want %q", rest, wantRest)
	}
	if !o.HistFileSet || o.HistFile != ":memory:" {
		t.Errorf("hist_file = %q (set %v)", o.HistFile, o.HistFileSet)
	}
	if !o.HistEnabledSet || o.HistEnabled {
		t.Errorf("enabled = %v (set %v), want False", o.HistEnabled, o.HistEnabledSet)
	}
	wantIgnored := []string{"IPKernelApp.matplotlib=inline", "InlineBackend.rc (no value)"}
	if !reflect.DeepEqual(o.Ignored, wantIgnored) {
		t.Errorf("ignored = %q, want %q", o.Ignored, wantIgnored)
	}
}

func TestIPythonArgValues(t *testing.T) {
	_, o := splitIPythonArgs([]string{"--HistoryManager.hist_file=':memory:'", "--HistoryManager.enabled=maybe"})
	if o.HistFile != ":memory:" {
		t.Errorf("quoted hist_file = %q", o.HistFile)
	}
	if o.HistEnabledSet || len(o.Ignored) != 1 || !strings.Contains(o.Ignored[0], "not a boolean") {
		t.Errorf("bad boolean must be ignored, got set=%v ignored=%q", o.HistEnabledSet, o.Ignored)
	}
	env := map[string]string{}
	_, o = splitIPythonArgs([]string{"--HistoryManager.enabled=true", "--HistoryManager.hist_file", "h.sqlite"})
	o.guestEnv(env)
	if env[envHistEnabled] != "true" || env[envHistFile] != "h.sqlite" {
		t.Errorf("guest env = %v", env)
	}
}

func TestIPythonArgsBounded(t *testing.T) {
	args := make([]string, 10*maxIPyArgs)
	for i := range args {
		args[i] = "--A.b=1"
	}
	_, o := splitIPythonArgs(args)
	if len(o.Ignored) != maxIPyArgs {
		t.Errorf("kept %d ignored options, want the cap %d", len(o.Ignored), maxIPyArgs)
	}
}

// Unknown plain flags still fail, with the flag package's message.
func TestUnknownPlainFlagFails(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"--HistoryManager.hist_file=:memory:", "--no-such-flag"}, &stderr); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "flag provided but not defined: -no-such-flag") {
		t.Errorf("stderr = %q", stderr.String())
	}
	if strings.Contains(stderr.String(), "HistoryManager") {
		t.Errorf("the IPython option reached the flag package: %q", stderr.String())
	}
}

func TestHistoryFor(t *testing.T) {
	def := t.TempDir()
	if d, _, _ := historyFor(ipyOptions{}, def); d != def {
		t.Errorf("no options: %q, want %q", d, def)
	}
	if d, _, _ := historyFor(ipyOptions{HistEnabledSet: true}, def); d != "" {
		t.Errorf("enabled=False: %q, want none", d)
	}
	if d, _, _ := historyFor(ipyOptions{HistFileSet: true, HistFile: ":memory:"}, ""); d != "" {
		t.Errorf(":memory: with history off: %q, want none", d)
	}
	d, cleanup, err := historyFor(ipyOptions{HistFileSet: true, HistFile: ":memory:"}, def)
	if err != nil || d == def || d == "" {
		t.Fatalf(":memory: gave %q, %v", d, err)
	}
	if _, err := os.Stat(d); err != nil {
		t.Fatal(err)
	}
	cleanup()
	if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Errorf("the in-memory history folder outlived the kernel: %v", err)
	}
}
