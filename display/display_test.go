package display

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestShape(t *testing.T) {
	got, err := Shape("execute_result", json.RawMessage(`{"execution_count":3,"data":{"text/plain":"42"}}`))
	require.NoError(t, err)
	b, _ := json.Marshal(got)
	require.JSONEq(t, `{"execution_count":3,"data":{"text/plain":"42"},"metadata":{}}`, string(b))

	_, err = Shape("display_data", json.RawMessage(`{"data":{}}`))
	require.ErrorContains(t, err, "empty MIME bundle")
	_, err = Shape("update_display_data", json.RawMessage(`{"data":{"text/plain":"x"}}`))
	require.ErrorContains(t, err, "display_id")
	_, err = Shape("update_display_data", json.RawMessage(`{"data":{"text/plain":"x"},"transient":{"display_id":"d1"}}`))
	require.NoError(t, err)
	_, err = Shape("display_data", json.RawMessage(`[1]`))
	require.Error(t, err)
	got, err = Shape("clear_output", json.RawMessage(`{"wait":true}`))
	require.NoError(t, err)
	require.Equal(t, Clear{Wait: true}, got)
	_, err = Shape("stream", json.RawMessage(`{}`))
	require.Error(t, err)
}
