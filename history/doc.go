// Package history is the kernel's input history: every executed cell's
// source (and the text/plain of its result) in a store that outlives the
// kernel process, queried through Jupyter's history_request.
//
// # Why the store lives on the host
//
// The Python interpreter runs in a WebAssembly sandbox that sees only the
// notebook's folder. IPython keeps its history in a SQLite file that the
// user's own code can open, rewrite or delete; here the history is kept by
// the Go host, in a directory the guest never sees (by default
// ${XDG_DATA_HOME:-~/.local/share}/wasipy/history, see DefaultDir). User
// code can therefore neither read the history of other notebooks nor forge
// or erase entries: only the kernel writes, after a cell ran. The directory
// is created with mode 0700 and its files with 0600. A kernel must not
// expose the directory to the guest; Within tells whether it lies inside a
// folder the guest can see.
//
// # Format
//
// A store is a directory holding
//
//   - history.jsonl: an append-only log, one JSON object per line. A line
//     {"k":"s","s":N,"t":time} marks the start of session N; a line
//     {"s":N,"l":L,"i":input,"o":output} records cell L of session N ("o" is
//     absent when the cell had no result). Later records of the same
//     session and line replace earlier ones. Unknown kinds and lines that
//     do not parse (a crash in the middle of a write) are skipped.
//   - session: the last session number handed out, in decimal.
//   - lock: the file locked (flock) by every reader and writer.
//
// Several kernels may share a store: every write of a line is one O_APPEND
// write made while holding an exclusive lock on the lock file, so lines
// never interleave, and session numbers are allocated under the same lock,
// so they are unique and increase across all kernels of the store. When
// the log grows beyond MaxSize it is compacted: the most recent lines (about
// half of MaxSize) are copied to a new file that replaces the old one.
// Writers notice the replacement under the lock and reopen the log.
//
// # Queries
//
// Query answers the three kinds of history_request (tail, range, search)
// the way IPython's HistoryManager does; entries are ordered by session,
// then line, as in IPython. Only the raw source is stored: a request with
// raw=false gets the raw source too (the transformed source is known only
// to the guest).
package history
