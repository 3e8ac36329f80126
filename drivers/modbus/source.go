package modbus

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"canary/agent/clock"
	"canary/config"
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
	inflight int              // requests in flight together (TCP); <= 1: one at a time
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
		disarm(c)
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
	p := pollState{ctx: ctx, c: c}
	window := 1
	if pc, ok := c.(pipeliner); ok && s.inflight > 1 {
		p.many, window = pc, s.inflight
	}
	for i := 0; i < len(s.reqs); i += window {
		batch := s.reqs[i:min(i+window, len(s.reqs))]
		res := p.fetch(batch)
		for j := range batch {
			r, err := &batch[j], res[j].err
			if errors.Is(err, ErrTimeout) {
				p.down[r.unit] = true // do not wait on it again in this poll
			}
			if s.settle(r, res[j].data, err) && scan.Err == nil {
				scan.Err = &CommError{Device: s.dev, Unit: r.unit, Err: err}
			}
		}
	}
	scan.Latency = s.clock.Now().Sub(start)
	s.logEdge(scan.Err)
	return scan
}

// pipeliner is a conn that can keep several reads in flight (Modbus TCP).
type pipeliner interface {
	readMany(ctx context.Context, reqs []*request, out []result)
}

// pollState is one poll's progress over its connection.
type pollState struct {
	ctx     context.Context
	c       conn
	many    pipeliner // nil: one request at a time
	connErr error     // the connection failed: the rest waits for the next poll
	down    [256]bool // units that timed out in this poll
	out     [config.MaxModbusInflight]result
	ask     [config.MaxModbusInflight]*request
}

// fetch reads a batch (one request unless pipelining); requests to a
// unit already down in this poll, or after the connection failed, fail
// without I/O.
func (p *pollState) fetch(batch []request) []result {
	out, ask := p.out[:len(batch)], p.ask[:0]
	var idx [config.MaxModbusInflight]int
	for j := range batch {
		out[j] = result{}
		switch r := &batch[j]; {
		case p.connErr != nil:
			out[j].err = p.connErr
		case p.down[r.unit]:
			out[j].err = ErrTimeout
		default:
			idx[len(ask)] = j
			ask = append(ask, r)
		}
	}
	if len(ask) == 0 {
		return out
	}
	if err := p.c.connect(p.ctx); err != nil {
		p.connErr = err // no reconnect loop
		for _, j := range idx[:len(ask)] {
			out[j].err = err
		}
		return out
	}
	if p.many == nil {
		out[idx[0]].data, out[idx[0]].err = p.c.read(p.ctx, ask[0])
		return out
	}
	var got [config.MaxModbusInflight]result
	p.many.readMany(p.ctx, ask, got[:len(ask)])
	for k, j := range idx[:len(ask)] {
		out[j] = got[k]
	}
	return out
}

// settle writes the samples of r's points from its reply or its error and
// reports whether err was a communication failure.
func (s *Source) settle(r *request, data []byte, err error) (comm bool) {
	now := s.clock.Now()
	if err != nil {
		reason := drivers.ReasonComm
		exc := isException(err, r.table)
		if exc && exceptionReason(err) {
			reason = drivers.ReasonConfig
		}
		for _, sl := range r.slots {
			s.samples[sl.point] = drivers.Sample{Point: s.points[sl.point].id, TS: now, Quality: drivers.Bad, Reason: reason}
		}
		// A busy unit answered: its points have no value this time, but
		// the device is not offline (the next poll asks again).
		return reason == drivers.ReasonComm && !(exc && busy(err))
	}
	bits := r.table.bits()
	for _, sl := range r.slots {
		p, sm := &s.points[sl.point], &s.samples[sl.point]
		var rd reading
		if bits {
			rd = decodeBit(p, data[sl.off/8]>>(sl.off%8)&1 == 1)
		} else {
			rd = decodeRegs(p, data[2*sl.off:2*(sl.off+p.n)])
		}
		sm.Point, sm.TS, sm.Value, sm.Quality, sm.Reason = p.id, now, rd.v, rd.q, rd.r
	}
	return false
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
