package pip

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/fetch"
)

// slowServer sends data in 8 pieces, pause apart, with its length first.
func slowServer(t *testing.T, data []byte, pause time.Duration) (*httptest.Server, *Installer) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		step := (len(data) + 7) / 8
		for i := 0; i < len(data); i += step {
			_, _ = w.Write(data[i:min(i+step, len(data))])
			w.(http.Flusher).Flush()
			select {
			case <-time.After(pause):
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return srv, &Installer{Cache: Cache{Dir: t.TempDir()}, Policy: fetch.Policy{Allow: []string{u.Host}}}
}

// A background download reports its progress (bytes so far of the
// announced size) while it runs, then the checked wheel, once.
func TestTransferReportsProgress(t *testing.T) {
	fn, data := wheel(t, "p", "1.0", map[string]string{"p.py": strings.Repeat("x = 1\n", 4000)}, false)
	srv, in := slowServer(t, data, 60*time.Millisecond)
	sum := sha256.Sum256(data)
	id, err := in.StartDownload(srv.URL+"/"+fn, fn, hex.EncodeToString(sum[:]))
	require.NoError(t, err)
	var seen []int64
	for {
		tr, err := in.Wait(context.Background(), id, 50*time.Millisecond)
		require.NoError(t, err)
		if tr.Finished {
			require.Equal(t, hex.EncodeToString(sum[:]), tr.Fetched.SHA256)
			require.Equal(t, int64(len(data)), tr.Done)
			break
		}
		require.Equal(t, int64(len(data)), tr.Total)
		seen = append(seen, tr.Done)
	}
	partial := 0
	for _, n := range seen {
		if n > 0 && n < int64(len(data)) {
			partial++
		}
	}
	require.Greater(t, partial, 1, "progress in between: %v", seen)
	_, err = in.Wait(context.Background(), id, 0)
	require.ErrorContains(t, err, "no download")
	require.Equal(t, 0, in.Running())
}

// A transfer's hash mismatch is its Wait's error; a cancelled transfer is
// gone and its request ends.
func TestTransferErrorsAndCancel(t *testing.T) {
	fn, data := wheel(t, "p", "1.0", map[string]string{"p.py": ""}, false)
	srv, in := slowServer(t, data, 10*time.Millisecond)
	id, err := in.StartDownload(srv.URL+"/"+fn, fn, strings.Repeat("0", 64))
	require.NoError(t, err)
	for {
		tr, err := in.Wait(context.Background(), id, time.Second)
		if err != nil {
			require.ErrorContains(t, err, "does not match the hash")
			break
		}
		require.False(t, tr.Finished)
	}

	hang := make(chan struct{})
	var once sync.Once
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		once.Do(func() { close(hang) })
	}))
	defer stuck.Close()
	u, _ := url.Parse(stuck.URL)
	in.Policy = fetch.Policy{Allow: []string{u.Host}}
	id, err = in.StartDownload(stuck.URL+"/"+fn, fn, "")
	require.NoError(t, err)
	tr, err := in.Wait(context.Background(), id, 100*time.Millisecond)
	require.NoError(t, err)
	require.False(t, tr.Finished)
	in.Cancel(id)
	select {
	case <-hang:
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled request is still open")
	}
	require.Equal(t, 0, in.Running())

	// At most MaxTransfers run at once.
	var ids []int64
	for i := 0; i < MaxTransfers; i++ {
		id, err := in.StartDownload(stuck.URL+"/"+fn, fn, "")
		require.NoError(t, err)
		ids = append(ids, id)
	}
	_, err = in.StartDownload(stuck.URL+"/"+fn, fn, "")
	require.ErrorContains(t, err, "downloads are running")
	for _, id := range ids {
		in.Cancel(id)
	}
}
