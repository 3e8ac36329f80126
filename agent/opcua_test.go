package agent

// Agent-level tests with the real OPC UA driver against the in-process
// gopcua server. Only tests import a driver: the agent itself does not
// (imports_test.go lists the non-test dependencies).

import (
	"testing"
	"time"

	"canary/agent/clock"
	"canary/config"
	"canary/drivers"
	"canary/drivers/opcua"
	"canary/drivers/opcua/opcuatest"
)

// opcuaDevice is a subscribed device on srvURL with two points, security
// None (the server is on loopback).
func opcuaDevice(id, srvURL string) config.Device {
	ns := "nsu=" + opcuatest.NamespaceURI + ";s="
	return config.Device{ID: id, Driver: "opcua", Endpoint: srvURL, Security: config.OPCUASecurity{Mode: "None"},
		Interval: config.Duration(5 * time.Second), Timeout: config.Duration(2 * time.Second),
		PublishInterval: config.Duration(50 * time.Millisecond),
		Points:          []config.Point{{ID: "ESD-01.trip", Node: ns + "trip", Kind: "interlock"}, {ID: "PT-1", Node: ns + "pt1"}}}
}

// opcuaAgent is an agent with the real opcua driver for devs, a fake
// uplink and the outbox opts names (a memory one when nil).
func opcuaAgent(t *testing.T, sink drivers.Sink, edit func(*config.Config, *Options), devs ...config.Device) *Agent {
	t.Helper()
	cfg := testConfig(t)
	cfg.Buffer.Path = cfg.StateDir + "/outbox.db"
	cfg.Devices = devs
	reg := &drivers.Registry{}
	reg.Register("opcua", opcua.Driver{})
	opts := testOptions(reg, sink)
	if edit != nil {
		edit(&cfg, &opts)
	}
	a, err := New(&cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func vars() map[string]any { return map[string]any{"trip": false, "pt1": 1.5} }

func deviceStatus(a *Agent, id string) DeviceStatus {
	for _, d := range a.status("online").Devices {
		if d.ID == id {
			return d
		}
	}
	return DeviceStatus{}
}

// An SIS whose states never change sends no data change for longer than
// the watchdog's liveness window (5 × interval + 3 min): the health
// checks keep the device online and its loop counted alive, so systemd
// is not told to restart the agent.
func TestQuietOPCUASubscriptionStaysAlive(t *testing.T) {
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vars()})
	clk := clock.NewFake(time.Now())
	sink := &fakeSink{}
	dev := opcuaDevice("sis", srv.URL)
	a := opcuaAgent(t, sink, func(_ *config.Config, o *Options) { o.Clock = clk }, dev)
	stop := runAgent(a, sink)
	defer stop()
	waitFor(t, 15*time.Second, func() bool { return deviceStatus(a, "sis").State == "online" })
	src := a.sources[0].(*opcua.Source)
	// The initial notification of both items: the session's health ticker runs.
	waitFor(t, 15*time.Second, func() bool { return src.Notifications() >= 2 })

	interval := dev.Interval.D()
	window := 5*interval + 3*time.Minute
	for quiet := time.Duration(0); quiet <= window+interval; quiet += interval {
		polls := deviceStatus(a, "sis").Polls
		clk.Advance(interval)
		waitFor(t, 10*time.Second, func() bool { return deviceStatus(a, "sis").Polls > polls })
	}
	a.m.met.fwdBeat.Store(clk.Now().UnixNano()) // the forwarder is not under test here
	if err := a.alive(); err != nil {
		t.Errorf("after %s without a data change: alive() = %v", window+interval, err)
	}
	st := deviceStatus(a, "sis")
	if st.State != "online" || clk.Now().Sub(time.UnixMilli(st.LastGood)) > interval {
		t.Errorf("device status %+v at %v: want online with a last good read within %s", st, clk.Now(), interval)
	}
	for _, e := range sink.events(t) {
		if e.Type == "device" && e.State == "offline" {
			t.Errorf("device offline event while the server was up: %+v", e)
		}
	}
}
