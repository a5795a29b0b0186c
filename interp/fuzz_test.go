package interp

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"sync"
	"testing"
)

// detachedProcess is a Process with no worker behind it: enough to route
// guest frames (guestMessage) and watch what the routing does. Frames it
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
// what was written, the partial-frame budget kept, a reply answers only a
// waiting call and at most once, and host requests stay within their limits.
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
		c := &call{id: 42, reply: make(chan *guestMessage, 1)}
		p.calls[42] = c
		hello := make(chan json.RawMessage, 1)
		total := 0
		ch := newChannel(func(payload []byte) {
			total += 4 + len(payload)
			p.guestMessage(payload, hello)
		}, nil)
		ch.budget = 1 << 10 // small, so that fuzz inputs reach it
		w := &frameWriter{ch: ch}
		step := int(cut)%17 + 1
		for i := 0; i < len(data); i += step {
			end := min(i+step, len(data))
			n, errno := w.write(data[i:end])
			if errno == 0 && n != end-i {
				t.Fatalf("short write %d of %d without an error", n, end-i)
			}
			if ch.partial != len(w.buf) || ch.partial > ch.budget {
				t.Fatalf("partial bytes %d, writer holds %d (budget %d)", ch.partial, len(w.buf), ch.budget)
			}
			if total > end {
				t.Fatalf("frames of %d bytes from %d written", total, end)
			}
		}
		w.drop()
		if ch.partial != 0 {
			t.Fatalf("budget not given back: %d", ch.partial)
		}
		p.outMu.Lock()
		busy, refusals := p.hostBusy, p.refusals
		p.outMu.Unlock()
		if busy > maxHostRequests || refusals > maxRefusals {
			t.Fatalf("host requests over the limits: %d in flight, %d refusals", busy, refusals)
		}
		select {
		case r := <-c.reply:
			if r.ID != 42 || r.Type != "reply" {
				t.Fatalf("call 42 answered by %+v", r)
			}
			if _, still := p.calls[42]; still {
				t.Fatal("an answered call still waits for a reply")
			}
		default:
		}
	})
}

// FuzzDecodeGuestMessage checks the decoder alone: what it accepts has
// buffers that add up to exactly the bytes after the NUL, valid UTF-8 JSON
// and a type; it never panics.
func FuzzDecodeGuestMessage(f *testing.F) {
	f.Add([]byte(`{"type":"reply","id":1}`))
	f.Add([]byte("{\"type\":\"x\",\"buffer_lengths\":[1,2]}\x00abc"))
	f.Add([]byte("{\"type\":\"x\",\"buffer_lengths\":[-1]}\x00abc"))
	f.Add([]byte("{\"type\":\"x\"}\x00"))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := decodeGuestMessage(payload)
		if err != nil {
			return
		}
		if m.Type == "" {
			t.Fatal("accepted a message without a type")
		}
		sum := 0
		for _, b := range m.buffers {
			sum += len(b)
		}
		if len(m.buffers) != len(m.BufferLengths) {
			t.Fatalf("%d buffers for %d lengths", len(m.buffers), len(m.BufferLengths))
		}
		if i := bytes.IndexByte(payload, 0); i >= 0 && sum != len(payload)-i-1 {
			t.Fatalf("buffers of %d bytes, %d bytes after the NUL", sum, len(payload)-i-1)
		} else if i < 0 && len(m.buffers) > 0 {
			t.Fatal("buffers accepted without a NUL")
		}
		// What was accepted encodes and decodes to the same message.
		again, err := encodeGuestMessage(&guestMessage{Type: m.Type, ID: m.ID, RID: m.RID, Content: m.Content, buffers: m.buffers})
		if err != nil {
			t.Fatalf("re-encoding an accepted message: %v", err)
		}
		m2, err := decodeGuestMessage(again)
		if err != nil {
			t.Fatalf("decoding a re-encoded message: %v", err)
		}
		if m2.Type != m.Type || m2.ID != m.ID || len(m2.buffers) != len(m.buffers) {
			t.Fatalf("round trip changed the message: %+v vs %+v", m, m2)
		}
	})
}
