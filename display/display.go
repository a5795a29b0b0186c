// Package display owns Jupyter's display messages (execute_result,
// display_data, update_display_data, clear_output): building MIME bundles,
// checking them, and publishing them into a cell.
//
// Go code builds a Bundle with Set and hands it to Show, Update or Clear
// with a Publisher: the kernel gives one for the cell that runs now
// (kernel.Kernel.Display), so a Go module that Python calls can put a
// picture or a table into the cell that called it. Content an interpreter
// produced goes through Decode, so that a buggy or hostile guest cannot
// put a malformed message on the wire.
package display

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Kind is the message type of a display message.
type Kind string

// The display message types.
const (
	ExecuteResult     Kind = "execute_result"
	DisplayData       Kind = "display_data"
	UpdateDisplayData Kind = "update_display_data"
	ClearOutput       Kind = "clear_output"
)

// IsKind reports whether msgType is one of the display message types.
func IsKind(msgType string) bool {
	switch Kind(msgType) {
	case ExecuteResult, DisplayData, UpdateDisplayData, ClearOutput:
		return true
	}
	return false
}

// Bundle is a MIME bundle: representations of one value keyed by MIME
// type, with metadata and transient data (display_id).
type Bundle struct {
	Data      map[string]json.RawMessage `json:"data"`
	Metadata  map[string]json.RawMessage `json:"metadata"`
	Transient map[string]json.RawMessage `json:"transient,omitempty"`
}

// Set adds the representation of MIME type mime: a string for text types
// (text/*, and base64 for images), any value that marshals to JSON for the
// others (application/json, */*+json).
func (b *Bundle) Set(mime string, value any) error {
	if err := checkMime(mime); err != nil {
		return err
	}
	raw, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("display: %s: %w", mime, err)
	}
	if err := checkValue(mime, raw); err != nil {
		return err
	}
	if b.Data == nil {
		b.Data = map[string]json.RawMessage{}
	}
	b.Data[mime] = raw
	return nil
}

// SetMetadata sets the metadata of one MIME type (for example an image's
// width and height).
func (b *Bundle) SetMetadata(mime string, value any) error {
	raw, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("display: metadata of %s: %w", mime, err)
	}
	if b.Metadata == nil {
		b.Metadata = map[string]json.RawMessage{}
	}
	b.Metadata[mime] = raw
	return nil
}

// DisplayID is transient.display_id, or "" when there is none.
func (b *Bundle) DisplayID() string {
	var id string
	if raw, ok := b.Transient["display_id"]; ok && json.Unmarshal(raw, &id) == nil {
		return id
	}
	return ""
}

// SetDisplayID names the display, so that Update can replace it later.
func (b *Bundle) SetDisplayID(id string) {
	if b.Transient == nil {
		b.Transient = map[string]json.RawMessage{}
	}
	raw, _ := json.Marshal(id) // a string always marshals
	b.Transient["display_id"] = raw
}

// Check rejects an empty bundle, a malformed MIME type, a text
// representation that is not a string and a display_id that is not one;
// it fills an absent metadata with {}.
func (b *Bundle) Check() error {
	if len(b.Data) == 0 {
		return errors.New("empty MIME bundle")
	}
	for mime, raw := range b.Data {
		if err := checkMime(mime); err != nil {
			return err
		}
		if err := checkValue(mime, raw); err != nil {
			return err
		}
	}
	if b.Metadata == nil {
		b.Metadata = map[string]json.RawMessage{}
	}
	if raw, ok := b.Transient["display_id"]; ok {
		var id string
		if json.Unmarshal(raw, &id) != nil || id == "" {
			return errors.New("transient.display_id is not a non-empty string")
		}
	}
	return nil
}

// checkMime accepts type/subtype made of the characters MIME allows in
// tokens (RFC 6838's restricted names, plus the + of suffixes).
func checkMime(mime string) error {
	typ, sub, ok := strings.Cut(mime, "/")
	if !ok || typ == "" || sub == "" || len(mime) > 255 {
		return fmt.Errorf("display: %q is not a MIME type", mime)
	}
	for _, c := range typ + sub {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$&-^_.+", c)
		if !ok {
			return fmt.Errorf("display: %q is not a MIME type", mime)
		}
	}
	return nil
}

