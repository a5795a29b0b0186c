package zmtp_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/wasipy/wasipy/protocol"
	"github.com/wasipy/wasipy/protocol/zmtp"
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
	srv, err := zmtp.Listen(ctx, info, log)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	_ = srv.Serve(ctx, zmtp.HandlerFunc(func(ch protocol.Channel, req *protocol.Message) {
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
