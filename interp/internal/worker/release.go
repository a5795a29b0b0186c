package worker

import (
	"runtime/debug"
	"runtime/metrics"
)

// Returning the worker's free memory to the operating system.
//
// The worker runs with automatic collection off (see Run), and Go keeps the
// pages of a freed heap mapped: its background scavenger returns them only
// down to a goal derived from the heap goal or the memory limit, and with
// collection off and no limit there is no goal to return them to. So
// without help an idle worker holds every byte it ever allocated: some
// 14 MiB of garbage from reading and decoding python.wasm at start
// (docs/BENCHMARKS.md, "Memory: where an idle kernel's memory goes"), and
// the peak of every burst of output since.
//
// release collects and hands every free page back (debug.FreeOSMemory), at
// moments when the guest cannot be running wasm (the collector must never
// stop the world while it does, see Run):
//
//   - once python.wasm is compiled, before the guest's first instruction:
//     what compiling left behind (the module's 8 MiB of bytes, which
//     wazero copies what it keeps out of, and its decoding buffers) is
//     garbage by then;
//   - when the guest blocks in a read of the channel, waiting for the
//     kernel (idle: its main loop wants the next request), the first time
//     and then whenever releaseEvery has been allocated since the last
//     release.
//
// A release costs a collection of the live heap (about 11 MiB, mostly
// wazero's decoded module and the runtime's bytecode) and the madvise
// calls: about 3 ms on the machine of docs/BENCHMARKS.md. releaseEvery
// keeps it off the path of a run of small requests.

// releaseEvery is how much the worker allocates between two releases at
// idle: small enough that an idle worker never keeps more than a few MiB
// of garbage, large enough that a run of small requests (a few KiB each in
// the worker) meets a release only once in hundreds.
const releaseEvery = 4 << 20

var releaseSample = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

// heapAllocs is the bytes allocated on the heap since the worker started.
func heapAllocs() uint64 {
	metrics.Read(releaseSample)
	if releaseSample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return releaseSample[0].Value.Uint64()
}

// release collects now and returns every free page. Call it only while the
// guest is parked in a host call or not started.
func (g *gcPacer) release() {
	debug.FreeOSMemory() // collects first
	g.lastRelease = heapAllocs()
	g.lastAlloc = g.lastRelease // a collection too, for maybeCollect's pacing
}

// idle is the channel's hook for a guest about to block in a read: it
// releases the first time and after every releaseEvery allocated, and
// otherwise leaves it to the pacer.
func (g *gcPacer) idle() {
	if !g.idleBefore || heapAllocs()-g.lastRelease >= releaseEvery {
		g.idleBefore = true
		g.release()
		return
	}
	g.maybeCollect()
}
