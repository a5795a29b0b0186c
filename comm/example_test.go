package comm_test

import (
	"encoding/json"
	"fmt"

	"github.com/wasipy/wasipy/comm"
)

// printer stands for the kernel, which publishes comm messages on iopub.
// It leaves out the comm id, a fresh uuid.
type printer struct{}

func (printer) SendComm(m comm.Message) error {
	fmt.Println(m.Type, m.TargetName, string(m.Data), len(m.Buffers), "buffer(s)")
	return nil
}

// Go code opens a comm with the frontend, sends it bytes, and answers
// what the frontend says on it.
func Example() {
	m := comm.NewManager(printer{})
	c, err := m.Open("plot", map[string]string{"kind": "scatter"}, nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = c.Send(map[string]int{"points": 2}, nil, [][]byte{{0, 1, 2, 3}})
	c.OnMsg(func(msg comm.Message) {
		fmt.Println("frontend said", string(msg.Data))
	})

	// The kernel hands the frontend's messages to Route first: a comm held
	// here is served here, any other goes to the interpreter.
	in, _ := comm.Decode(comm.Msg, json.RawMessage(`{"comm_id":"`+c.ID+`","data":{"clicked":1}}`))
	fmt.Println("served by Go:", m.Route(in))
	other, _ := comm.Decode(comm.Msg, json.RawMessage(`{"comm_id":"a-widget-of-python","data":{}}`))
	fmt.Println("served by Go:", m.Route(other))
	_ = c.Close(nil)
	// Output:
	// comm_open plot {"kind":"scatter"} 0 buffer(s)
	// comm_msg  {"points":2} 1 buffer(s)
	// frontend said {"clicked":1}
	// served by Go: true
	// served by Go: false
	// comm_close  {} 0 buffer(s)
}
