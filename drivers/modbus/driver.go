package modbus

import (
	"fmt"
	"log/slog"
	"time"

	"canary/agent/clock"
	"canary/config"
	"canary/drivers"
)

// Driver opens Modbus sources. The zero value is ready.
type Driver struct{}

// Open builds one Bus per connection: devices with the same transport and
// address share it. It validates transports and points and plans the
// reads; it does no I/O.
func (Driver) Open(devices []config.Device, env drivers.Env) ([]drivers.Source, error) {
	var out []drivers.Source
	byKey := map[string][]config.Device{}
	var keys []string
	for _, d := range devices {
		k := busKey(d)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], d)
	}
	for _, k := range keys {
		b, err := NewBus(byKey[k], env)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func busKey(d config.Device) string {
	t := d.Transport
	if t == "" {
		t = "tcp"
	}
	return t + " " + d.Address
}

// NewBus builds the Bus for devices that share one connection, without
// connecting. Devices on one serial line must agree on its settings.
func NewBus(devs []config.Device, env drivers.Env) (*Bus, error) {
	if len(devs) == 0 {
		return nil, fmt.Errorf("%w: a bus without devices", ErrConfig)
	}
	b := &Bus{name: busKey(devs[0]), clock: env.Clock, log: env.Log, backoffMax: DefaultBackoffMax}
	for _, d := range devs {
		if d.Transport == "rtu" && d.Serial != devs[0].Serial {
			return nil, fmt.Errorf("%w: %s: serial settings differ from %s on the same line %s", ErrConfig, d.ID, devs[0].ID, d.Address)
		}
		s, err := New(d, env)
		if err != nil {
			return nil, err
		}
		if d.BackoffMax > 0 {
			b.backoffMax = d.BackoffMax.D()
		}
		b.units = append(b.units, &busUnit{src: s})
	}
	first := b.units[0].src
	b.newConn, b.clock, b.log = first.newConn, first.clock, first.log
	return b, nil
}

// Defaults applied when the config leaves a field zero.
const (
	DefaultInterval = time.Second
	DefaultTimeout  = time.Second
	DefaultMaxGap   = 10
)

// New builds the Source for one device without connecting.
func New(d config.Device, env drivers.Env) (*Source, error) {
	if err := checkTransport(d); err != nil {
		return nil, err
	}
	s := &Source{
		dev:      d.ID,
		interval: orDefault(d.Interval.D(), DefaultInterval),
		clock:    env.Clock,
		log:      env.Log,
		points:   make([]point, len(d.Points)),
		samples:  make([]drivers.Sample, len(d.Points)),
	}
	for i, cp := range d.Points {
		p, err := compilePoint(cp, d.UnitID)
		if err != nil {
			return nil, fmt.Errorf("%w: %s point %s: %w", ErrConfig, d.ID, cp.ID, err)
		}
		s.points[i] = p
		s.samples[i].Point = p.id
	}
	maxGap := d.MaxGap
	if maxGap == 0 {
		maxGap = DefaultMaxGap
	}
	s.reqs = plan(s.points, maxGap)
	timeout := orDefault(d.Timeout.D(), DefaultTimeout)
	for i := range s.reqs {
		s.reqs[i].timeout = timeout
	}
	s.newConn = connFor(d, timeout)
	if d.Transport == "" || d.Transport == "tcp" {
		s.inflight = min(d.MaxInflight, config.MaxModbusInflight)
	}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// connFor returns the connection constructor for d's transport. It keeps
// only the link settings, not d (whose point list the agent drops once its
// sources are built).
func connFor(d config.Device, timeout time.Duration) func() conn {
	addr, serial := d.Address, d.Serial
	switch d.Transport {
	case "rtu":
		return func() conn { return newRTUConn(dialSerial(addr, serial), timeout, charTime(serial), false) }
	case "rtu-over-tcp":
		return func() conn { return newRTUConn(dialTCP(addr, timeout), timeout, 0, true) }
	}
	return func() conn { return newTCPConn(addr, timeout) }
}

func checkTransport(d config.Device) error {
	switch d.Transport {
	case "", "tcp", "rtu", "rtu-over-tcp":
	default:
		return fmt.Errorf("%w: %s: unknown transport %q", ErrConfig, d.ID, d.Transport)
	}
	if d.Address == "" {
		return fmt.Errorf("%w: %s: no address", ErrConfig, d.ID)
	}
	if d.MaxGap < 0 {
		return fmt.Errorf("%w: %s: max_gap %d is negative", ErrConfig, d.ID, d.MaxGap)
	}
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
