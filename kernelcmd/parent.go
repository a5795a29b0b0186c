package kernelcmd

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Jupyter's clients put their pid in JPY_PARENT_PID when they start a
// kernel, and ipykernel ends itself when that process is gone
// (ParentPollerUnix). Without it, every client killed or crashed leaves a
// kernel running with no one to talk to (about 100 MiB each for wasipy).
// PR_SET_PDEATHSIG is not enough: it tracks the direct parent, which may be
// a shell or a wrapper (kernel.json's argv) rather than the client.

const parentPIDEnv = "JPY_PARENT_PID"

// parentPollEvery is how often the parent is checked, as ipykernel does.
const parentPollEvery = time.Second

// parentWatch checks whether the process that started the kernel is gone.
type parentWatch struct {
	pid int
	// direct: the client is the kernel's parent process; its death shows
	// as a change of getppid(), which no reuse of the pid can hide.
	direct  bool
	getppid func() int
	alive   func(pid int) bool
}

// newParentWatch reads JPY_PARENT_PID; nil when there is nothing to
// watch: no value, a value that is not a pid, 1 (init never goes away,
// only gets reassigned: ipykernel skips it too), or a process that is not
// running when the kernel starts.
func newParentWatch(value string, getppid func() int, alive func(int) bool) *parentWatch {
	pid, err := strconv.Atoi(strings.TrimSpace(value))
	if err != nil || pid <= 1 {
		return nil
	}
	w := &parentWatch{pid: pid, direct: getppid() == pid, getppid: getppid, alive: alive}
	if !w.direct && !alive(pid) {
		// A value inherited from some earlier Jupyter process that is gone
		// already (a kernel started from a shell that had it): watching it
		// would end the kernel at once.
		return nil
	}
	return w
}

// gone reports whether the watched process has ended.
func (w *parentWatch) gone() bool {
	if w.direct {
		return w.getppid() != w.pid
	}
	return !w.alive(w.pid)
}

// watchParent returns a channel closed once the process named by
// JPY_PARENT_PID has died, polled every second; a channel never closed
// when there is none to watch. stop ends the polling.
func watchParent(log *slog.Logger, stop <-chan struct{}) <-chan struct{} {
	died := make(chan struct{})
	w := newParentWatch(os.Getenv(parentPIDEnv), os.Getppid, processAlive)
	if w == nil {
		return died
	}
	log.Debug("watching the client that started the kernel", "pid", w.pid, "direct", w.direct)
	go func() {
		t := time.NewTicker(parentPollEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if w.gone() {
					log.Warn("the process that started the kernel has exited; shutting down", "pid", w.pid)
					close(died)
					return
				}
			}
		}
	}()
	return died
}

// processAlive reports whether pid names a live process. kill(pid, 0)
// answers ESRCH once it is gone (EPERM: it exists, owned by someone else).
// A killed client whose own parent has not reaped it yet is a zombie,
// which kill(pid, 0) still finds: on Linux, /proc says so.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return !isZombie(pid)
}

// isZombie reads the state field of /proc/PID/stat (after the command
// name, which is in parentheses and may itself hold spaces or ')').
// Where there is no /proc, no process is known to be a zombie.
func isZombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] == 'Z'
}
