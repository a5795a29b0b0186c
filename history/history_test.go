package history

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func session(t *testing.T, s *Store) *Session {
	t.Helper()
	ss, err := s.NewSession()
	require.NoError(t, err)
	return ss
}

func str(s string) *string { return &s }

func query(t *testing.T, s *Store, current int, content string) string {
	t.Helper()
	var q Request
	require.NoError(t, json.Unmarshal([]byte(content), &q))
	got, err := s.Query(context.Background(), q, current)
	require.NoError(t, err)
	b, err := json.Marshal(got)
	require.NoError(t, err)
	return string(b)
}

func TestPersistsAcrossOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	require.NoError(t, err)
	ss := session(t, s)
	assert.Equal(t, 1, ss.Number())
	require.NoError(t, ss.Record(1, "x = 1", nil))
	require.NoError(t, ss.Record(2, "x + 1", str("2")))
	require.NoError(t, s.Close())
	assert.ErrorIs(t, ss.Record(3, "y", nil), ErrClosed)

	s2 := open(t, dir)
	ss2 := session(t, s2)
	assert.Equal(t, 2, ss2.Number())
	require.NoError(t, ss2.Record(1, "print(x)", nil))
	assert.JSONEq(t, `[[1,1,"x = 1"],[1,2,"x + 1"],[2,1,"print(x)"]]`,
		query(t, s2, ss2.Number(), `{"hist_access_type":"tail","n":10,"raw":true,"output":false}`))
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "history")
	s := open(t, dir)
	ss := session(t, s)
	require.NoError(t, ss.Record(1, "secret = 1", nil))
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	for _, name := range []string{logName, lockName, counterName} {
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), name)
	}

	// A directory and log made with looser modes are tightened.
	loose := t.TempDir()
	require.NoError(t, os.Chmod(loose, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(loose, logName), nil, 0o644))
	require.NoError(t, os.Chmod(filepath.Join(loose, logName), 0o644))
	open(t, loose)
	fi, err = os.Stat(loose)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	fi, err = os.Stat(filepath.Join(loose, logName))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestSessionNumbersAcrossStores(t *testing.T) {
	dir := t.TempDir()
	a, b := open(t, dir), open(t, dir)
	var got []int
	for i := 0; i < 3; i++ {
		got = append(got, session(t, a).Number(), session(t, b).Number())
	}
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6}, got)

	// Concurrent allocation never hands out a number twice.
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(s *Store) {
			defer wg.Done()
			ss, err := s.NewSession()
			assert.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			assert.False(t, seen[ss.Number()], "session %d twice", ss.Number())
			seen[ss.Number()] = true
		}([]*Store{a, b}[i%2])
	}
	wg.Wait()
	assert.Len(t, seen, 20)
	assert.Equal(t, 27, session(t, open(t, dir)).Number())
}

func TestSessionCounterRecovery(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	session(t, s)
	session(t, s)
	// A lost or damaged counter falls back to the log's highest session.
	require.NoError(t, os.WriteFile(filepath.Join(dir, counterName), []byte("garbage"), 0o600))
	assert.Equal(t, 3, session(t, open(t, dir)).Number())
	require.NoError(t, os.Remove(filepath.Join(dir, counterName)))
	assert.Equal(t, 4, session(t, open(t, dir)).Number())
}

// fixture: session 1 (lines 1-3), session 2 (lines 1-2), session 3 (lines
// 1-4), the current one.
func fixture(t *testing.T) (*Store, *Session) {
	s := open(t, t.TempDir())
	s1, s2, s3 := session(t, s), session(t, s), session(t, s)
	require.NoError(t, s1.Record(1, "a = 1", nil))
	require.NoError(t, s1.Record(2, "a", str("1")))
	require.NoError(t, s1.Record(3, "print(a)", nil))
	require.NoError(t, s2.Record(1, "b = 2", nil))
	require.NoError(t, s2.Record(2, "a", str("NameError")))
	require.NoError(t, s3.Record(1, "import os", nil))
	require.NoError(t, s3.Record(2, "os.getcwd()", str("'/'")))
	require.NoError(t, s3.Record(3, "a = 1", nil))
	require.NoError(t, s3.Record(4, "x = [1,\n 2]", nil))
	return s, s3
}

