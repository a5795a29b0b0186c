package interp

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/interp/internal/guestproto"
)

// BenchmarkBytes measures bytes crossing the bridge: Go → Python (an
// argument) and Python → Go (a result, a bytes object the guest already
// holds), sizes 1 KiB to 256 MiB. Reported as MB/s of payload; each
// iteration is one whole round trip, so the small sizes measure latency.
//
//	go test -run '^$' -bench Bytes -benchtime 5x ./interp/
func BenchmarkBytes(b *testing.B) {
	wasm := PythonWasm()
	ctx := context.Background()
	p, err := Start(ctx, Config{PythonWasm: wasm, CacheDir: DefaultCacheDir(), WorkDir: b.TempDir()})
	require.NoError(b, err)
	defer p.Close()
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20, 16 << 20, 128 << 20, 256 << 20} {
		data := make([]byte, size)
		rand.New(rand.NewSource(1)).Read(data)
		b.Run(fmt.Sprintf("GoToPython/%s", sizeName(size)), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				v, err := p.Eval(ctx, "len(args[0])", data)
				require.NoError(b, err)
				require.Equal(b, int64(size), v)
			}
		})
		b.Run(fmt.Sprintf("PythonToGo/%s", sizeName(size)), func(b *testing.B) {
			// In builtins, so that Eval (which has no cell namespace)
			// finds it by name: what is timed is the crossing alone.
			_, err := p.Eval(ctx, fmt.Sprintf("setattr(__import__('builtins'), '_bench', bytes(%d))", size))
			require.NoError(b, err)
			b.SetBytes(int64(size))
			for b.Loop() {
				v, err := p.Eval(ctx, "_bench")
				require.NoError(b, err)
				require.Len(b, v, size)
			}
			_, err = p.Eval(ctx, "delattr(__import__('builtins'), '_bench')")
			require.NoError(b, err)
		})
		if size >= 1<<20 {
			// The reference: the guest copying the same bytes itself
			// (bytes(bytearray)), timed inside the guest.
			b.Run(fmt.Sprintf("GuestCopy/%s", sizeName(size)), func(b *testing.B) {
				var seconds float64
				for b.Loop() {
					v, err := p.Eval(ctx, "(lambda t, a: (t(), len(bytes(a)), t()))(__import__('time').perf_counter, bytearray(args[0]))", size)
					require.NoError(b, err)
					r := v.(Tuple)
					seconds += r[2].(float64) - r[0].(float64)
				}
				b.ReportMetric(float64(size)*float64(b.N)/seconds/1e6, "guest-MB/s")
			})
		}
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// Promise: a 256 MiB buffer (guestproto.MaxBuffer) crosses whole both
// ways, byte for byte; one larger is refused with an error that says so,
// and the interpreter keeps serving.
func TestBytesOfTheLargestSize(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 1 GiB through the bridge")
	}
	p := startWithModules(t)
	ctx := context.Background()
	data := make([]byte, guestproto.MaxBuffer)
	rand.New(rand.NewSource(7)).Read(data[:1<<20])
	for off := 1 << 20; off < len(data); off *= 2 {
		copy(data[off:], data[:off]) // random enough, without 256 MiB of rand
	}
	// Go → Python: the guest sees every byte (a digest of it).
	got, err := p.Eval(ctx, "__import__('hashlib').sha256(args[0]).hexdigest()", data)
	require.NoError(t, err)
	want, err := p.Eval(ctx, "__import__('hashlib').sha256(args[0][:1]).hexdigest()", data[:1])
	require.NoError(t, err)
	require.NotEqual(t, want, got)
	// Python → Go: the same bytes come back.
	back, err := p.Eval(ctx, "args[0]", data)
	require.NoError(t, err)
	require.Len(t, back, len(data))
	require.True(t, bytes.Equal(data, back.([]byte)), "256 MiB came back changed")

	// One byte more is refused before it is sent...
	_, err = p.Eval(ctx, "len(args[0])", append(data, 0))
	require.ErrorContains(t, err, "over the guest channel's limit")
	// ...and one byte more made by Python raises there, as a Python error.
	_, err = p.Eval(ctx, fmt.Sprintf("bytes(%d)", guestproto.MaxFrame+1))
	var pe *PythonError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "MemoryError", pe.Type)
	v, err := p.Eval(ctx, "1 + 1")
	require.NoError(t, err)
	require.Equal(t, int64(2), v)
}
