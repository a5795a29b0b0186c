package interrupt_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wasipy/wasipy/interp"
	"github.com/wasipy/wasipy/interp/internal/interrupt"
)

// The locator finds the layout of whichever interpreter the tests run
// (3.12: four words in _PyRuntime; 3.13: the thread's breaker), and a
// built 3.13 interpreter beside the default one when there is one.
func TestFindInterruptTargetsOfInstalledInterpreters(t *testing.T) {
	paths := []string{interp.PythonWasm()}
	if _, err := os.Stat(paths[0]); err != nil {
		if os.Getenv("WASIPY_REQUIRE_WASM") != "" {
			t.Fatalf("python.wasm not found at %s", paths[0])
		}
		t.Skipf("python.wasm not found at %s (run ./install.sh)", paths[0])
	}
	built := filepath.Join(interp.DataDir(), interp.BuiltDir, "python.wasm")
	if _, err := os.Stat(built); err == nil && built != paths[0] {
		paths = append(paths, built)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		targets, err := interrupt.Find(raw)
		require.NoError(t, err, p)
		if zips, _ := filepath.Glob(filepath.Join(filepath.Dir(p), "lib", "python3*.zip")); len(zips) > 0 {
			// Built by build/python/build.sh (its standard library beside
			// it): 3.13.
			require.Equal(t, interrupt.LayoutThreadBreaker, targets.Layout, p)
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
