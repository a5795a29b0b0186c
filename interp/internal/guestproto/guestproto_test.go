package guestproto

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// declared lists the string constants of the given type declared in
// guestproto.go, read from the source: a constant added there without a
// fixture line cannot slip past TestFixtureCoversEveryKind.
func declared(t *testing.T, typeName string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "guestproto.go", nil, 0)
	require.NoError(t, err)
	var out []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != typeName {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				require.True(t, ok && lit.Kind == token.STRING, "a %s constant that is not a string literal", typeName)
				s, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

type fixture struct {
	Kind       string          `json:"kind"`
	Frame      json.RawMessage `json:"frame"`
	BuffersB64 []string        `json:"buffers_b64"`
}

func readFixtures(t *testing.T) []fixture {
	t.Helper()
	f, err := os.Open("testdata/messages.jsonl")
	require.NoError(t, err)
	defer f.Close()
	var out []fixture
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.DisallowUnknownFields()
		var fx fixture
		require.NoError(t, d.Decode(&fx), "line %d", n)
		out = append(out, fx)
	}
	require.NoError(t, sc.Err())
	return out
}

// payload is the frame's bytes as a peer writes them: head, NUL, buffers.
func (fx fixture) payload(t *testing.T) ([]byte, [][]byte) {
	var bufs [][]byte
	for _, s := range fx.BuffersB64 {
		b, err := base64.StdEncoding.DecodeString(s)
		require.NoError(t, err)
		bufs = append(bufs, b)
	}
	p := append([]byte(nil), fx.Frame...)
	if len(bufs) > 0 {
		p = append(p, 0)
		for _, b := range bufs {
			p = append(p, b...)
		}
	}
	return p, bufs
}

// Every kind and every host-request method has a fixture, and every
// fixture names a declared kind.
func TestFixtureCoversEveryKind(t *testing.T) {
	inFile, methods := map[string]bool{}, map[string]bool{}
	for _, fx := range readFixtures(t) {
		inFile[fx.Kind] = true
		if fx.Kind == string(HostRequest) {
			var h struct{ Method string }
			require.NoError(t, json.Unmarshal(fx.Frame, &h))
			methods[h.Method] = true
		}
	}
	kinds := declared(t, "Kind")
	require.Equal(t, kinds, sortedKeys(inFile), "kinds in guestproto.go vs testdata/messages.jsonl")
	require.Equal(t, declared(t, "Method"), sortedKeys(methods), "methods in guestproto.go vs host_request lines of the fixture")
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Every fixture decodes to its kind with its buffers, and encodes back to
// the same head (as JSON values) and bytes: the struct knows every field
// the fixture uses, so neither side can add one unnoticed.
func TestFixtureRoundTrips(t *testing.T) {
	for i, fx := range readFixtures(t) {
		payload, bufs := fx.payload(t)
		m, err := Decode(payload)
		require.NoError(t, err, "line %d (%s)", i+1, fx.Kind)
		require.Equal(t, Kind(fx.Kind), m.Type, "line %d", i+1)
		require.Equal(t, len(bufs), len(m.Buffers), "line %d", i+1)
		for j := range bufs {
			require.Equal(t, bufs[j], m.Buffers[j], "line %d buffer %d", i+1, j)
		}
		again, err := Encode(m)
		require.NoError(t, err)
		head := again
		if k := bytes.IndexByte(again, 0); k >= 0 {
			head = again[:k]
			require.Equal(t, payload[bytes.IndexByte(payload, 0):], again[k:], "line %d: buffers", i+1)
		}
		require.JSONEq(t, string(fx.Frame), string(head), "line %d (%s)", i+1, fx.Kind)
	}
}

// The fixture's typed contents parse into the structs the host uses.
func TestFixtureContentsFitTheirStructs(t *testing.T) {
	for _, fx := range readFixtures(t) {
		payload, _ := fx.payload(t)
		m, err := Decode(payload)
		require.NoError(t, err)
		strict := func(v any) {
			d := json.NewDecoder(bytes.NewReader(m.Content))
			d.DisallowUnknownFields()
			require.NoError(t, d.Decode(v), "%s content", m.Type)
		}
		switch {
		case m.Type == FFIModules:
			var l ModuleList
			strict(&l)
			require.NotEmpty(t, l.Modules)
		case m.Type == HostRequest && IsFFIMethod(m.Method):
			strict(&FFIRequest{})
		case m.Type == PyAwait:
			strict(&PyAwaitRequest{})
		case m.Type == GoRelease:
			var c GoReleaseContent
			strict(&c)
			require.NotEmpty(t, c.IDs)
		case m.Type == Reply && bytes.Contains(m.Content, []byte(`"value"`)), m.Type == Reply && bytes.Contains(m.Content, []byte(`"ename"`)):
			var r PyResult
			strict(&r)
			require.NotEmpty(t, r.Status)
		case m.Type == Hello:
			require.NoError(t, CheckHello(m.Content))
		}
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	bad := map[string]string{
		"invalid JSON":             `{"type":`,
		"invalid UTF-8":            "{\"type\":\"stream\",\"content\":{\"text\":\"\xff\"}}",
		"no type":                  `{"id":1}`,
		"buffers shorter":          "{\"type\":\"x\",\"buffer_lengths\":[4]}\x00abc",
		"buffers longer":           "{\"type\":\"x\",\"buffer_lengths\":[1]}\x00abc",
		"buffers without NUL":      `{"type":"x","buffer_lengths":[0]}`,
		"negative length":          "{\"type\":\"x\",\"buffer_lengths\":[-1,4]}\x00abc",
		"bytes after NUL, no list": "{\"type\":\"x\"}\x00abc",
		"id not a number":          `{"type":"reply","id":"1"}`,
		"id too large":             `{"type":"reply","id":1e30}`,
	}
	for name, payload := range bad {
		_, err := Decode([]byte(payload))
		require.Error(t, err, name)
	}
	many := `{"type":"x","buffer_lengths":[` + strings.Repeat("0,", MaxBuffers) + "0]}\x00"
	_, err := Decode([]byte(many))
	require.ErrorContains(t, err, "over the limit")

	m, err := Decode([]byte("{\"type\":\"comm_msg\",\"buffer_lengths\":[1,2]}\x00abc"))
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("a"), []byte("bc")}, m.Buffers)
}

