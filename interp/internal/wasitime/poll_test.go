package wasitime

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasipy/wasipy/interp/internal/wake"
)

const clockMonotonic = 1

// guestMemory instantiates a module with one page of memory: where the
// guest's subscriptions and events live.
func guestMemory(t *testing.T) api.Module {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { r.Close(ctx) })
	// magic, version, memory section: one memory of at least one page.
	bin := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01}
	mod, err := r.Instantiate(ctx, bin)
	require.NoError(t, err)
	return mod
}

// clockSub writes a clock subscription at addr.
func clockSub(mod api.Module, addr uint32, userdata uint64, clock uint32, timeout uint64, abs bool) {
	var s [subscriptionSize]byte
	binary.LittleEndian.PutUint64(s[0:], userdata)
	s[8] = eventTypeClock
	binary.LittleEndian.PutUint32(s[16:], clock)
	binary.LittleEndian.PutUint64(s[24:], timeout)
	if abs {
		binary.LittleEndian.PutUint16(s[40:], clockAbstime)
	}
	mod.Memory().Write(addr, s[:])
}

const subsAt, eventsAt, countAt = 0, 1024, 2048

func events(t *testing.T, mod api.Module) (userdata []uint64, types []byte) {
	n, ok := mod.Memory().ReadUint32Le(countAt)
	require.True(t, ok)
	for i := range n {
		e, _ := mod.Memory().Read(eventsAt+i*eventSize, eventSize)
		userdata = append(userdata, binary.LittleEndian.Uint64(e[0:]))
		types = append(types, e[10])
	}
	return userdata, types
}

// CPython sleeps with an absolute deadline on the monotonic clock (wazero's
// own poll_oneoff refuses those): the sleep lasts until the deadline.
func TestAbsoluteDeadlineSleepsUntilIt(t *testing.T) {
	mod := guestMemory(t)
	p := &PollOneoff{Clocks: &Clocks{Start: time.Now()}, Wake: wake.New()}
	deadline := uint64(p.Clocks.Nanotime()) + uint64(30*time.Millisecond)
	clockSub(mod, subsAt, 7, clockMonotonic, deadline, true)
	t0 := time.Now()
	require.EqualValues(t, errnoSuccess, p.Call(context.Background(), mod, subsAt, eventsAt, 1, countAt))
	require.GreaterOrEqual(t, time.Since(t0), 25*time.Millisecond)
	ud, types := events(t, mod)
	require.Equal(t, []uint64{7}, ud)
	require.Equal(t, []byte{eventTypeClock}, types)
}

// A wake (an interrupt) ends a long sleep early; the earliest of several
// clocks is the one reported.
func TestWakeEndsASleep(t *testing.T) {
	mod := guestMemory(t)
	p := &PollOneoff{Clocks: &Clocks{Start: time.Now()}, Wake: wake.New()}
	clockSub(mod, subsAt, 1, clockMonotonic, uint64(time.Hour), false)
	clockSub(mod, subsAt+subscriptionSize, 2, clockRealtime, uint64(time.Now().Add(10*time.Minute).UnixNano()), true)
	blocked := make(chan struct{})
	p.Block = func() { close(blocked) }
	done := make(chan uint32, 1)
	go func() { done <- p.Call(context.Background(), mod, subsAt, eventsAt, 2, countAt) }()
	<-blocked
	p.Wake.Fire()
	select {
	case errno := <-done:
		require.EqualValues(t, errnoSuccess, errno)
	case <-time.After(5 * time.Second):
		t.Fatal("a wake did not end the sleep")
	}
	ud, _ := events(t, mod)
	require.Equal(t, []uint64{2}, ud, "the realtime deadline, ten minutes away, is the earliest")
}

// Descriptors are ready at once (the guest's files never block); nothing
// sleeps then, and bad input is refused without touching the host.
func TestFdSubscriptionsAndBadInput(t *testing.T) {
	mod := guestMemory(t)
	p := &PollOneoff{Clocks: &Clocks{Start: time.Now()}, Wake: wake.New()}
	clockSub(mod, subsAt, 1, clockMonotonic, uint64(time.Hour), false)
	var s [subscriptionSize]byte
	binary.LittleEndian.PutUint64(s[0:], 9)
	s[8] = eventTypeFdRead
	mod.Memory().Write(subsAt+subscriptionSize, s[:])
	t0 := time.Now()
	require.EqualValues(t, errnoSuccess, p.Call(context.Background(), mod, subsAt, eventsAt, 2, countAt))
	require.Less(t, time.Since(t0), time.Second)
	ud, types := events(t, mod)
	require.Equal(t, []uint64{9}, ud)
	require.Equal(t, []byte{eventTypeFdRead}, types)

	require.EqualValues(t, errnoInval, p.Call(context.Background(), mod, subsAt, eventsAt, 0, countAt))
	require.EqualValues(t, errnoFault, p.Call(context.Background(), mod, 65536-8, eventsAt, 1, countAt))
	s[8] = 9 // no such event type
	mod.Memory().Write(subsAt, s[:])
	require.EqualValues(t, errnoInval, p.Call(context.Background(), mod, subsAt, eventsAt, 1, countAt))
}
