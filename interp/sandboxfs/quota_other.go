//go:build !unix

package sandboxfs

import (
	"errors"
	"os"
)

func newSharedCounters() (*os.File, *[3]int64, error) {
	return nil, nil, errors.New("shared quota counters need a Unix system")
}

func mapSharedCounters(*os.File) (*[3]int64, error) {
	return nil, errors.New("shared quota counters need a Unix system")
}
