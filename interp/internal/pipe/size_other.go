//go:build !linux

package pipe

import "os"

// Enlarge is a no-op where pipes cannot be resized.
func Enlarge(*os.File) {}
