package wake

import (
	"testing"
	"time"
)

// A fire wakes who waits at the time, and not who starts waiting after.
func TestFireWakesOnlyCurrentWaiters(t *testing.T) {
	b := New()
	before := b.Wait()
	b.Fire()
	select {
	case <-before:
	case <-time.After(time.Second):
		t.Fatal("a waiter was not woken")
	}
	after := b.Wait()
	select {
	case <-after:
		t.Fatal("a fire woke a wait that started after it")
	default:
	}
}
