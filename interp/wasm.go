package interp

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

var wasmMagic = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// sections walks the sections of a WebAssembly 1.0 binary, calling fn with
// each section's id, its payload, and the whole section as it is encoded.
// For custom sections (id 0) name is the section's name.
func sections(module []byte, fn func(id byte, name string, payload, encoded []byte)) error {
	if len(module) < len(wasmMagic) || !bytes.Equal(module[:len(wasmMagic)], wasmMagic) {
		return errors.New("not a WebAssembly 1.0 binary (bad magic or version)")
	}
	rest := module[len(wasmMagic):]
	for len(rest) > 0 {
		id := rest[0]
		size, n := binary.Uvarint(rest[1:])
		if n <= 0 || size > uint64(len(rest)-1-n) {
			return errors.New("truncated WebAssembly section")
		}
		end := 1 + n + int(size)
		payload := rest[1+n : end]
		name := ""
		if id == 0 {
			if nameLen, m := binary.Uvarint(payload); m > 0 && nameLen <= uint64(len(payload)-m) {
				name = string(payload[m : m+int(nameLen)])
				payload = payload[m+int(nameLen):]
			}
		}
		fn(id, name, payload, rest[:end])
		rest = rest[end:]
	}
	return nil
}

// stripDebugSections returns the module without its ".debug_*" custom
// sections. The default python.wasm carries ~14 MB of DWARF; wazero still
// reads and caches it, so compiling a stripped copy is ~7x faster from the
// cache (docs/RATIONALE.md, section 6).
func stripDebugSections(module []byte) ([]byte, error) {
	out := make([]byte, 0, len(module))
	out = append(out, wasmMagic...)
	err := sections(module, func(id byte, name string, _, encoded []byte) {
		if id != 0 || !strings.HasPrefix(name, ".debug_") {
			out = append(out, encoded...)
		}
	})
	return out, err
}

// preparedModule is what the worker needs of a python.wasm.
type preparedModule struct {
	wasm      []byte            // stripped of DWARF
	targets   *interruptTargets // nil when the binary has no usable DWARF
	targetErr string            // why targets is nil
}

// loadModule prepares the interpreter at path: a stripped copy and the
// interrupt addresses read from its DWARF, both kept in the cache, keyed by
// the source's path, size and modification time so that the 26 MB file is
// neither hashed nor parsed on every start.
//
// Both cached files are used only if they authenticate (cacheauth.go): a
// forged address would make the interrupter write four words at offsets
// of the attacker's choosing in the guest's memory, and a forged module
// would run as the interpreter.
func loadModule(path string, cache *trustedCache) (*preparedModule, error) {
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
		if bytes.HasPrefix(b, wasmMagic) && json.Unmarshal(meta, &p) == nil {
			return &preparedModule{wasm: b, targets: p.Targets, targetErr: p.TargetErr}, nil
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("python.wasm: %w", err)
	}
	stripped, err := stripDebugSections(raw)
	if err != nil {
		return nil, fmt.Errorf("python.wasm %s: %w", path, err)
	}
	p := &preparedModule{wasm: stripped}
	if p.targets, err = findInterruptTargets(raw); err != nil {
		p.targetErr = err.Error()
	}
	if cache != nil && cache.dir != "" {
		meta, _ := json.Marshal(cachedMeta{Targets: p.targets, TargetErr: p.targetErr})
		// A read-only cache only costs start-up time.
		if cache.write(base+".wasm", stripped) == nil {
			_ = cache.write(base+".json", meta)
		}
	}
	return p, nil
}

type cachedMeta struct {
	Targets   *interruptTargets `json:"interrupt_targets"`
	TargetErr string            `json:"interrupt_error,omitempty"`
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
