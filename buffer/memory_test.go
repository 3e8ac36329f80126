package buffer_test

import (
	"testing"

	"canary/buffer"
	"canary/buffer/buffertest"
)

func TestMemoryConformance(t *testing.T) {
	buffertest.Run(t, func(t *testing.T, dir string) buffer.Outbox {
		return buffer.NewMemory(buffertest.Options())
	}, false)
}