func TestTail(t *testing.T) {
	s, cur := fixture(t)
	n := cur.Number()
	assert.Equal(t, `[[3,2,"os.getcwd()"],[3,3,"a = 1"],[3,4,"x = [1,\n 2]"]]`,
		query(t, s, n, `{"hist_access_type":"tail","n":3,"output":false,"raw":true}`))
	assert.Equal(t, `[[3,2,["os.getcwd()","'/'"]],[3,3,["a = 1",null]],[3,4,["x = [1,\n 2]",null]]]`,
		query(t, s, n, `{"hist_access_type":"tail","n":3,"output":true,"raw":true}`))
	// Across sessions, ordered by session then line.
	assert.Equal(t, `[[2,2,"a"],[3,1,"import os"],[3,2,"os.getcwd()"],[3,3,"a = 1"],[3,4,"x = [1,\n 2]"]]`,
		query(t, s, n, `{"hist_access_type":"tail","n":5}`))
	// More than there is, and the default n.
	var all []Entry
	require.NoError(t, json.Unmarshal([]byte(query(t, s, n, `{"hist_access_type":"tail","n":100}`)), &all))
	assert.Len(t, all, 9)
	require.NoError(t, json.Unmarshal([]byte(query(t, s, n, `{"hist_access_type":"tail"}`)), &all))
	assert.Len(t, all, 9)
	// raw=false gets the same (raw) text.
	assert.Equal(t, query(t, s, n, `{"hist_access_type":"tail","n":9,"raw":true}`),
		query(t, s, n, `{"hist_access_type":"tail","n":9,"raw":false}`))
}

func TestRange(t *testing.T) {
	s, cur := fixture(t)
	n := cur.Number()
	for _, tc := range []struct{ req, want string }{
		// Session 0 and a missing session are the current one.
		{`{"hist_access_type":"range","session":0,"start":1,"stop":3}`, `[[3,1,"import os"],[3,2,"os.getcwd()"]]`},
		{`{"hist_access_type":"range","start":3}`, `[[3,3,"a = 1"],[3,4,"x = [1,\n 2]"]]`},
		// stop 0 is no bound; start 0 is from the first line.
		{`{"hist_access_type":"range","session":1}`, `[[1,1,"a = 1"],[1,2,"a"],[1,3,"print(a)"]]`},
		{`{"hist_access_type":"range","session":1,"start":2,"stop":3,"output":true}`, `[[1,2,["a","1"]]]`},
		// Negative sessions count back from the current one.
		{`{"hist_access_type":"range","session":-1,"start":1,"stop":10}`, `[[2,1,"b = 2"],[2,2,"a"]]`},
		{`{"hist_access_type":"range","session":-2,"start":3,"stop":4}`, `[[1,3,"print(a)"]]`},
		// Negative lines count back from the end of the session.
		{`{"hist_access_type":"range","session":0,"start":-2}`, `[[3,3,"a = 1"],[3,4,"x = [1,\n 2]"]]`},
		{`{"hist_access_type":"range","session":0,"start":1,"stop":-2}`, `[[3,1,"import os"],[3,2,"os.getcwd()"]]`},
		// Nothing there.
		{`{"hist_access_type":"range","session":7}`, `[]`},
		{`{"hist_access_type":"range","session":-5}`, `[]`},
		{`{"hist_access_type":"range","session":1,"start":3,"stop":3}`, `[]`},
		{`{"hist_access_type":"range","session":1,"start":5,"stop":2}`, `[]`},
	} {
		assert.Equal(t, tc.want, query(t, s, n, tc.req), tc.req)
	}
}

