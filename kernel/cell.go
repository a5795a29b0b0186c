package kernel

import (
	"sync"

	"github.com/wasipy/wasipy/protocol"
)

// cellState is the state of execution: the count, the cell that runs now
// (if any), the last cell (parent of output that arrives between cells),
// and the recent execute_requests by msg_id (parents of the output of
// tasks they started).
type cellState struct {
	mu      sync.Mutex
	n       int
	running *protocol.Message
	done    chan struct{} // closed when the running cell ends
	last    *protocol.Message
	recent  recentParents
}

// begin marks msg as the running cell; store counts it. It returns the
// cell's execution count and a channel closed by end.
func (c *cellState) begin(msg *protocol.Message, store bool) (int, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if store {
		c.n++
	}
	c.running, c.last = msg, msg
	c.recent.add(msg)
	c.done = make(chan struct{})
	return c.n, c.done
}

// end marks the running cell as finished.
func (c *cellState) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running = nil
	if c.done != nil {
		close(c.done)
		c.done = nil
	}
}

// count is the execution count.
func (c *cellState) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// current is the running cell and its done channel, or nil.
func (c *cellState) current() (*protocol.Message, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running, c.done
}

// isRunning reports whether a cell runs now.
func (c *cellState) isRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running != nil
}

// parentFor is the execute_request that output naming parentID belongs
// to: that request when it is recent, else the running or last cell.
func (c *cellState) parentFor(parentID string) *protocol.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.recent.get(parentID); p != nil {
		return p
	}
	return c.last // the running cell, while one runs
}

// recentParents remembers the last execute_requests, so that output of an
// asyncio task is published under the cell that started the task.
type recentParents struct {
	order []string
	byID  map[string]*protocol.Message
}

const recentParentsKept = 256

func (r *recentParents) add(m *protocol.Message) {
	if r.byID == nil {
		r.byID = map[string]*protocol.Message{}
	}
	r.byID[m.Header.MsgID] = m
	r.order = append(r.order, m.Header.MsgID)
	if len(r.order) > recentParentsKept {
		delete(r.byID, r.order[0])
		r.order = r.order[1:]
	}
}

func (r *recentParents) get(id string) *protocol.Message {
	if id == "" {
		return nil
	}
	return r.byID[id]
}

// reset starts the count over and forgets the cells of the session a
// restart ended; it is called while no cell runs.
func (c *cellState) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = 0
	c.last = nil
	c.recent = recentParents{}
}
