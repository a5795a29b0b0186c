// Package memory gives the guest a linear memory that never moves (Fixed,
// Linux only), so that another goroutine (the interrupter) can write into
// it while the guest runs and grows it, and so that a guest memory of up
// to 4 GiB never lives in the Go heap.
package memory