func TestSearch(t *testing.T) {
	s, cur := fixture(t)
	n := cur.Number()
	for _, tc := range []struct{ req, want string }{
		// The pattern must match the whole input.
		{`{"hist_access_type":"search","pattern":"a"}`, `[[1,2,"a"],[2,2,"a"]]`},
		{`{"hist_access_type":"search","pattern":"a*"}`, `[[1,1,"a = 1"],[1,2,"a"],[2,2,"a"],[3,3,"a = 1"]]`},
		{`{"hist_access_type":"search","pattern":"*os*","output":true}`, `[[3,1,["import os",null]],[3,2,["os.getcwd()","'/'"]]]`},
		{`{"hist_access_type":"search","pattern":"? = ?"}`, `[[1,1,"a = 1"],[2,1,"b = 2"],[3,3,"a = 1"]]`},
		{`{"hist_access_type":"search","pattern":"[b-z] = *"}`, `[[2,1,"b = 2"],[3,4,"x = [1,\n 2]"]]`},
		{`{"hist_access_type":"search","pattern":"*\n*"}`, `[[3,4,"x = [1,\n 2]"]]`},
		{`{"hist_access_type":"search","pattern":"A*"}`, `[]`},
		// unique keeps the most recent of each input; n the last n.
		{`{"hist_access_type":"search","pattern":"a*","unique":true}`, `[[2,2,"a"],[3,3,"a = 1"]]`},
		{`{"hist_access_type":"search","pattern":"a*","n":3}`, `[[1,2,"a"],[2,2,"a"],[3,3,"a = 1"]]`},
		{`{"hist_access_type":"search","pattern":"*","n":2,"unique":true}`, `[[3,3,"a = 1"],[3,4,"x = [1,\n 2]"]]`},
		{`{"hist_access_type":"search","pattern":"*a*","n":1,"unique":true}`, `[[3,3,"a = 1"]]`},
		{`{"hist_access_type":"search","pattern":"*","n":4,"unique":true}`, `[[3,1,"import os"],[3,2,"os.getcwd()"],[3,3,"a = 1"],[3,4,"x = [1,\n 2]"]]`},
		{`{"hist_access_type":"search","pattern":"*","n":6,"unique":true}`, `[[2,1,"b = 2"],[2,2,"a"],[3,1,"import os"],[3,2,"os.getcwd()"],[3,3,"a = 1"],[3,4,"x = [1,\n 2]"]]`},
		// An unknown kind of request gets an empty list.
		{`{"hist_access_type":"bogus"}`, `[]`},
	} {
		assert.Equal(t, tc.want, query(t, s, n, tc.req), tc.req)
	}
}

func TestQueryCanceled(t *testing.T) {
	s, cur := fixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Query(ctx, Request{HistAccessType: "search", Pattern: "*"}, cur.Number())
	assert.ErrorIs(t, err, context.Canceled)
}

func TestRecordReplacesLine(t *testing.T) {
	s := open(t, t.TempDir())
	ss := session(t, s)
	require.NoError(t, ss.Record(1, "1 + 1", nil))
	assert.Equal(t, `[[1,1,["1 + 1",null]]]`, query(t, s, 1, `{"hist_access_type":"tail","n":5,"output":true}`))
	require.NoError(t, ss.Record(1, "1 + 1", str("2")))
	assert.Equal(t, `[[1,1,["1 + 1","2"]]]`, query(t, s, 1, `{"hist_access_type":"tail","n":5,"output":true}`))
	assert.Error(t, ss.Record(0, "x", nil))
}

func TestEntryJSON(t *testing.T) {
	es := []Entry{
		{Session: 1, Line: 2, Input: "a"},
		{Session: 1, Line: 3, Input: "b", WithOutput: true},
		{Session: 4, Line: 5, Input: "c\"", Output: str("<ü>"), WithOutput: true},
	}
	b, err := json.Marshal(es)
	require.NoError(t, err)
	assert.Equal(t, `[[1,2,"a"],[1,3,["b",null]],[4,5,["c\"","\u003cü\u003e"]]]`, string(b))
	var back []Entry
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, es, back)
	var e Entry
	assert.Error(t, json.Unmarshal([]byte(`[1,2]`), &e))
	assert.Error(t, json.Unmarshal([]byte(`[1,2,3]`), &e))
}

func TestRequestJSON(t *testing.T) {
	var q Request
	require.NoError(t, json.Unmarshal([]byte(`{"output":true,"raw":false,"hist_access_type":"search",
		"session":-1,"start":2,"stop":5,"n":7,"pattern":"a*","unique":true}`), &q))
	assert.Equal(t, Request{Output: true, HistAccessType: "search", Session: -1, Start: 2, Stop: 5, N: 7, Pattern: "a*", Unique: true}, q)
	// Nulls, as some clients send for unused fields, are zero values.
	q = Request{}
	require.NoError(t, json.Unmarshal([]byte(`{"hist_access_type":"tail","session":null,"n":null,"pattern":null}`), &q))
	assert.Equal(t, Request{HistAccessType: "tail"}, q)
}

func TestCorruptLinesSkipped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ss := session(t, s)
	require.NoError(t, ss.Record(1, "good = 1", nil))
	f, err := os.OpenFile(filepath.Join(dir, logName), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("not json\n{\"s\":1,\"l\":\n\n{\"s\":-3,\"l\":1,\"i\":\"neg\"}\n{\"k\":\"future\",\"s\":1}\n[1,2,3]\n{\"s\":1,\"l\":2,\"i\":\"half")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	// The cut line is not read while it might still be being written...
	assert.Equal(t, `[[1,1,"good = 1"]]`, query(t, s, 1, `{"hist_access_type":"tail","n":10}`))
	// ...and the next record is not glued to it.
	require.NoError(t, ss.Record(3, "good = 3", nil))
	assert.Equal(t, `[[1,1,"good = 1"],[1,3,"good = 3"]]`, query(t, s, 1, `{"hist_access_type":"tail","n":10}`))
	assert.Equal(t, `[[1,1,"good = 1"],[1,3,"good = 3"]]`, query(t, open(t, dir), 1, `{"hist_access_type":"tail","n":10}`))
	assert.Equal(t, 2, session(t, s).Number())
}

