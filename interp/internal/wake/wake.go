// Package wake is a signal that wakes everyone waiting when it fires, and
// nobody who starts waiting later: an interrupt must end the sleep it
// meant to cut short, not one that starts after it.
package wake

import "sync"

// Broadcast is that signal. Make it with New.
type Broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

// New returns a Broadcast nobody waits on yet.
func New() *Broadcast { return &Broadcast{ch: make(chan struct{})} }

// Wait returns a channel closed at the next Fire.
func (b *Broadcast) Wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

// Fire wakes everyone waiting now.
func (b *Broadcast) Fire() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}
