package config_test

import (
	"strings"
	"testing"
	"time"

	"canary/config"
	"canary/drivers/modbus"
	"canary/drivers/opcua"
)

const driverDefaults = `version: 1
site: {id: s1, gateway: gw-01}
platform:
  mqtt:
    url: tls://broker.example:8883
devices:
  - id: rack
    driver: modbus
    address: 10.0.0.5:502
    points:
      - {id: GT-101, table: input, address: 0}
  - id: sis
    driver: opcua
    endpoint: opc.tcp://127.0.0.1:4840
    security: {mode: None}
    points:
      - {id: ESD-01.trip, node: "ns=2;s=ESD01.Tripped", kind: interlock}
      - {id: PT-101, node: "ns=2;i=1042", sampling_interval: 250ms, queue_size: 10}
`

func parse(t *testing.T, src string) *config.Config {
	t.Helper()
	c, err := config.Parse("config.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return c
}

// The effective config (what config.get shows) carries the drivers'
// defaults, and they are the values the drivers fall back to for a zero
// field, so a driver behaves the same with or without ApplyDefaults.
func TestEffectiveConfigCarriesDriverDefaults(t *testing.T) {
	c := parse(t, driverDefaults)
	rack, sis := c.Devices[0], c.Devices[1]
	if got := rack.BackoffMax.D(); got != modbus.DefaultBackoffMax {
		t.Errorf("modbus backoff_max %v, want the driver's %v", got, modbus.DefaultBackoffMax)
	}
	for _, tc := range []struct {
		field     string
		got, want time.Duration
	}{
		{"interval", sis.Interval.D(), opcua.DefaultInterval},
		{"timeout", sis.Timeout.D(), opcua.DefaultTimeout},
		{"publish_interval", sis.PublishInterval.D(), opcua.DefaultPublishInterval},
		{"points[0].sampling_interval", sis.Points[0].SamplingInterval.D(), opcua.DefaultPublishInterval},
		{"points[1].sampling_interval", sis.Points[1].SamplingInterval.D(), 250 * time.Millisecond},
	} {
		if tc.got != tc.want {
			t.Errorf("opcua %s = %v, want %v", tc.field, tc.got, tc.want)
		}
	}
	if q0, q1 := sis.Points[0].QueueSize, sis.Points[1].QueueSize; q0 != 1 || q1 != 10 {
		t.Errorf("opcua queue_size %d, %d; want 1 (default), 10 (set)", q0, q1)
	}
	if sis.Mode != "subscribe" || sis.Auth.Type != "anonymous" || sis.Points[0].DeadbandType != "none" {
		t.Errorf("opcua mode %q auth %q deadband_type %q", sis.Mode, sis.Auth.Type, sis.Points[0].DeadbandType)
	}
	y, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"backoff_max: 5m\n", "publish_interval: 1s\n", "sampling_interval: 1s\n", "queue_size: 1\n"} {
		if !strings.Contains(string(y), want) {
			t.Errorf("effective config lacks %q:\n%s", want, y)
		}
	}
}

// backoff_max belongs to a bus: drivers/modbus takes it from the last
// device on the connection that sets one. A device that leaves it unset
// (or 0) shows that value, so the effective config says what the bus does
// and the driver picks what it picked before defaults were filled in.
func TestBackoffMaxDefaultIsTheBusValue(t *testing.T) {
	c := parse(t, `version: 1
site: {id: s1, gateway: gw-01}
platform: {mqtt: {url: tls://broker.example:8883}}
devices:
  - {id: a, driver: modbus, address: 10.0.0.5:502, backoff_max: 1m, points: [{id: a1, address: 0}]}
  - {id: b, driver: modbus, address: 10.0.0.5:502, points: [{id: b1, address: 0}]}
  - {id: c, driver: modbus, address: 10.0.0.5:502, backoff_max: 3m, points: [{id: c1, address: 0}]}
  - {id: d, driver: modbus, address: 10.0.0.5:502, backoff_max: 0s, points: [{id: d1, address: 0}]}
  - {id: e, driver: modbus, address: 10.0.0.6:502, points: [{id: e1, address: 0}]}
  - {id: f, driver: modbus, transport: rtu-over-tcp, address: 10.0.0.5:502, points: [{id: f1, address: 0}]}
`)
	want := map[string]time.Duration{"a": time.Minute, "b": 3 * time.Minute, "c": 3 * time.Minute,
		"d": 3 * time.Minute, "e": 5 * time.Minute, "f": 5 * time.Minute}
	for _, d := range c.Devices {
		if got := d.BackoffMax.D(); got != want[d.ID] {
			t.Errorf("device %s: backoff_max %v, want %v", d.ID, got, want[d.ID])
		}
	}
	before := c.Devices[1].BackoffMax
	c.ApplyDefaults()
	if c.Devices[1].BackoffMax != before {
		t.Errorf("ApplyDefaults is not idempotent: %v then %v", before, c.Devices[1].BackoffMax)
	}
}