// checkLog reads the log line by line: every line must be a whole record.
func checkLog(t *testing.T, dir string) map[[2]int]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, logName))
	require.NoError(t, err)
	cells := map[[2]int]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), "line %.80q", sc.Text())
		if r.Kind == "" {
			cells[[2]int{r.Session, r.Line}] = r.Input
		}
	}
	require.NoError(t, sc.Err())
	return cells
}

func input(session, line, size int) string {
	head := fmt.Sprintf("# %d.%d ", session, line)
	return head + strings.Repeat(strconv.Itoa(line%10), size)
}

func TestConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	stores := []*Store{open(t, dir), open(t, dir)}
	const writers, lines = 8, 40
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		ss := session(t, stores[w%2])
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := 1; l <= lines; l++ {
				// Some lines are larger than a pipe buffer or a page.
				assert.NoError(t, ss.Record(l, input(ss.Number(), l, (l%4)*20000), nil))
				if l%10 == 0 {
					_, err := ss.Query(context.Background(), Request{HistAccessType: "tail", N: 5})
					assert.NoError(t, err)
				}
			}
		}()
	}
	wg.Wait()
	cells := checkLog(t, dir)
	assert.Len(t, cells, writers*lines)
	for k, v := range cells {
		assert.Equal(t, input(k[0], k[1], (k[1]%4)*20000), v)
	}
	got, err := stores[0].Query(context.Background(), Request{HistAccessType: "tail", N: 1000}, 1)
	require.NoError(t, err)
	assert.Len(t, got, writers*lines)
}

// TestHelperWriter is run as a separate process by TestConcurrentProcesses.
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv("WASIPY_HISTORY_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	s, err := Open(dir)
	require.NoError(t, err)
	defer s.Close()
	for k := 0; k < 3; k++ {
		ss, err := s.NewSession()
		require.NoError(t, err)
		for l := 1; l <= 30; l++ {
			require.NoError(t, ss.Record(l, input(ss.Number(), l, (l%3)*30000), nil))
		}
	}
}

func TestConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	const procs = 4
	var cmds []*exec.Cmd
	for i := 0; i < procs; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), "WASIPY_HISTORY_HELPER_DIR="+dir)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		require.NoError(t, cmd.Wait())
	}
	cells := checkLog(t, dir)
	assert.Len(t, cells, procs*3*30)
	sessions := map[int]bool{}
	for k, v := range cells {
		sessions[k[0]] = true
		assert.Equal(t, input(k[0], k[1], (k[1]%3)*30000), v)
	}
	assert.Len(t, sessions, procs*3)
	for n := 1; n <= procs*3; n++ {
		assert.True(t, sessions[n], "session %d", n)
	}
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	a, b := open(t, dir), open(t, dir)
	a.maxSize, b.maxSize = 8<<10, 1<<30
	sa, sb := session(t, a), session(t, b)
	for l := 1; l <= 200; l++ {
		require.NoError(t, sa.Record(l, input(sa.Number(), l, 100), nil))
		fi, err := os.Stat(filepath.Join(dir, logName))
		require.NoError(t, err)
		assert.LessOrEqual(t, fi.Size(), a.maxSize)
	}
	cells := checkLog(t, dir)
	assert.Contains(t, cells, [2]int{1, 200})
	assert.NotContains(t, cells, [2]int{1, 1})
	// b's log file was replaced under it: its next write goes to the new
	// log, and its reads see the new log.
	require.NoError(t, sb.Record(1, "from b", nil))
	assert.Equal(t, "from b", checkLog(t, dir)[[2]int{2, 1}])
	got, err := b.Query(context.Background(), Request{HistAccessType: "tail", N: 2}, sb.Number())
	require.NoError(t, err)
	assert.Equal(t, []Entry{{Session: 1, Line: 200, Input: input(1, 200, 100)}, {Session: 2, Line: 1, Input: "from b"}}, got)
	got, err = a.Query(context.Background(), Request{HistAccessType: "range", Session: 1, Start: 1}, sa.Number())
	require.NoError(t, err)
	require.NotEmpty(t, got)
	assert.Equal(t, 200, got[len(got)-1].Line)
	assert.Greater(t, got[0].Line, 1)
	// Session numbers survive compaction.
	assert.Equal(t, 3, session(t, open(t, dir)).Number())
}

