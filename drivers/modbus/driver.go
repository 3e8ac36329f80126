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

// Open builds one Source per device, validating transports and points and
// planning the reads. It does no I/O.
func (Driver) Open(devices []config.Device, env drivers.Env) ([]drivers.Source, error) {
	out := make([]drivers.Source, 0, len(devices))
	for _, d := range devices {
		s, err := New(d, env)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
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
	s.newConn = func() conn { return newTCPConn(d.Address, timeout) }
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

func checkTransport(d config.Device) error {
	switch d.Transport {
	case "", "tcp":
	case "rtu", "rtu-over-tcp":
		return fmt.Errorf("%w: %s: transport %s", ErrNotSupported, d.ID, d.Transport)
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
