package agent

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"
	"time"

	"canary/config"
	"canary/drivers/opcua/opcuatest"
)

// The server going away is a `device offline` event (with the error) and
// a warning; its return is `device online`; the reconnects are counted in
// /metrics. The records go through a real bbolt outbox.
func TestOPCUAServerLossOfflineThenOnline(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars()})
	sink := &fakeSink{}
	dev := opcuaDevice("sis", srv.URL)
	dev.Interval, dev.Timeout = config.Duration(200*time.Millisecond), config.Duration(time.Second)
	a := opcuaAgent(t, sink, func(_ *config.Config, o *Options) { o.Outbox = nil }, dev)
	stop := runAgent(a, sink)
	defer stop()
	states := func() []string {
		var out []string
		for _, e := range sink.events(t) {
			if e.Type == "device" && e.Device == "sis" {
				out = append(out, e.State)
				if e.State == "offline" && e.Error == "" {
					t.Errorf("offline event without the error: %+v", e)
				}
			}
		}
		return out
	}
	waitFor(t, 15*time.Second, func() bool { return len(states()) == 1 })
	srv.Stop()
	waitFor(t, 15*time.Second, func() bool { return len(states()) == 2 })
	if !a.m.health.Active(WarnDeviceOffline+":sis") && !hasWarning(a, WarnDeviceOffline+":sis") {
		t.Error("no device_offline:sis warning while the server is down")
	}
	srv.Restart(0)
	waitFor(t, 15*time.Second, func() bool { return len(states()) == 3 })
	if got := states(); got[0] != "online" || got[1] != "offline" || got[2] != "online" {
		t.Errorf("device events %v, want online, offline, online", got)
	}
	if n := reconnectsMetric(t, a, "sis"); n < 1 {
		t.Errorf("canary_device_reconnects_total{device=\"sis\"} = %v, want at least 1", n)
	}
}

func hasWarning(a *Agent, code string) bool {
	for _, w := range a.warnings() {
		if w.Code == code {
			return true
		}
	}
	return false
}

func reconnectsMetric(t *testing.T, a *Agent, dev string) float64 {
	t.Helper()
	var b bytes.Buffer
	if err := a.writeMetrics(&b); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^canary_device_reconnects_total\{device="` + dev + `"\} (\S+)$`).FindSubmatch(b.Bytes())
	if m == nil {
		t.Fatalf("no reconnects metric for %s in\n%s", dev, b.String())
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
