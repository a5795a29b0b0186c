package kernelcmd

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestNewParentWatch(t *testing.T) {
	ppid := func() int { return 500 }
	alive := func(int) bool { return true }
	for _, v := range []string{"", "x", "1", "0", "-3"} {
		if w := newParentWatch(v, ppid, alive); w != nil {
			t.Errorf("JPY_PARENT_PID=%q: watching pid %d, want nothing to watch", v, w.pid)
		}
	}
	if w := newParentWatch("500", ppid, alive); w == nil || !w.direct {
		t.Errorf("the parent itself: %+v, want a direct watch", w)
	}
	if w := newParentWatch("700", ppid, alive); w == nil || w.direct {
		t.Errorf("started through a shell: %+v, want a watch by pid", w)
	}
	if w := newParentWatch("700", ppid, func(int) bool { return false }); w != nil {
		t.Errorf("a stale JPY_PARENT_PID (no such process at start): watching %+v, want nothing", w)
	}
}

// A direct parent is gone when getppid() changes (the kernel is
// reparented), whatever kill(pid, 0) says: the pid may be reused.
func TestParentWatchDirect(t *testing.T) {
	ppid := 500
	w := newParentWatch("500", func() int { return ppid }, func(int) bool { return true })
	if w.gone() {
		t.Fatal("gone while the parent lives")
	}
	ppid = 1
	if !w.gone() {
		t.Fatal("reparented to init, but not gone")
	}
}

// An indirect client (kernel started through a shell) is watched by pid,
// with a real process: alive, then a zombie (killed, not reaped), then
// reaped.
func TestParentWatchByPid(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	pid := cmd.Process.Pid
	w := newParentWatch(strconv.Itoa(pid), os.Getppid, processAlive)
	if w == nil || w.direct {
		t.Fatalf("watch = %+v", w)
	}
	if w.gone() {
		t.Fatal("gone while it runs")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" {
		// Not reaped yet: kill(pid, 0) still finds the zombie.
		deadline := time.Now().Add(5 * time.Second)
		for !w.gone() {
			if time.Now().After(deadline) {
				t.Fatal("a killed, unreaped client is not seen as gone")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	_ = cmd.Wait()
	if !w.gone() {
		t.Fatal("a reaped client is not seen as gone")
	}
}

func TestIsZombie(t *testing.T) {
	if isZombie(os.Getpid()) {
		t.Fatal("the test process is not a zombie")
	}
	if isZombie(1 << 30) {
		t.Fatal("a pid that does not exist is no zombie")
	}
}
