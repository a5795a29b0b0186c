package interp

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/interp/internal/pipe"
)

// fakeHelloEnv makes the test binary, started as a worker, a fake one that
// says this hello and then waits for its stdin to close: enough to test
// what Start does with a hello, without an interpreter.
const fakeHelloEnv = "WASIPY_TEST_FAKE_HELLO"

func fakeWorkerMain() bool {
	hello, ok := os.LookupEnv(fakeHelloEnv)
	if !ok {
		return false
	}
	w := bufio.NewWriter(os.Stdout)
	_ = pipe.WriteFrame(w, pipe.Message, []byte(hello))
	_ = w.Flush()
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
	return true
}

func startFake(t *testing.T, hello string) (*Process, error) {
	t.Helper()
	t.Setenv(fakeHelloEnv, hello)
	wasm := filepath.Join(t.TempDir(), "python.wasm") // Start checks that it exists
	require.NoError(t, os.WriteFile(wasm, nil, 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return Start(ctx, Config{PythonWasm: wasm, WorkDir: t.TempDir()})
}

// Promise: a guest whose runtime speaks another version of the guest
// protocol is refused at start, with an error naming both versions.
func TestStartRefusesAnotherProtocolVersion(t *testing.T) {
	p, err := startFake(t, `{"type":"hello","content":{"protocol":2,"name":"python","version":"3.13.5"}}`)
	if p != nil {
		p.Close()
	}
	require.ErrorContains(t, err, "guest protocol version 2")
	require.ErrorContains(t, err, "version 1")
}

// Promise: a hello of the current version, or one without the field (a
// runtime from before it was sent, which speaks version 1), is accepted.
func TestStartAcceptsThisProtocolVersion(t *testing.T) {
	for _, hello := range []string{
		`{"type":"hello","content":{"protocol":1,"name":"python","version":"3.13.5"}}`,
		`{"type":"hello","content":{"name":"python","version":"3.13.5"}}`,
	} {
		p, err := startFake(t, hello)
		require.NoError(t, err, hello)
		require.Contains(t, string(p.Hello()), `"version":"3.13.5"`)
		require.NoError(t, p.Close())
	}
}