func TestTruncation(t *testing.T) {
	s := open(t, t.TempDir())
	ss := session(t, s)
	big := strings.Repeat("é", MaxOutput) // two bytes each
	require.NoError(t, ss.Record(1, "x", &big))
	got, err := ss.Query(context.Background(), Request{HistAccessType: "tail", N: 1, Output: true})
	require.NoError(t, err)
	require.Len(t, got, 1)
	o := *got[0].Output
	assert.LessOrEqual(t, len(o), MaxOutput)
	assert.True(t, strings.HasSuffix(o, Truncated))
	assert.True(t, strings.HasPrefix(big, strings.TrimSuffix(o, Truncated)))
	assert.Equal(t, "short", cut("short", 10))
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything\nat all", true},
		{"a", "a", true},
		{"a", "ab", false},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"*b*", "abc", true},
		{"*b*", "ac", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a**c", "ac", true},
		{"?", "é", true},
		{"??", "é", false},
		{"h?llo", "hello", true},
		{"[abc]", "b", true},
		{"[abc]", "d", false},
		{"[a-c]x", "bx", true},
		{"[!a-c]", "b", false},
		{"[^a-c]", "d", true},
		{"[]]", "]", true},
		{"[a-]", "-", true},
		{"[*]", "*", true},
		{"[*]", "x", false},
		{"[?]*", "?!", true},
		{"[abc", "[abc", true},
		{"[abc", "a", false},
		{"A", "a", false},
		{"*x*y*z*", strings.Repeat("x", 200) + "y", false},
		{strings.Repeat("*a", 30) + "b", strings.Repeat("a", 300), false},
	} {
		assert.Equal(t, tc.want, compileGlob(tc.pattern).match(tc.s), "%q ~ %q", tc.pattern, tc.s)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("WASIPY_DATA_DIR", "")
	t.Setenv("XDG_DATA_HOME", "/xdg")
	assert.Equal(t, "/xdg/wasipy/history", DefaultDir())
	t.Setenv("XDG_DATA_HOME", "relative")
	t.Setenv("HOME", "/home/u")
	assert.Equal(t, "/home/u/.local/share/wasipy/history", DefaultDir())
	t.Setenv("XDG_DATA_HOME", "")
	assert.Equal(t, "/home/u/.local/share/wasipy/history", DefaultDir())
	t.Setenv("WASIPY_DATA_DIR", "/data")
	assert.Equal(t, "/data/history", DefaultDir())
}

func TestResultText(t *testing.T) {
	assert.Equal(t, str("2"), ResultText([]byte(`{"execution_count":1,"data":{"text/plain":"2","text/html":"<b>2</b>"},"metadata":{}}`)))
	assert.Equal(t, str("a\nb"), ResultText([]byte(`{"data":{"text/plain":["a\n","b"]}}`)))
	assert.Nil(t, ResultText([]byte(`{"data":{"image/png":"..."}}`)))
	assert.Nil(t, ResultText([]byte(`{"data":{"text/plain":3}}`)))
	assert.Nil(t, ResultText([]byte(`nope`)))
}

// BenchmarkQueryFullStore measures a tail query on a log at MaxSize: cold
// (a kernel's first query reads the whole log) and warm (later queries read
// only what was appended).
func BenchmarkQueryFullStore(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir)
	require.NoError(b, err)
	defer s.Close()
	var buf bytes.Buffer
	for n, sess := 0, 1; buf.Len() < MaxSize-1000; sess++ {
		for l := 1; l <= 100; l++ {
			n++
			rec, _ := json.Marshal(record{Session: sess, Line: l, Input: input(sess, l, 100+n%200)})
			buf.Write(append(rec, '\n'))
		}
	}
	require.NoError(b, os.WriteFile(filepath.Join(dir, logName), buf.Bytes(), 0o600))
	q := Request{HistAccessType: "search", Pattern: "*12345*", N: 10, Unique: true}
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s, err := Open(dir)
			require.NoError(b, err)
			_, err = s.Query(context.Background(), q, 1)
			require.NoError(b, err)
			s.Close()
		}
	})
	b.Run("warm", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, err := s.Query(context.Background(), q, 1)
			require.NoError(b, err)
		}
	})
}
