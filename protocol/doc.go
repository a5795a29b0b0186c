// Package protocol is the Jupyter wire's codec: what a message is and how
// it becomes frames and back, with no sockets. It knows nothing about
// what a kernel does with messages, nor how the frames travel.
//
// It holds
//
//   - the connection file ([LoadConnectionFile], [ConnectionInfo]);
//   - message and header types ([Message], [Header], [NewMessage]) for
//     messaging protocol [Version] 5.3, and the names of the five
//     sockets ([Channel]);
//   - HMAC-SHA256 signing and verification ([Signer]);
//   - multipart framing: routing identities, the [Delimiter], signature,
//     header, parent header, metadata, content and binary buffers
//     ([Encode], [Decode]); decoding checks every frame count, size and
//     JSON field against the codec's limits ([MaxFrames],
//     [MaxHeaderSize], ...) and never panics, whatever arrives (it is
//     fuzzed: FuzzDecode).
//
// The sockets are in the subpackage protocol/zmtp: ZMTP framing, routing
// identities, subscriptions, the heartbeat, and the limits on what peers
// can make the kernel hold. A kernel imports this package to build and
// read messages and never links zmq4 or the network stack through it (a
// test runs go list -deps). RATIONALE.md in this folder says why both are
// built the way they are.
//
// The package has no global state and logs nothing.
package protocol
