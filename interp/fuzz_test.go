package interp

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"sync"
	"testing"

	"github.com/wasipy/wasipy/interp/internal/channel"
	"github.com/wasipy/wasipy/interp/internal/guestproto"
)

// detachedProcess is a Process with no worker behind it: enough to route
// guest frames (route) and watch what the routing does. Frames it
// would send to the worker stay in outq.
func detachedProcess() *Process {
	p := &Process{calls: map[int64]*call{}, modules: map[string]*Module{}, exited: make(chan struct{})}
	p.log = newDropLog(nil)
	p.outCond = sync.NewCond(&p.outMu)
	p.hostCtx, p.hostCancel = context.WithCancel(context.Background())
	return p
}

func frameOf(payload []byte) []byte {
	f := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(f, uint32(len(payload)))
	copy(f[4:], payload)
	return f
}

// FuzzGuestFrames feeds arbitrary bytes, cut into arbitrary writes, to the
// channel's frame splitter and routes every frame it yields as the kernel
// would. Whatever the guest writes: no panic, no block, no frame bigger than
// what was written, a reply answers only a waiting call and at most once,
// and host requests stay within their limits. (The splitter's own budget
// is fuzzed by FuzzFrameWriter in internal/channel.)
func FuzzGuestFrames(f *testing.F) {
	seeds := [][]byte{
		frameOf([]byte(`{"type":"reply","id":42,"content":{"status":"ok"}}`)),
		append(frameOf([]byte(`{"type":"reply","id":42}`)), frameOf([]byte(`{"type":"reply","id":42}`))...),
		frameOf([]byte("{\"type\":\"comm_msg\",\"content\":{},\"buffer_lengths\":[2,1]}\x00abc")),
		frameOf([]byte("{\"type\":\"comm_msg\",\"buffer_lengths\":[9]}\x00abc")),
		frameOf([]byte(`{"type":"host_request","rid":1,"method":"nosuch","content":{}}`)),
		frameOf([]byte(`{"type":"host_request","rid":2,"method":"ffi.call","content":{"module":"m","name":"f","args":[]}}`)),
		frameOf([]byte(`{"type":"display_data","parent_id":"x","content":{"data":{}}}`)),
		frameOf([]byte("{\"type\":\"stream\",\"content\":{\"text\":\"\xff\"}}")),
		frameOf([]byte(`{"type":"hello","content":{}}`)),
		{0xff, 0xff, 0xff, 0xff, 'x'},
		{0, 0, 0},
		{0, 0, 0, 0},
		frameOf([]byte(`{"type":"reply","id":1e40}`)),
	}
	for _, s := range seeds {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		p := detachedProcess()
		defer p.hostCancel()
		c := &call{id: 42, reply: make(chan *guestproto.Message, 1)}
		p.calls[42] = c
		hello := make(chan json.RawMessage, 1)
		total := 0
		ch := channel.New(func(parts [][]byte) {
			payload := bytes.Join(parts, nil) // lent: route keeps slices of it
			total += 4 + len(payload)
			p.route(payload, hello)
		}, nil)
		w := ch.NewFrameWriter()
		step := int(cut)%17 + 1
		for i := 0; i < len(data); i += step {
			end := min(i+step, len(data))
			n, errno := w.Write(data[i:end])
			if errno == 0 && n != end-i {
				t.Fatalf("short write %d of %d without an error", n, end-i)
			}
			if total > end {
				t.Fatalf("frames of %d bytes from %d written", total, end)
			}
		}
		w.Drop()
		p.outMu.Lock()
		busy, refusals := p.hostBusy, p.refusals
		p.outMu.Unlock()
		if busy > maxHostRequests || refusals > maxRefusals {
			t.Fatalf("host requests over the limits: %d in flight, %d refusals", busy, refusals)
		}
		select {
		case r := <-c.reply:
			if r.ID != 42 || r.Type != guestproto.Reply {
				t.Fatalf("call 42 answered by %+v", r)
			}
			if _, still := p.calls[42]; still {
				t.Fatal("an answered call still waits for a reply")
			}
		default:
		}
	})
}