// checkValue holds text types (text/*) to text, a string or nbformat's
// list of lines; other types may carry any JSON (images are base64 text,
// */*+json types are objects, libraries invent their own).
func checkValue(mime string, raw json.RawMessage) error {
	if !strings.HasPrefix(mime, "text/") {
		if !json.Valid(raw) {
			return fmt.Errorf("display: %s is not JSON", mime)
		}
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return nil
	}
	var lines []string
	if json.Unmarshal(raw, &lines) == nil {
		return nil
	}
	return fmt.Errorf("display: %s is not text", mime)
}

// Output is one display message: its kind and its content.
type Output struct {
	Kind           Kind
	Bundle         Bundle // execute_result, display_data, update_display_data
	ExecutionCount int    // execute_result
	Wait           bool   // clear_output
}

// Check rejects an output that does not fit its kind: a bundle that fails
// Bundle.Check, an update without a display_id.
func (o *Output) Check() error {
	switch o.Kind {
	case ClearOutput:
		return nil
	case ExecuteResult, DisplayData, UpdateDisplayData:
		if err := o.Bundle.Check(); err != nil {
			return fmt.Errorf("%s: %w", o.Kind, err)
		}
		if o.Kind == UpdateDisplayData && o.Bundle.DisplayID() == "" {
			return errors.New("update_display_data needs transient.display_id")
		}
		return nil
	}
	return fmt.Errorf("%q is not a display message", o.Kind)
}

// Content is the message's content as it goes on the wire.
func (o *Output) Content() any {
	switch o.Kind {
	case ClearOutput:
		return struct {
			Wait bool `json:"wait"`
		}{o.Wait}
	case ExecuteResult:
		return struct {
			ExecutionCount int `json:"execution_count"`
			Bundle
		}{o.ExecutionCount, o.Bundle}
	}
	return o.Bundle
}

// PlainText is the text/plain representation, if the output has one (what
// the history records as a cell's output).
func (o *Output) PlainText() *string {
	raw, ok := o.Bundle.Data["text/plain"]
	if !ok {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return &s
	}
	var lines []string
	if json.Unmarshal(raw, &lines) == nil {
		s = strings.Join(lines, "")
		return &s
	}
	return nil
}

// Size is what the output weighs against a cell's output budget: its data,
// metadata and transient data, as JSON.
func (o *Output) Size() int64 {
	var n int64
	for _, m := range []map[string]json.RawMessage{o.Bundle.Data, o.Bundle.Metadata, o.Bundle.Transient} {
		for k, v := range m {
			n += int64(len(k) + len(v))
		}
	}
	return n
}

// Decode checks the content of a display message of type msgType that an
// interpreter produced and returns it as an Output.
func Decode(msgType string, content json.RawMessage) (Output, error) {
	o := Output{Kind: Kind(msgType)}
	var err error
	switch o.Kind {
	case ClearOutput:
		var c struct {
			Wait bool `json:"wait"`
		}
		err = json.Unmarshal(content, &c)
		o.Wait = c.Wait
	case ExecuteResult:
		var c struct {
			ExecutionCount int `json:"execution_count"`
			Bundle
		}
		err = json.Unmarshal(content, &c)
		o.ExecutionCount, o.Bundle = c.ExecutionCount, c.Bundle
	case DisplayData, UpdateDisplayData:
		err = json.Unmarshal(content, &o.Bundle)
	default:
		return Output{}, fmt.Errorf("%q is not a display message", msgType)
	}
	if err != nil {
		return Output{}, fmt.Errorf("%s: %w", msgType, err)
	}
	if err := o.Check(); err != nil {
		return Output{}, err
	}
	return o, nil
}

// Publisher puts display messages into a cell's output. The kernel's
// publishers check each output and count it against the cell's output
// budget.
type Publisher interface {
	Display(Output) error
}

// Show publishes b as display_data (a new output of the cell).
func Show(p Publisher, b Bundle) error {
	return p.Display(Output{Kind: DisplayData, Bundle: b})
}

// Update replaces the output shown earlier under displayID.
func Update(p Publisher, displayID string, b Bundle) error {
	b.SetDisplayID(displayID)
	return p.Display(Output{Kind: UpdateDisplayData, Bundle: b})
}

// Clear clears the cell's output: now, or when the next output comes (wait).
func Clear(p Publisher, wait bool) error {
	return p.Display(Output{Kind: ClearOutput, Wait: wait})
}
