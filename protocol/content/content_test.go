package content

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// The wire shapes of execute_reply: an ok or error reply always carries
// payload and user_expressions, an error its ename/evalue/traceback, an
// aborted one only its status and count.
func TestExecuteReplyShapes(t *testing.T) {
	ok := ExecuteReply{Status: StatusOK, ExecutionCount: 3}
	require.NoError(t, ok.Check())
	require.JSONEq(t, `{"status":"ok","execution_count":3,"payload":[],"user_expressions":{}}`, marshal(t, ok))

	bad := ExecuteReply{Status: StatusError, ExecutionCount: 4, Error: &Error{Ename: "ValueError", Evalue: "x"}}
	require.NoError(t, bad.Check())
	require.JSONEq(t, `{"status":"error","execution_count":4,"payload":[],"user_expressions":{},"ename":"ValueError","evalue":"x","traceback":[]}`, marshal(t, bad))

	aborted := Aborted(4)
	require.NoError(t, aborted.Check())
	require.JSONEq(t, `{"status":"aborted","execution_count":4}`, marshal(t, aborted))

	var fromGuest ExecuteReply
	require.NoError(t, json.Unmarshal([]byte(`{"status":"ok","payload":[{"source":"page"}],"user_expressions":{"a":{"status":"ok"}},"ename":"stale"}`), &fromGuest))
	require.NoError(t, fromGuest.Check())
	require.Nil(t, fromGuest.Error, "an ok reply carries no error fields")

	for _, s := range []string{
		`{"status":"fine"}`,
		`{"status":"error"}`,
		`{"status":"ok","payload":[1]}`,
		`{"status":"ok","user_expressions":{"a":"text"}}`,
	} {
		var r ExecuteReply
		require.NoError(t, json.Unmarshal([]byte(s), &r))
		require.Error(t, r.Check(), s)
	}
}

func TestExecuteRequestDefaults(t *testing.T) {
	var r ExecuteRequest
	require.NoError(t, json.Unmarshal([]byte(`{"code":"1"}`), &r))
	require.True(t, r.Stores())
	require.True(t, r.StdinAllowed())
	require.True(t, r.StopsOnError())
	require.NoError(t, json.Unmarshal([]byte(`{"code":"1","silent":true,"store_history":true}`), &r))
	require.False(t, r.Stores(), "a silent cell never stores")
	no := false
	r = ExecuteRequest{StoreHistory: &no, AllowStdin: &no, StopOnError: &no}
	require.False(t, r.Stores() || r.StdinAllowed() || r.StopsOnError())
}

// Completion ranges count code points, as the spec says.
func TestCompleteRangeCountsCodePoints(t *testing.T) {
	req := CompleteRequest{Code: "é.x", CursorPos: 3}
	r := CompleteReply{Status: StatusOK, CursorStart: 2, CursorEnd: 3}
	require.NoError(t, r.Check(req))
	require.Equal(t, []string{}, r.Matches)
	r.CursorEnd = 4 // the code is 4 bytes but 3 code points
	require.Error(t, r.Check(req))
	e := CompleteReply{Status: StatusError}
	require.Error(t, e.Check(req), "an error reply without its error fields")
}

// An incomplete reply carries its indent even when it is empty, as
// ipykernel's does; other statuses carry none.
func TestIsCompleteReplyWire(t *testing.T) {
	for _, tc := range []struct {
		r    IsCompleteReply
		want string
	}{
		{IsCompleteReply{Status: "incomplete"}, `{"status":"incomplete","indent":""}`},
		{IsCompleteReply{Status: "incomplete", Indent: "    "}, `{"status":"incomplete","indent":"    "}`},
		{IsCompleteReply{Status: "complete", Indent: "  "}, `{"status":"complete"}`},
		{Unknown(), `{"status":"unknown"}`},
	} {
		b, err := json.Marshal(tc.r)
		require.NoError(t, err)
		require.JSONEq(t, tc.want, string(b))
		require.Equal(t, tc.want, string(b))
	}
}

func TestIsCompleteAndInspectChecks(t *testing.T) {
	for status, ok := range map[string]bool{"complete": true, "incomplete": true, "invalid": true, "unknown": true, "": false, "done": false} {
		r := IsCompleteReply{Status: status, Indent: "  "}
		require.Equal(t, ok, r.Check() == nil, status)
		if ok && status != "incomplete" {
			require.Empty(t, r.Indent, "indent only with incomplete")
		}
	}
	long := IsCompleteReply{Status: "incomplete", Indent: string(make([]byte, 300))}
	require.Error(t, long.Check())

	nf := NotFound()
	require.NoError(t, nf.Check())
	require.JSONEq(t, `{"status":"ok","found":false,"data":{},"metadata":{}}`, marshal(t, nf))
	found := InspectReply{Status: StatusOK, Found: true}
	require.Error(t, found.Check())
}

func TestCommContentChecks(t *testing.T) {
	o := CommOpen{CommID: "a", TargetName: "t"}
	require.NoError(t, o.Check())
	require.JSONEq(t, `{"comm_id":"a","target_name":"t","data":{}}`, marshal(t, o))
	require.Error(t, (&CommOpen{CommID: "a"}).Check())
	require.Error(t, (&CommMsg{CommID: "a", Data: json.RawMessage(`"x"`)}).Check())
	require.Error(t, (&CommClose{}).Check())
}
