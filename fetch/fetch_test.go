package fetch

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/interp"
)

func TestMain(m *testing.M) {
	if interp.WorkerMain() {
		return
	}
	os.Exit(m.Run())
}

func TestPolicy(t *testing.T) {
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	require.False(t, Policy{}.Allows(u("http://example.org/")))
	require.True(t, Policy{Allow: []string{"*"}}.Allows(u("http://example.org/")))
	require.True(t, Policy{Allow: []string{"Example.org"}}.Allows(u("https://example.org:8443/x")))
	require.True(t, Policy{Allow: []string{"127.0.0.1:8080"}}.Allows(u("http://127.0.0.1:8080/")))
	require.False(t, Policy{Allow: []string{"127.0.0.1:8080"}}.Allows(u("http://127.0.0.1:9090/")))
	require.True(t, Policy{Allow: []string{"example.org:443"}}.Allows(u("https://example.org/")))
	require.True(t, Policy{Allow: []string{"example.org:80"}}.Allows(u("http://example.org/")))
	require.False(t, Policy{Allow: []string{"example.org:80"}}.Allows(u("https://example.org/")))
	require.False(t, Policy{Allow: []string{"example.org"}}.Allows(u("http://evil.example.org.attacker/")))
}

func wasm(t *testing.T) string {
	p := interp.PythonWasm()
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("WASIPY_REQUIRE_WASM") != "" {
			t.Fatalf("python.wasm not found at %s", p)
		}
		t.Skipf("python.wasm not found at %s (run ./install.sh)", p)
	}
	return p
}

type output struct {
	mu  sync.Mutex
	out strings.Builder
}

func (o *output) add(e interp.Event) {
	if e.Type != "stream" && e.Type != "error" {
		return
	}
	var s struct{ Text, Evalue, Ename string }
	_ = json.Unmarshal(e.Content, &s)
	o.mu.Lock()
	o.out.WriteString(s.Text + s.Ename + s.Evalue)
	o.mu.Unlock()
}

func run(t *testing.T, p *interp.Process, code string) string {
	t.Helper()
	o := &output{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := p.Call(ctx, "execute", map[string]any{"code": code, "execution_count": 1}, o.add)
	require.NoError(t, err)
	return o.out.String()
}

func TestFetchThroughTheHost(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Seen-Header", r.Header.Get("X-Test"))
		_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "body": string(body)})
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	start := func(policy Policy) *interp.Process {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		p, err := interp.Start(ctx, interp.Config{PythonWasm: wasm(t), CacheDir: interp.DefaultCacheDir(), WorkDir: t.TempDir(),
			Stderr: os.Stderr, Modules: []*interp.Module{Module(policy, nil)}})
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		return p
	}

	p := start(Policy{Allow: []string{host}})
	out := run(t, p, `
import sys
from wasipy.http import fetch, fetch_sync
r = await fetch("`+srv.URL+`/a", method="POST", headers={"X-Test": "yes"}, body="hello")
print(r.status, r.ok, r.headers["x-seen-header"], r.json())
r = fetch_sync("`+srv.URL+`/b")
print(r.status, r.json()["path"])
import urllib.request, traceback
try:
    with urllib.request.urlopen("`+srv.URL+`/c") as resp:
        print(resp.status, resp.headers["Content-Type"], resp.read().decode().strip())
except Exception:
    traceback.print_exc(file=sys.stdout)
`)
	require.Equal(t, `200 True yes {'body': 'hello', 'method': 'POST', 'path': '/a'}
200 /b
200 application/json {"body":"","method":"GET","path":"/c"}
`, out)

	denied := start(Policy{})
	out = run(t, denied, `
from wasipy.http import fetch
try:
    await fetch("`+srv.URL+`/a")
except PermissionError as e:
    print("denied:", e)
import urllib.request
try:
    urllib.request.urlopen("`+srv.URL+`/c")
except PermissionError as e:
    print("urllib denied")
`)
	require.Contains(t, out, "denied: network access is off in this sandbox")
	require.Contains(t, out, "--allow-net 127.0.0.1")
	require.Contains(t, out, "urllib denied")
}
