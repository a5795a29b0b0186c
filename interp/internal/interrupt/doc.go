// Package interrupt stops running Python code from outside the guest: it
// finds CPython's signal flags in python.wasm's DWARF (Find), writes them
// into the guest's memory while the guest runs (Interrupter), and applies
// each interrupt only once the request it targets has reached the guest
// (Relay).
package interrupt
