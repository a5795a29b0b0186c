package protocol

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestChannelString(t *testing.T) {
	assert.Equal(t, "shell control stdin iopub heartbeat Channel(9)",
		strings.Join([]string{Shell.String(), Control.String(), Stdin.String(), IOPub.String(), Heartbeat.String(), Channel(9).String()}, " "))
}
