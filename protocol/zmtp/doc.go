// Package zmtp is the Jupyter wire's transport: the five sockets of a
// kernel over ZMTP 3.0 (shell, control and stdin as ROUTER, iopub as PUB,
// heartbeat as REP echo). It moves frames; the codec (package protocol)
// turns them into messages.
//
// A kernel plugs in through [Handler], in the way a net/http handler plugs
// into a net/http Server: the [Server] owns sockets, signing and fan-out;
// the Handler owns the meaning of messages. The transport reads headers
// (msg_type, msg_id and session, for the iopub topic, the replay guard and
// whether a peer has proven the key) and never parses or changes content:
// merging stream output and holding iopub messages under backpressure is
// the kernel's job (kernel.Outbox), before [Server.Publish], which signs a
// message and hands it to every subscriber at once.
//
// The handshake is done by github.com/go-zeromq/zmq4 (zmq4.Open);
// accepting connections, reading and writing frames, routing by identity,
// subscriptions and the heartbeat echo are done here, so that the known
// weak points of zmq4 v0.17.0 cannot reach the kernel: a handshake that
// never ends holds only its own connection, frame sizes are checked before
// anything is allocated (a frame over the limit closes its connection), a
// stalled iopub subscriber is disconnected after a deadline instead of
// starving the others, and ZMTP PING commands are answered with PONG.
//
// Anyone on the machine can connect; only the key authenticates messages.
// [Limits] bound what such a peer can make the kernel hold: frame and
// message caps checked on frame headers, a byte budget shared by all
// connections that have not yet sent a signed request, a deadline for each
// message, a number of connections per socket and a byte bound per iopub
// subscriber. A ROUTER identity stays with the connection that has it: a
// peer that copies a client's identity is held back, as libzmq's ROUTER
// holds it back, until the client is gone. A comm message the kernel sent
// (every subscriber receives it signed) is refused when replayed to it.
// protocol/RATIONALE.md says why.
//
// All logging goes through the *slog.Logger handed to [Listen]; the
// package has no global state.
package zmtp
