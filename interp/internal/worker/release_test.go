package worker

import (
	"runtime/debug"
	"runtime/metrics"
	"testing"

	"github.com/stretchr/testify/assert"
)

var (
	sink       []byte
	sinkChunks [][]byte
)

// heapFreeKept is the heap memory that is free but still the process's:
// what a release must hand back.
func heapFreeKept() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestIdleReleasesFirstTimeThenEveryReleaseEvery(t *testing.T) {
	g := &gcPacer{}
	g.idle()
	first := g.lastRelease
	assert.NotZero(t, first, "the guest's first wait releases")

	sink = make([]byte, 64<<10)
	g.idle()
	assert.Equal(t, first, g.lastRelease, "a small allocation since does not")

	sink = make([]byte, releaseEvery)
	g.idle()
	assert.Greater(t, g.lastRelease, first, "releaseEvery allocated since does")
	assert.Equal(t, g.lastRelease, g.lastAlloc, "a release counts as the pacer's collection")
}

func TestReleaseReturnsFreedHeapToTheSystem(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // as in the worker
	g := &gcPacer{}
	g.release()
	// 32 MiB of small objects, touched, then garbage: a collection alone
	// frees their spans but keeps the pages (the worker's collection is
	// off, so no scavenger goal returns them), as the buffers of decoding
	// python.wasm would stay.
	chunks := make([][]byte, 0, 8192)
	for range 8192 {
		c := make([]byte, 4<<10)
		for i := range c {
			c[i] = 1
		}
		chunks = append(chunks, c)
	}
	sinkChunks = chunks
	sinkChunks = nil
	g.release()
	assert.Less(t, heapFreeKept(), uint64(1<<20),
		"the 32 MiB of garbage is back with the system, not kept free")
}
