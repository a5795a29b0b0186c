//go:build unix && !linux

package sandboxfs

import "os"

func anonymousFile() (*os.File, error) { return tempFile() }
