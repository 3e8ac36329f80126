package sim

import (
	"fmt"
	"math"
	"time"

	"canary/config"
	"canary/drivers/modbus/modbustest"
)

// detector is one simulated gas detector: a float32 in two holding
// registers, word order CDAB, as many Chinese detectors expose it.
type detector struct {
	id, unit, gas string
	addr          uint16
	base          float64
	drift         bool // rises above level 1 and falls back once per cycle
}

var rack = []detector{
	{id: "GT-101", unit: "%LEL", gas: "combustible", addr: 0, base: 2},
	{id: "GT-102", unit: "%LEL", gas: "combustible", addr: 2, base: 4},
	{id: "GT-103", unit: "%LEL", gas: "combustible", addr: 4, base: 3, drift: true},
	{id: "GT-104", unit: "%LEL", gas: "combustible", addr: 6, base: 1},
	{id: "AT-201", unit: "%VOL", gas: "oxygen", addr: 8, base: 20.9},
}

// cycle is the demo's timeline, repeated when the demo runs unbounded.
const (
	cycle       = 60 * time.Second
	driftStart  = 6 * time.Second  // GT-103 starts rising
	driftPeak   = 14 * time.Second // holds at its peak until here
	driftEnd    = 22 * time.Second // back to its base
	outageStart = 16 * time.Second
	outageEnd   = 26 * time.Second
	peak        = 33.0 // %LEL: above level 1 (25), below level 2 (50)
)

// value is a detector's reading at t into the cycle: its base, a small
// wander well inside the alarm hysteresis, and the drift for GT-103.
func (d detector) value(t time.Duration) float64 {
	wander := 0.3 * math.Sin(t.Seconds()*1.3+float64(d.addr))
	if !d.drift {
		return d.base + wander
	}
	switch {
	case t < driftStart || t >= driftEnd:
		return d.base + wander
	case t < driftStart+(driftPeak-driftStart)/2:
		f := float64(t-driftStart) / float64((driftPeak-driftStart)/2)
		return d.base + f*(peak-d.base) + wander
	case t < driftPeak:
		return peak + wander
	default:
		f := float64(t-driftPeak) / float64(driftEnd-driftPeak)
		return peak - f*(peak-d.base) + wander
	}
}

// update writes every detector's value at t into the server.
func update(srv *modbustest.Server, t time.Duration) {
	for _, d := range rack {
		srv.SetFloat32(modbustest.Holding, 1, d.addr, float32(d.value(t)), "CDAB")
	}
}

// demoConfig is the agent's config for the demo: the rack on addr, the
// broker at url, the outbox in dir.
func demoConfig(addr, url, dir string) *config.Config {
	c := config.Default()
	c.Site = config.Site{ID: "demo-plant", Gateway: "gw-01", Name: "Canary demo"}
	m := &c.Platform.MQTT
	m.URL, m.ClientID = url, "demo-plant-gw-01"
	m.ReconnectMin, m.ReconnectMax = config.Duration(250*time.Millisecond), config.Duration(time.Second)
	c.StateDir = dir
	c.Buffer.Path = dir + "/outbox.db"
	c.HTTP.Listen = ""
	hyst, deadband := 1.0, 0.5
	dev := config.Device{ID: "gas-rack-1", Driver: "modbus", Transport: "tcp", Address: addr, UnitID: 1,
		Interval: config.Duration(500 * time.Millisecond), Timeout: config.Duration(400 * time.Millisecond),
		MaxGap: 10, Deadband: deadband, MaxInterval: config.Duration(10 * time.Second)}
	for _, d := range rack {
		dev.Points = append(dev.Points, config.Point{ID: d.id, Kind: "analog", Table: "holding",
			Address: int(d.addr), Type: "float32", Order: "CDAB", Scale: 1, Unit: d.unit, Gas: d.gas,
			Alarms: config.Alarms{Hysteresis: hyst},
			Meta:   map[string]string{"位号": d.id}})
	}
	c.Devices = []config.Device{dev}
	return &c
}

func units() map[string]string {
	m := map[string]string{}
	for _, d := range rack {
		m[d.id] = d.unit
	}
	return m
}

func clockText(d time.Duration) string {
	return fmt.Sprintf("%02d:%04.1f", int(d.Minutes()), math.Mod(d.Seconds(), 60))
}
