package content

// ConnectReply is the content of connect_reply: the ports the kernel's
// sockets are bound to, as ipykernel answers connect_request (deprecated
// in the messaging spec, still sent by some clients). The ports are the
// ones actually bound, which differ from the connection file's when it
// asked for port 0.
type ConnectReply struct {
	Status      string `json:"status"`
	ShellPort   int    `json:"shell_port"`
	IOPubPort   int    `json:"iopub_port"`
	StdinPort   int    `json:"stdin_port"`
	HBPort      int    `json:"hb_port"`
	ControlPort int    `json:"control_port"`
}
