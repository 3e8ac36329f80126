package modbus

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"canary/agent/clock"
	"canary/drivers"
)

// Source polls one device over one connection. Run owns the connection.
type Source struct {
	dev      string
	interval time.Duration
	points   []point
	reqs     []request
	clock    clock.Clock
	log      *slog.Logger
	newConn  func() conn
	samples  []drivers.Sample // reused across polls
	failing  bool             // the last poll had a comm failure, for logging edges
}

// Run polls at once, then every interval, emitting one Scan per poll, until
// ctx is done. A poll that overruns the interval does not queue ticks: the
// next poll waits for the next tick. Run returns nil when ctx is done.
func (s *Source) Run(ctx context.Context, emit func(drivers.Scan)) error {
	c := s.newConn()
	defer c.close()
	tick := s.clock.NewTicker(s.interval)
	defer tick.Stop()
	for {
		scan := s.poll(ctx, c)
		drain(tick.C())
		if ctx.Err() != nil {
			return nil // a poll cut short by shutdown says nothing about the device
		}
		emit(scan)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C():
		}
	}
}

func drain(c <-chan time.Time) {
	select {
	case <-c:
	default:
	}
}

// poll executes the plan once. Every point gets a sample.
func (s *Source) poll(ctx context.Context, c conn) drivers.Scan {
	start := s.clock.Now()
	scan := drivers.Scan{Device: s.dev, At: start, Samples: s.samples}
	var connErr error
	var down [256]bool // units that timed out in this poll: do not wait on them again
	for i := range s.reqs {
		r := &s.reqs[i]
		var data []byte
		err := connErr
		switch {
		case err != nil:
		case down[r.unit]:
			err = ErrTimeout
		default:
			if err = c.connect(ctx); err != nil {
				connErr = err // no reconnect loop: the rest waits for the next poll
			} else {
				data, err = c.read(ctx, r)
			}
		}
		if errors.Is(err, ErrTimeout) {
			down[r.unit] = true
		}
		if s.settle(r, data, err) && scan.Err == nil {
			scan.Err = &CommError{Device: s.dev, Unit: r.unit, Err: err}
		}
	}
	scan.Latency = s.clock.Now().Sub(start)
	s.logEdge(scan.Err)
	return scan
}

// settle writes the samples of r's points from its reply or its error and
// reports whether err was a communication failure.
func (s *Source) settle(r *request, data []byte, err error) (comm bool) {
	now := s.clock.Now()
	if err != nil {
		reason := drivers.ReasonComm
		if isException(err, r.table) && exceptionReason(err) {
			reason = drivers.ReasonConfig
		}
		for _, sl := range r.slots {
			s.samples[sl.point] = drivers.Sample{Point: s.points[sl.point].id, TS: now, Quality: drivers.Bad, Reason: reason}
		}
		return reason == drivers.ReasonComm
	}
	for _, sl := range r.slots {
		p := &s.points[sl.point]
		rd := decodeAt(p, r.table, data, sl.off)
		s.samples[sl.point] = drivers.Sample{Point: p.id, TS: now, Value: rd.v, Quality: rd.q, Reason: rd.r}
	}
	return false
}

// decodeAt decodes p from a reply's data at offset off (bits or registers).
func decodeAt(p *point, t table, data []byte, off int) reading {
	if t.bits() {
		return decodeBit(p, data[off/8]>>(off%8)&1 == 1)
	}
	return decodeRegs(p, data[2*off:2*(off+p.n)])
}

func (s *Source) logEdge(err error) {
	switch {
	case errors.Is(err, ErrCanceled):
		return // shutdown, not the device
	case err != nil && !s.failing:
		s.log.Warn("modbus: device not answering", "device", s.dev, "err", err)
	case err == nil && s.failing:
		s.log.Info("modbus: device answering again", "device", s.dev)
	}
	s.failing = err != nil
}
