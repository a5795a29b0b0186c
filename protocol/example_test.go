package protocol_test

import (
	"fmt"

	"github.com/wasipy/wasipy/protocol"
)

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
