package history

import "encoding/json"

// ResultText returns the text/plain of an execute_result's content (what
// Record takes as output), or nil when there is none.
func ResultText(content []byte) *string {
	var c struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if json.Unmarshal(content, &c) != nil {
		return nil
	}
	raw, ok := c.Data["text/plain"]
	if !ok {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return &s
	}
	var lines []string // nbformat's multiline form
	if json.Unmarshal(raw, &lines) == nil {
		s := ""
		for _, l := range lines {
			s += l
		}
		return &s
	}
	return nil
}
