package codecache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/wasipy/wasipy/interp/internal/interrupt"
	"github.com/wasipy/wasipy/interp/internal/wasmbin"
)

// Module is what the worker needs of a python.wasm.
type Module struct {
	Wasm      []byte             // stripped of DWARF
	Digest    string             // SHA-256 of Wasm, hex
	Targets   *interrupt.Targets // nil when the binary has no usable DWARF
	TargetErr string             // why Targets is nil
}

// LoadModule prepares the interpreter at path: a stripped copy and the
// interrupt addresses read from its DWARF, both kept in the cache, keyed by
// the source's path, size and modification time so that the 26 MB file is
// neither hashed nor parsed on every start.
//
// Both cached files are used only if they authenticate (see Cache): a
// forged address would make the interrupter write four words at offsets
// of the attacker's choosing in the guest's memory, and a forged module
// would run as the interpreter.
func LoadModule(path string, cache *Cache) (*Module, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("python.wasm: %w", err)
	}
	// "v2": the interrupt targets gained the 3.13 layout; entries written
	// before it would keep a 3.13 interpreter uninterruptible.
	key := sha256.Sum256([]byte(fmt.Sprintf("v2|%s|%d|%d", path, st.Size(), st.ModTime().UnixNano())))
	base := "python-" + hex.EncodeToString(key[:8])
	// Both are checked (and a bad one discarded and logged) even when the
	// other fails, so the log names every tampered file.
	b, _, okWasm := cache.read(base+".wasm", nil)
	meta, _, okMeta := cache.read(base+".json", nil)
	if okWasm && okMeta {
		var p cachedMeta
		if bytes.HasPrefix(b, wasmbin.Magic) && json.Unmarshal(meta, &p) == nil {
			return &Module{Wasm: b, Digest: cache.man.Entries[base+".wasm"].SHA256, Targets: p.Targets, TargetErr: p.TargetErr}, nil
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("python.wasm: %w", err)
	}
	stripped, err := wasmbin.StripDebugSections(raw)
	if err != nil {
		return nil, fmt.Errorf("python.wasm %s: %w", path, err)
	}
	sum := sha256.Sum256(stripped)
	p := &Module{Wasm: stripped, Digest: hex.EncodeToString(sum[:])}
	if p.Targets, err = interrupt.Find(raw); err != nil {
		p.TargetErr = err.Error()
	}
	if cache != nil && cache.dir != "" {
		meta, _ := json.Marshal(cachedMeta{Targets: p.Targets, TargetErr: p.TargetErr})
		// A read-only cache only costs start-up time.
		if cache.write(base+".wasm", stripped) == nil {
			_ = cache.write(base+".json", meta)
		}
	}
	return p, nil
}

type cachedMeta struct {
	Targets   *interrupt.Targets `json:"interrupt_targets"`
	TargetErr string             `json:"interrupt_error,omitempty"`
}
