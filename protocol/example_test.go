package protocol_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/wasipy/wasipy/protocol"
)

// A kernel reads its connection file, listens, and answers requests from
// a Handler. Replies built with NewMessage(request, ...) carry the
// request's routing identities, so Send routes them back.
func ExampleListen() {
	info, err := protocol.LoadConnectionFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx := context.Background()
	srv, err := protocol.Listen(ctx, info, log)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	_ = srv.Serve(ctx, protocol.HandlerFunc(func(ch protocol.Channel, req *protocol.Message) {
		busy, _ := protocol.NewMessage(req, "", "status", map[string]string{"execution_state": "busy"})
		srv.Publish(busy)
		reply, _ := protocol.NewMessage(req, "", "kernel_info_reply", map[string]any{"status": "ok"})
		if err := srv.Send(ch, reply); err != nil {
			log.Warn("reply not sent", "err", err)
		}
		idle, _ := protocol.NewMessage(req, "", "status", map[string]string{"execution_state": "idle"})
		srv.Publish(idle)
	}))
}

func ExampleDecode() {
	signer, _ := protocol.NewSigner("hmac-sha256", "secret")
	m := &protocol.Message{
		Identities: [][]byte{[]byte("client")},
		Header:     protocol.Header{MsgID: "1", MsgType: "execute_request", Version: protocol.Version},
		Content:    []byte(`{"code":"1+1"}`),
	}
	frames, _ := protocol.Encode(m, signer)
	fmt.Printf("%d frames, delimiter %q, %d-character signature\n", len(frames), frames[1], len(frames[2]))

	got, err := protocol.Decode(frames, signer)
	fmt.Println(got.Header.MsgType, string(got.Content), err)

	frames[6] = []byte(`{"code":"rm -rf /"}`)
	_, err = protocol.Decode(frames, signer)
	fmt.Println(err)
	// Output:
	// 7 frames, delimiter "<IDS|MSG>", 64-character signature
	// execute_request {"code":"1+1"} <nil>
	// protocol: bad signature
}
