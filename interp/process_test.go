package interp

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	if fakeWorkerMain() {
		return
	}
	if WorkerMain() {
		return
	}
	os.Exit(m.Run())
}

// testWasm finds the interpreter for tests: $WASIPY_PYTHON_WASM or the
// installed default. Tests that need it skip without it, unless
// WASIPY_REQUIRE_WASM is set (as tests/run.sh does), where they fail.
func testWasm(t *testing.T) string {
	t.Helper()
	p := PythonWasm()
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("WASIPY_REQUIRE_WASM") != "" {
			t.Fatalf("python.wasm not found at %s", p)
		}
		t.Skipf("python.wasm not found at %s (run ./install.sh)", p)
	}
	return p
}

type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) stream(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		if e.Type != "stream" {
			continue
		}
		var s struct{ Name, Text string }
		_ = json.Unmarshal(e.Content, &s)
		if s.Name == name {
			b.WriteString(s.Text)
		}
	}
	return b.String()
}

func startTest(t *testing.T) *Process {
	t.Helper()
	wasm := testWasm(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := Start(ctx, Config{PythonWasm: wasm, CacheDir: DefaultCacheDir(), WorkDir: dir, Stderr: os.Stderr})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

func execute(t *testing.T, p *Process, code string) (map[string]any, *recorder) {
	t.Helper()
	rec := &recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	raw, err := p.Call(ctx, "execute", map[string]any{"code": code, "execution_count": 1, "store_history": true}, rec.add)
	require.NoError(t, err)
	var reply map[string]any
	require.NoError(t, json.Unmarshal(raw, &reply))
	return reply, rec
}

func TestExecuteStreamsAndResult(t *testing.T) {
	p := startTest(t)
	var hello struct{ Name, Version string }
	require.NoError(t, json.Unmarshal(p.Hello(), &hello))
	require.Equal(t, "python", hello.Name)
	require.True(t, strings.HasPrefix(hello.Version, "3."), hello.Version)

	reply, rec := execute(t, p, "import os, sys\nprint('hello')\nprint('oops', file=sys.stderr)\nos.write(1, b'raw\\n')\n6*7")
	require.Equal(t, "ok", reply["status"])
	require.Equal(t, "hello\nraw\n", rec.stream("stdout"))
	require.Equal(t, "oops\n", rec.stream("stderr"))
	last := rec.events[len(rec.events)-1]
	require.Equal(t, "execute_result", last.Type)
	require.Contains(t, string(last.Content), `"text/plain":"42"`)
}

func TestWorkDirIsMountedAndCurrent(t *testing.T) {
	p := startTest(t)
	reply, rec := execute(t, p, "import os\nopen('made-in-guest.txt','w').write('x')\nprint(os.getcwd())\nprint(sorted(os.environ))")
	require.Equal(t, "ok", reply["status"], reply)
	out := rec.stream("stdout")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	cwd := lines[0]
	b, err := os.ReadFile(filepath.Join(cwd, "made-in-guest.txt"))
	require.NoError(t, err)
	require.Equal(t, "x", string(b))
	require.Equal(t, "['HOME', 'LANG', 'PYTHONDONTWRITEBYTECODE', 'PYTHONPYCACHEPREFIX', 'PYTHONUNBUFFERED', 'WASIPY_WORKDIR']", lines[1])
}

func TestSleepAndClock(t *testing.T) {
	p := startTest(t)
	start := time.Now()
	reply, rec := execute(t, p, "import time\nt=time.time(); m=time.monotonic(); time.sleep(0.5)\nprint(time.monotonic() - m >= 0.49)")
	require.Equal(t, "ok", reply["status"], reply)
	require.Equal(t, "True\n", rec.stream("stdout"))
	require.GreaterOrEqual(t, time.Since(start), 490*time.Millisecond)
}

func TestInterruptStopsRunningCode(t *testing.T) {
	p := startTest(t)
	for _, code := range []string{"while True: pass", "import time\ntime.sleep(100)", "x = 0\nwhile True:\n    x += 1"} {
		t.Run(code, func(t *testing.T) {
			done := make(chan map[string]any, 1)
			go func() {
				reply, _ := execute(t, p, code)
				done <- reply
			}()
			time.Sleep(300 * time.Millisecond)
			start := time.Now()
			require.NoError(t, p.Interrupt())
			select {
			case reply := <-done:
				require.Equal(t, "error", reply["status"])
				require.Equal(t, "KeyboardInterrupt", reply["ename"])
				t.Logf("interrupted in %v", time.Since(start))
			case <-time.After(5 * time.Second):
				t.Fatal("the interrupt did not stop the cell")
			}
			// State survives: the interpreter still serves.
			reply, rec := execute(t, p, "print('alive')")
			require.Equal(t, "ok", reply["status"])
			require.Equal(t, "alive\n", rec.stream("stdout"))
		})
	}
}

func TestCPUClockIsCPUTime(t *testing.T) {
	p := startTest(t)
	reply, rec := execute(t, p, `import time
c0, w0 = time.process_time(), time.perf_counter()
time.sleep(0.3)
c1, w1 = time.process_time(), time.perf_counter()
x = 0
for i in range(300000):
    x += i
c2, w2 = time.process_time(), time.perf_counter()
print(c1 - c0 < 0.1, 0 < c2 - c1 < 5 * (w2 - w1), w1 - w0 >= 0.29)`)
	require.Equal(t, "ok", reply["status"], reply)
	require.Equal(t, "True True True\n", rec.stream("stdout"))
}
