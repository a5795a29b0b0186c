package protocol

import "fmt"

// Channel names one of the five Jupyter sockets. The codec needs no
// channel; it is here so that the transport and a kernel name sockets with
// one type without the kernel importing the transport.
type Channel int

// The five channels of a kernel.
const (
	Shell Channel = iota
	Control
	Stdin
	IOPub
	Heartbeat
)

func (c Channel) String() string {
	switch c {
	case Shell:
		return "shell"
	case Control:
		return "control"
	case Stdin:
		return "stdin"
	case IOPub:
		return "iopub"
	case Heartbeat:
		return "heartbeat"
	}
	return fmt.Sprintf("Channel(%d)", int(c))
}
