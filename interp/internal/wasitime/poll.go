// Package wasitime gives the guest real time: clocks, and a poll_oneoff
// that sleeps until absolute deadlines (which wazero's own rejects) and
// wakes early on an interrupt.
package wasitime

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasipy/wasipy/interp/internal/wake"
)

// WASI errno values used by pollOneoff.
const (
	errnoSuccess = 0
	errnoFault   = 21
	errnoInval   = 28
)

// WASI subscription and event layout (wasi_snapshot_preview1).
const (
	subscriptionSize = 48
	eventSize        = 32
	eventTypeClock   = 0
	eventTypeFdRead  = 1
	eventTypeFdWrite = 2
	clockRealtime    = 0
	clockAbstime     = 1 // subclockflags bit 0
)

// Clocks gives the guest real time. The monotonic clock counts from Start
// so that poll_oneoff can turn the guest's absolute deadlines back into Go
// time.
type Clocks struct {
	Start time.Time
}

// Nanotime is the guest's monotonic clock (wazero's WithNanotime).
func (c *Clocks) Nanotime() int64 { return time.Since(c.Start).Nanoseconds() }

// Walltime is the guest's wall clock (wazero's WithWalltime).
func (c *Clocks) Walltime() (int64, int32) {
	now := time.Now()
	return now.Unix(), int32(now.Nanosecond())
}

// PollOneoff replaces wazero's poll_oneoff. CPython 3.11+ sleeps with
// clock_nanosleep(TIMER_ABSTIME), which wasi-libc turns into a clock
// subscription with the abstime flag; wazero rejects those with ENOTSUP, so
// time.sleep fails (docs/RATIONALE.md, section 3). This version accepts relative and
// absolute deadlines on either clock, reports file descriptors ready at once
// (the guest has no sockets; its files never block), and returns early when
// woken so that an interrupt does not wait for the sleep to end.
type PollOneoff struct {
	Clocks *Clocks
	Wake   *wake.Broadcast
	Block  func() // called before the guest sleeps (a safe point to collect garbage)
}

// Call is the host function, exported to the guest as
// wasi_snapshot_preview1.poll_oneoff.
func (p *PollOneoff) Call(ctx context.Context, mod api.Module, in, out, nsubs, neventsPtr uint32) uint32 {
	if nsubs == 0 {
		return errnoInval
	}
	mem := mod.Memory()
	subs, ok := mem.Read(in, nsubs*subscriptionSize)
	if !ok {
		return errnoFault
	}
	events := make([]byte, 0, eventSize*int(nsubs))
	now := time.Now()
	var earliest time.Time
	earliestIdx := -1
	for i := 0; i < int(nsubs); i++ {
		s := subs[i*subscriptionSize : (i+1)*subscriptionSize]
		switch s[8] {
		case eventTypeClock:
			clockID := binary.LittleEndian.Uint32(s[16:])
			timeout := binary.LittleEndian.Uint64(s[24:])
			flags := binary.LittleEndian.Uint16(s[40:])
			deadline := p.deadline(now, clockID, timeout, flags&clockAbstime != 0)
			if earliestIdx < 0 || deadline.Before(earliest) {
				earliest, earliestIdx = deadline, i
			}
		case eventTypeFdRead, eventTypeFdWrite:
			events = appendEvent(events, s, s[8], 1)
		default:
			return errnoInval
		}
	}
	if len(events) == 0 && earliestIdx >= 0 {
		if d := time.Until(earliest); d > 0 {
			woken := p.Wake.Wait()
			if p.Block != nil {
				p.Block()
			}
			t := time.NewTimer(time.Until(earliest))
			select {
			case <-t.C:
			case <-woken:
				t.Stop()
			case <-ctx.Done():
				t.Stop()
			}
		}
		s := subs[earliestIdx*subscriptionSize : (earliestIdx+1)*subscriptionSize]
		events = appendEvent(events, s, eventTypeClock, 0)
	}
	if !mem.Write(out, events) || !mem.WriteUint32Le(neventsPtr, uint32(len(events)/eventSize)) {
		return errnoFault
	}
	return errnoSuccess
}

func (p *PollOneoff) deadline(now time.Time, clockID uint32, timeout uint64, abs bool) time.Time {
	if !abs {
		return now.Add(time.Duration(timeout))
	}
	if clockID == clockRealtime {
		return time.Unix(0, int64(timeout))
	}
	return p.Clocks.Start.Add(time.Duration(timeout))
}

func appendEvent(events, sub []byte, typ byte, nbytes uint64) []byte {
	var e [eventSize]byte
	copy(e[0:8], sub[0:8]) // userdata
	e[10] = typ
	if typ != eventTypeClock {
		binary.LittleEndian.PutUint64(e[16:], nbytes)
	}
	return append(events, e[:]...)
}
