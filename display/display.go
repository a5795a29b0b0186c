// Package display owns the shapes of Jupyter's display messages
// (execute_result, display_data, update_display_data, clear_output) as they
// leave the kernel. The interpreter produces their content; this package
// checks it, so that a buggy or hostile guest cannot put a malformed
// message on the wire.
package display

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Bundle is a MIME bundle with its metadata and transient data.
type Bundle struct {
	Data      map[string]json.RawMessage `json:"data"`
	Metadata  map[string]json.RawMessage `json:"metadata"`
	Transient map[string]json.RawMessage `json:"transient,omitempty"`
}

// Result is the content of an execute_result.
type Result struct {
	ExecutionCount int `json:"execution_count"`
	Bundle
}

// Clear is the content of clear_output.
type Clear struct {
	Wait bool `json:"wait"`
}

// Kinds lists the message types this package shapes.
var Kinds = map[string]bool{
	"execute_result":      true,
	"display_data":        true,
	"update_display_data": true,
	"clear_output":        true,
}

// Shape checks the content of a display message of type msgType and
// returns it in canonical form (data and metadata always present).
func Shape(msgType string, content json.RawMessage) (any, error) {
	switch msgType {
	case "clear_output":
		var c Clear
		if err := json.Unmarshal(content, &c); err != nil {
			return nil, fmt.Errorf("clear_output: %w", err)
		}
		return c, nil
	case "execute_result":
		var r Result
		if err := json.Unmarshal(content, &r); err != nil {
			return nil, fmt.Errorf("execute_result: %w", err)
		}
		if err := r.Bundle.check(false); err != nil {
			return nil, fmt.Errorf("execute_result: %w", err)
		}
		return r, nil
	case "display_data", "update_display_data":
		var b Bundle
		if err := json.Unmarshal(content, &b); err != nil {
			return nil, fmt.Errorf("%s: %w", msgType, err)
		}
		if err := b.check(msgType == "update_display_data"); err != nil {
			return nil, fmt.Errorf("%s: %w", msgType, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%q is not a display message", msgType)
}

func (b *Bundle) check(needID bool) error {
	if len(b.Data) == 0 {
		return errors.New("empty MIME bundle")
	}
	if b.Metadata == nil {
		b.Metadata = map[string]json.RawMessage{}
	}
	if needID {
		var id string
		if raw, ok := b.Transient["display_id"]; !ok || json.Unmarshal(raw, &id) != nil || id == "" {
			return errors.New("update_display_data needs transient.display_id")
		}
	}
	return nil
}
