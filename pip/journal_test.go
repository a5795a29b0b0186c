package pip

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// crashEnv makes TestCrashHelper kill its own process at the Nth step of
// a transaction (a real exit: no deferred clean-up runs, as when the
// kernel is killed).
const crashEnv = "WASIPY_PIP_TEST_CRASH_AT"

// upgradeWheels are the transaction the crash test interrupts: p 1.0 ->
// 2.0 (a file goes away, one changes) and a new q.
func upgradeWheels(t *testing.T) []Request {
	fn2, d2 := wheel(t, "p", "2.0", map[string]string{"p/__init__.py": "v = 2", "p/sub/new.py": "n"}, false)
	fnq, dq := wheel(t, "q", "1.0", map[string]string{"q.py": "q"}, false)
	return []Request{{Filename: fn2, Data: d2}, {Filename: fnq, Data: dq}}
}

func TestCrashHelper(t *testing.T) {
	at, err := strconv.Atoi(os.Getenv(crashEnv))
	if err != nil {
		t.Skip("run by TestKilledInstallRecovers")
	}
	n := 0
	crashPoint = func(step string) {
		if n++; n == at {
			fmt.Printf("killed at %s\n", step)
			os.Exit(3)
		}
	}
	defer func() { crashPoint = nil }()
	s := Site{Dir: os.Getenv("WASIPY_PIP_TEST_SITE")}
	_, _, err = s.Install(upgradeWheels(t), nil)
	require.NoError(t, err)
	fmt.Println("finished")
}

// TestKilledInstallRecovers kills an installing process at every step of
// its transaction in turn; each time, the next transaction (Recover, then
// an install) finds the site folder exactly as before the killed one, or
// exactly as after it, with no scratch folder or journal left.
func TestKilledInstallRecovers(t *testing.T) {
	fn1, d1 := wheel(t, "p", "1.0", map[string]string{"p/__init__.py": "v = 1", "p/old.py": "o", "p/sub/old.py": "s"}, false)
	setup := func() Site {
		s := Site{Dir: t.TempDir()}
		_, _, err := s.Install([]Request{{Filename: fn1, Data: d1}}, nil)
		require.NoError(t, err)
		return s
	}
	before := tree(t, setup().Dir)
	ref := setup()
	_, _, err := ref.Install(upgradeWheels(t), nil)
	require.NoError(t, err)
	after := tree(t, ref.Dir)
	require.NotEqual(t, before, after)

	sawBefore, sawAfter := false, false
	for at := 1; ; at++ {
		require.Less(t, at, 200, "the transaction never finished")
		s := setup()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", crashEnv, at), "WASIPY_PIP_TEST_SITE="+s.Dir)
		out, err := cmd.CombinedOutput()
		if err == nil {
			require.Contains(t, string(out), "finished")
			require.Equal(t, after, tree(t, s.Dir))
			break
		}
		require.Contains(t, string(out), "killed at", string(out))
		step := strings.TrimSpace(strings.SplitN(strings.SplitN(string(out), "killed at ", 2)[1], "\n", 2)[0])
		did, err := s.Recover()
		require.NoError(t, err)
		require.NotEmpty(t, did, "step %d (%s): nothing recovered", at, step)
		got := tree(t, s.Dir)
		switch {
		case equalTrees(got, before):
			sawBefore = true
		case equalTrees(got, after):
			sawAfter = true
		default:
			t.Fatalf("killed at step %d (%s): the site is neither as before nor as after:\n%v", at, step, got)
		}
		ents, _ := os.ReadDir(s.Dir)
		for _, e := range ents {
			require.False(t, strings.HasPrefix(e.Name(), ".wasipy-") && e.Name() != lockName, "left behind: %s", e.Name())
		}
		// Empty folders of the old version are gone too once finished.
		if equalTrees(got, after) {
			require.NoFileExists(t, filepath.Join(s.Dir, "p", "old.py"))
		}
		// And the site works: the next install goes through.
		_, _, err = s.Install(upgradeWheels(t), nil)
		require.NoError(t, err, "step %d", at)
		require.Equal(t, after, tree(t, s.Dir))
	}
	require.True(t, sawBefore && sawAfter, "the kill points must cover both sides of the commit")
}

func equalTrees(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A journal line naming a path outside the site folder moves nothing.
func TestRecoverRefusesPathsOutsideTheSite(t *testing.T) {
	s := Site{Dir: t.TempDir()}
	outside := filepath.Join(t.TempDir(), "victim")
	require.NoError(t, os.WriteFile(outside, []byte("x"), 0o644))
	j := `{"staging":".wasipy-staging-1","trash":".wasipy-trash-1"}` + "\n" +
		`{"move":["../victim-moved","` + "../" + filepath.Base(filepath.Dir(outside)) + `/victim"]}` + "\n" +
		`{"move":["a","/etc/passwd"]}` + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(s.Dir, journalName), []byte(j), 0o644))
	did, err := s.Recover()
	require.NoError(t, err)
	require.Equal(t, "rolled back an interrupted transaction", did)
	require.FileExists(t, outside)
	require.NoFileExists(t, filepath.Join(s.Dir, journalName))
}