// A hello without the version speaks version 1 (runtimes from before it
// was sent); any other version is refused with both numbers named.
func TestCheckHello(t *testing.T) {
	require.NoError(t, CheckHello(json.RawMessage(`{"name":"python"}`)))
	require.NoError(t, CheckHello(json.RawMessage(`{"protocol":1,"name":"python"}`)))
	err := CheckHello(json.RawMessage(`{"protocol":2}`))
	require.ErrorContains(t, err, "version 2")
	require.ErrorContains(t, err, "version 1")
	require.Error(t, CheckHello(json.RawMessage(`{"protocol":"1"}`)))
	require.Error(t, CheckHello(json.RawMessage(`[]`)))
}

func TestFromHostOnly(t *testing.T) {
	for _, k := range []Kind{Hello, Reply, HostRequest, GoRelease, Stream, ExecuteResult, DisplayData, UpdateDisplayData, ClearOutput, Error, CommOpen, CommMsg, CommClose} {
		require.False(t, FromHostOnly(k), k)
	}
	for _, k := range []Kind{Execute, IsComplete, Complete, Inspect, CommInfo, PyEval, PyCall, PyAwait, FFIModules, DebugRequest, HostReply, Interrupt, PyRelease, PyCancel} {
		require.True(t, FromHostOnly(k), k)
	}
}

// FuzzDecode checks the decoder alone: what it accepts has buffers that
// add up to exactly the bytes after the NUL, valid UTF-8 JSON and a type;
// it never panics; and what it accepts encodes and decodes to the same
// message.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"reply","id":1}`))
	f.Add([]byte("{\"type\":\"x\",\"buffer_lengths\":[1,2]}\x00abc"))
	f.Add([]byte("{\"type\":\"x\",\"buffer_lengths\":[-1]}\x00abc"))
	f.Add([]byte("{\"type\":\"x\"}\x00"))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := Decode(payload)
		if err != nil {
			return
		}
		if m.Type == "" {
			t.Fatal("accepted a message without a type")
		}
		sum := 0
		for _, b := range m.Buffers {
			sum += len(b)
		}
		if len(m.Buffers) != len(m.BufferLengths) {
			t.Fatalf("%d buffers for %d lengths", len(m.Buffers), len(m.BufferLengths))
		}
		if i := bytes.IndexByte(payload, 0); i >= 0 && sum != len(payload)-i-1 {
			t.Fatalf("buffers of %d bytes, %d bytes after the NUL", sum, len(payload)-i-1)
		} else if i < 0 && len(m.Buffers) > 0 {
			t.Fatal("buffers accepted without a NUL")
		}
		again, err := Encode(&Message{Type: m.Type, ID: m.ID, RID: m.RID, Content: m.Content, Buffers: m.Buffers})
		if err != nil {
			t.Fatalf("re-encoding an accepted message: %v", err)
		}
		m2, err := Decode(again)
		if err != nil {
			t.Fatalf("decoding a re-encoded message: %v", err)
		}
		if m2.Type != m.Type || m2.ID != m.ID || len(m2.Buffers) != len(m.Buffers) {
			t.Fatalf("round trip changed the message: %+v vs %+v", m, m2)
		}
	})
}
