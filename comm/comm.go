// Package comm keeps the kernel's registry of open comms (Jupyter's
// comm_open / comm_msg / comm_close channels between frontend and kernel
// code) and answers comm_info_request from it.
package comm

import "sync"

// Comm is one open comm.
type Comm struct {
	ID         string
	TargetName string
}

// Registry holds the open comms. The zero value is ready to use.
type Registry struct {
	mu    sync.Mutex
	comms map[string]Comm
}

// Open records a comm; a second Open with the same id replaces the first.
func (r *Registry) Open(c Comm) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.comms == nil {
		r.comms = map[string]Comm{}
	}
	r.comms[c.ID] = c
}

// Close forgets a comm; it reports whether the comm was open.
func (r *Registry) Close(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.comms[id]
	delete(r.comms, id)
	return ok
}

// Reset forgets every comm (the interpreter that held them is gone).
func (r *Registry) Reset() {
	r.mu.Lock()
	r.comms = nil
	r.mu.Unlock()
}

// TargetInfo is one entry of comm_info_reply's "comms".
type TargetInfo struct {
	TargetName string `json:"target_name"`
}

// Info answers comm_info_request: every open comm, or only those of
// targetName when it is not empty.
func (r *Registry) Info(targetName string) map[string]TargetInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]TargetInfo{}
	for id, c := range r.comms {
		if targetName == "" || c.TargetName == targetName {
			out[id] = TargetInfo{TargetName: c.TargetName}
		}
	}
	return out
}
