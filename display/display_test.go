package display

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeChecksWhatTheGuestSent(t *testing.T) {
	got, err := Decode("execute_result", json.RawMessage(`{"execution_count":3,"data":{"text/plain":"42"}}`))
	require.NoError(t, err)
	b, _ := json.Marshal(got.Content())
	require.JSONEq(t, `{"execution_count":3,"data":{"text/plain":"42"},"metadata":{}}`, string(b))
	require.Equal(t, "42", *got.PlainText())

	for _, bad := range []struct{ kind, content, why string }{
		{"display_data", `{"data":{}}`, "empty MIME bundle"},
		{"display_data", `[1]`, "cannot unmarshal"},
		{"display_data", `{"data":{"text/plain":{"a":1}}}`, "not text"},
		{"display_data", `{"data":{"no-slash":"x"}}`, "not a MIME type"},
		{"display_data", `{"data":{"text/plain\u0000":"x"}}`, "not a MIME type"},
		{"display_data", `{"data":{"text/plain":"x"},"transient":{"display_id":7}}`, "display_id"},
		{"update_display_data", `{"data":{"text/plain":"x"}}`, "display_id"},
		{"stream", `{}`, "not a display message"},
	} {
		_, err := Decode(bad.kind, json.RawMessage(bad.content))
		require.ErrorContains(t, err, bad.why, "%s %s", bad.kind, bad.content)
	}

	got, err = Decode("update_display_data", json.RawMessage(`{"data":{"text/plain":["a","b"],"application/vnd.x+json":{"k":[1]}},"transient":{"display_id":"d1"}}`))
	require.NoError(t, err)
	require.Equal(t, "d1", got.Bundle.DisplayID())
	require.Equal(t, "ab", *got.PlainText())
	got, err = Decode("clear_output", json.RawMessage(`{"wait":true}`))
	require.NoError(t, err)
	b, _ = json.Marshal(got.Content())
	require.JSONEq(t, `{"wait":true}`, string(b))
}

func TestSetKeepsTextTypesText(t *testing.T) {
	var b Bundle
	require.ErrorContains(t, b.Set("text/html", map[string]int{"a": 1}), "not text")
	require.ErrorContains(t, b.Set("text", "x"), "not a MIME type")
	require.ErrorContains(t, b.Set("application/json", func() {}), "unsupported type")
	require.ErrorContains(t, b.Check(), "empty MIME bundle")
	require.NoError(t, b.Set("application/json", map[string]int{"a": 1}))
	require.NoError(t, b.Check())
	require.Equal(t, map[string]json.RawMessage{}, b.Metadata)
}

// recorder is a Publisher that keeps what it was given.
type recorder struct{ got []Output }

func (r *recorder) Display(o Output) error {
	if err := o.Check(); err != nil {
		return err
	}
	r.got = append(r.got, o)
	return nil
}

func TestShowUpdateClear(t *testing.T) {
	var r recorder
	var b Bundle
	require.NoError(t, b.Set("text/plain", "0%"))
	b.SetDisplayID("progress")
	require.NoError(t, Show(&r, b))
	var b2 Bundle
	require.NoError(t, b2.Set("text/plain", "100%"))
	require.NoError(t, Update(&r, "progress", b2))
	require.NoError(t, Clear(&r, true))
	require.ErrorContains(t, Show(&r, Bundle{}), "empty MIME bundle")
	require.Len(t, r.got, 3)
	require.Equal(t, []Kind{DisplayData, UpdateDisplayData, ClearOutput}, []Kind{r.got[0].Kind, r.got[1].Kind, r.got[2].Kind})
	require.Equal(t, "progress", r.got[1].Bundle.DisplayID())
	require.True(t, r.got[2].Wait)
}
