package content

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDebugRequestCheck(t *testing.T) {
	for _, ok := range []string{
		`{"type":"request","seq":1,"command":"initialize","arguments":{"adapterID":""}}`,
		`{"type":"request","seq":2,"command":"attach"}`,
		`{"type":"request","seq":3,"command":"threads","arguments":null}`,
	} {
		var r DebugRequest
		require.NoError(t, json.Unmarshal([]byte(ok), &r))
		require.NoError(t, r.Check(), ok)
	}
	for _, bad := range []string{
		`{"type":"event","seq":1,"command":"x"}`,
		`{"type":"request","seq":1}`,
		`{"type":"request","seq":1,"command":"x","arguments":[1]}`,
		`{"type":"request","seq":1,"command":"` + string(make([]byte, 65)) + `"}`,
	} {
		var r DebugRequest
		if json.Unmarshal([]byte(bad), &r) == nil {
			require.Error(t, r.Check(), bad)
		}
	}
}

func TestDebugReplyAndEventChecks(t *testing.T) {
	require.NoError(t, DebugReply(`{"type":"response","request_seq":1,"command":"x","success":false,"seq":2}`).Check())
	for _, bad := range []string{`{}`, `[]`, `null`, `{"type":"response"}`, `{"type":"event","success":true}`, `not json`} {
		require.Error(t, DebugReply(bad).Check(), bad)
	}
	require.NoError(t, DebugEvent(`{"type":"event","event":"stopped","seq":1,"body":{}}`).Check())
	for _, bad := range []string{`{}`, `{"type":"event"}`, `{"type":"response","event":"x"}`, `[1]`} {
		require.Error(t, DebugEvent(bad).Check(), bad)
	}
	// A failure made by the kernel is itself a valid reply, and says why.
	f := DebugFailure(DebugRequest{Type: "request", Seq: 9, Command: "stackTrace"}, "gone")
	require.NoError(t, f.Check())
	var got map[string]any
	require.NoError(t, json.Unmarshal(f, &got))
	require.Equal(t, map[string]any{"type": "response", "seq": 0.0, "request_seq": 9.0, "command": "stackTrace",
		"success": false, "message": "gone", "body": map[string]any{}}, got)
	b, err := json.Marshal(struct{ R DebugReply }{nil})
	require.NoError(t, err)
	require.JSONEq(t, `{"R":{}}`, string(b))
}
