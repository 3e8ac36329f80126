package opcua

import (
	"fmt"
	"testing"
	"time"

	"canary/agent/clock"
	"canary/drivers"
	"canary/drivers/opcua/opcuatest"
)

// A subscription whose values never change still emits, after every
// successful health check, an empty scan with Err nil: what keeps the
// device online and the agent's watchdog fed.
func TestQuietSubscriptionEmitsAliveScans(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars()})
	clk := clock.NewFake(time.Now())
	s, scans := runEnv(t, srv, nil, drivers.Env{Clock: clk, StateDir: t.TempDir()})
	await(t, scans, "online", online)
	// The initial notification of both items: the loop that owns the
	// health ticker is running.
	waitUntil(t, func() bool { return s.Notifications() >= 2 }, "the initial notifications")
	for i := range 5 {
		clk.Advance(s.interval)
		sc := await(t, scans, fmt.Sprint("an empty scan after health check ", i+1), func(sc drivers.Scan) bool {
			if sc.Err != nil {
				t.Fatalf("health check %d: scan with error %v", i+1, sc.Err)
			}
			return len(sc.Samples) == 0
		})
		if sc.Device != "sis" || sc.At.IsZero() {
			t.Errorf("alive scan %+v: want device sis and a start time", sc)
		}
	}
}
