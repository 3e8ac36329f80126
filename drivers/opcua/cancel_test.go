package opcua

import (
	"context"
	"net"
	"testing"
	"time"

	"canary/config"
	"canary/drivers"
)

// A server that accepts TCP and never answers must not hold Run after
// ctx is cancelled.
func TestCancelDuringConnectReturnsPromptly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold the socket open, say nothing
		}
	}()
	d := config.Device{ID: "mute", Endpoint: "opc.tcp://" + l.Addr().String(), Security: config.OPCUASecurity{Mode: "None"},
		Timeout: config.Duration(time.Minute), Points: []config.Point{{ID: "p", Node: "i=2258"}}}
	s, err := New(d, drivers.Env{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(drivers.Scan) {}) }()
	time.Sleep(200 * time.Millisecond) // inside the connect now
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Run took %v after cancel", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still connecting 10s after cancel")
	}
}
