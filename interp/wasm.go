package interp

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

var wasmMagic = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// stripDebugSections returns the module without its ".debug_*" custom
// sections. The default python.wasm carries ~14 MB of DWARF; wazero still
// reads and caches it, so compiling a stripped copy is ~7x faster from the
// cache (DESIGN.md, "Measured facts").
func stripDebugSections(module []byte) ([]byte, error) {
	if len(module) < len(wasmMagic) || !bytes.Equal(module[:len(wasmMagic)], wasmMagic) {
		return nil, errors.New("not a WebAssembly 1.0 binary (bad magic or version)")
	}
	out := make([]byte, 0, len(module))
	out = append(out, wasmMagic...)
	rest := module[len(wasmMagic):]
	for len(rest) > 0 {
		id := rest[0]
		size, n := binary.Uvarint(rest[1:])
		if n <= 0 || size > uint64(len(rest)-1-n) {
			return nil, errors.New("truncated WebAssembly section")
		}
		end := 1 + n + int(size)
		section := rest[:end]
		if id == 0 && isDebugSection(rest[1+n:end]) {
			rest = rest[end:]
			continue
		}
		out = append(out, section...)
		rest = rest[end:]
	}
	return out, nil
}

// isDebugSection reports whether a custom section payload is named ".debug_*".
func isDebugSection(payload []byte) bool {
	nameLen, n := binary.Uvarint(payload)
	if n <= 0 || nameLen > uint64(len(payload)-n) {
		return false
	}
	return strings.HasPrefix(string(payload[n:n+int(nameLen)]), ".debug_")
}

// loadModule returns the bytes to compile for the interpreter at path: a
// stripped copy kept in cacheDir, keyed by the source's path, size and
// modification time so that the 26 MB file is not hashed on every start.
func loadModule(path, cacheDir string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("python.wasm: %w", err)
	}
	key := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%d", path, st.Size(), st.ModTime().UnixNano())))
	cached := filepath.Join(cacheDir, "stripped-"+hex.EncodeToString(key[:8])+".wasm")
	if cacheDir != "" {
		if b, err := os.ReadFile(cached); err == nil && bytes.HasPrefix(b, wasmMagic) {
			return b, nil
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
	if cacheDir != "" {
		if err := writeFileAtomic(cached, stripped); err != nil {
			// A read-only cache only costs start-up time.
			return stripped, nil
		}
	}
	return stripped, nil
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
