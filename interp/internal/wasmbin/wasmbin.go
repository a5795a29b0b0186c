// Package wasmbin reads the sections of a WebAssembly binary: enough to
// strip python.wasm's DWARF before compiling it, and to find that DWARF
// for the interrupter.
package wasmbin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
)

// Magic starts every WebAssembly 1.0 binary: the magic number and the
// version.
var Magic = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// sections walks the sections of a WebAssembly 1.0 binary, calling fn with
// each section's id, its payload, and the whole section as it is encoded.
// For custom sections (id 0) name is the section's name.
func Sections(module []byte, fn func(id byte, name string, payload, encoded []byte)) error {
	if len(module) < len(Magic) || !bytes.Equal(module[:len(Magic)], Magic) {
		return errors.New("not a WebAssembly 1.0 binary (bad magic or version)")
	}
	rest := module[len(Magic):]
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

// StripDebugSections returns the module without its ".debug_*" custom
// sections. The default python.wasm carries ~14 MB of DWARF; wazero still
// reads and caches it, so compiling a stripped copy is ~7x faster from the
// cache (docs/RATIONALE.md, section 6).
func StripDebugSections(module []byte) ([]byte, error) {
	out := make([]byte, 0, len(module))
	out = append(out, Magic...)
	err := Sections(module, func(id byte, name string, _, encoded []byte) {
		if id != 0 || !strings.HasPrefix(name, ".debug_") {
			out = append(out, encoded...)
		}
	})
	return out, err
}

// CustomSections returns the payloads of custom sections whose name
// starts with prefix.
func CustomSections(module []byte, prefix string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := Sections(module, func(id byte, name string, payload, _ []byte) {
		if id == 0 && strings.HasPrefix(name, prefix) {
			out[name] = payload
		}
	})
	return out, err
}
