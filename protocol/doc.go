// Package protocol owns the Jupyter wire: everything between the ZeroMQ
// sockets and a decoded message, and nothing about what a kernel does with
// the messages.
//
// It holds
//
//   - the connection file ([LoadConnectionFile], [ConnectionInfo]);
//   - message and header types ([Message], [Header], [NewMessage]) for
//     messaging protocol [Version] 5.3;
//   - HMAC-SHA256 signing and verification ([Signer]);
//   - multipart framing: routing identities, the [Delimiter], signature,
//     header, parent header, metadata, content and binary buffers
//     ([Encode], [Decode]); decoding checks every frame count, size and
//     JSON field and never panics, whatever arrives;
//   - the five sockets ([Listen], [Server]): shell, control and stdin
//     (ROUTER), iopub (PUB) and heartbeat (REP echo).
//
// A kernel plugs in through [Handler], in the way a net/http handler plugs
// into a net/http Server: the Server owns sockets, signing and publishing;
// the Handler owns the meaning of messages.
//
// The sockets speak ZMTP 3.0 with the NULL mechanism. The handshake is done
// by github.com/go-zeromq/zmq4 (zmq4.Open); accepting connections, reading
// and writing frames, routing by identity, subscriptions and the heartbeat
// echo are done here, so that the known weak points of zmq4 v0.17.0 cannot
// reach the kernel: a handshake that never ends holds only its own
// connection, frame sizes are checked before anything is allocated (a frame
// over the limit closes its connection), a stalled iopub subscriber is
// disconnected after a deadline instead of starving the others, and ZMTP
// PING commands are answered with PONG.
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
// RATIONALE.md in this folder says why.
//
// All logging goes through the *slog.Logger handed to [Listen]; the
// package has no global state.
package protocol
