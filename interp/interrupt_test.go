package interp

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// The 3.13 layout: the breaker word in the main thread's state carries the
// instrumentation version in its high bits; trip must OR the signal bit in
// and keep the version, and must survive a pointer the guest garbled.
func TestTripThreadBreakerKeepsVersion(t *testing.T) {
	mem := make([]byte, 1<<16)
	const tripped, isTripped, mainTstate, tstate, breakerOff = 0x100, 0x104, 0x200, 0x1000, 0x18
	binary.LittleEndian.PutUint32(mem[mainTstate:], tstate)
	const version = 7 << 8 // above _PY_EVAL_EVENTS_MASK
	binary.LittleEndian.PutUint32(mem[tstate+breakerOff:], version)
	in := &interrupter{
		targets: &interruptTargets{Layout: layoutThreadBreaker, Addrs: [4]uint32{tripped, isTripped},
			MainTstate: mainTstate, BreakerOffset: breakerOff},
		mem: func() []byte { return mem },
	}
	in.trip()
	require.EqualValues(t, 1, binary.LittleEndian.Uint32(mem[tripped:]))
	require.EqualValues(t, 1, binary.LittleEndian.Uint32(mem[isTripped:]))
	breaker := (*uint32)(unsafe.Pointer(&mem[tstate+breakerOff]))
	require.EqualValues(t, version|signalsPendingBit, atomic.LoadUint32(breaker))

	// The guest takes the signal: it clears the bit and then "tripped".
	// Until "tripped" clears, the bit is put back; after, it is not.
	atomic.StoreUint32(breaker, version)
	require.Eventually(t, func() bool { return atomic.LoadUint32(breaker) == version|signalsPendingBit },
		time.Second, time.Millisecond, "the breaker was not re-asserted")
	atomic.StoreInt32(in.word(mem, tripped), 0)
	time.Sleep(5 * time.Millisecond) // let the re-asserting goroutine see it
	atomic.StoreUint32(breaker, version)
	time.Sleep(20 * time.Millisecond)
	require.EqualValues(t, version, atomic.LoadUint32(breaker), "the breaker was set after the guest took the signal")

	// A pointer past the end of memory (or misaligned) is not followed.
	for _, bad := range []uint32{uint32(len(mem)) - 2, 0xfffffff0, tstate + 1} {
		atomic.StoreInt32(in.word(mem, mainTstate), int32(bad))
		require.NotPanics(t, in.trip)
	}
}

// The locator finds the layout of whichever interpreter the tests run
// (3.12: four words in _PyRuntime; 3.13: the thread's breaker), and a
// built 3.13 interpreter beside the default one when there is one.
func TestFindInterruptTargetsOfInstalledInterpreters(t *testing.T) {
	paths := []string{testWasm(t)}
	built := filepath.Join(DataDir(), "python3.13", "python.wasm")
	if _, err := os.Stat(built); err == nil && built != paths[0] {
		paths = append(paths, built)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		targets, err := findInterruptTargets(raw)
		require.NoError(t, err, p)
		if stdlibDir(p) != "" { // built by build/python/build.sh: 3.13
			require.Equal(t, layoutThreadBreaker, targets.Layout, p)
			require.NotZero(t, targets.MainTstate)
			require.NotZero(t, targets.BreakerOffset)
		}
		for _, a := range targets.Addrs[:2] {
			require.NotZero(t, a, p)
			require.Zero(t, a%4, p)
		}
		t.Logf("%s: %+v", p, *targets)
	}
}
