package opcua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"

	"canary/agent/clock"
	"canary/drivers"
)

// Source reads one OPC UA server for one device. Run owns the session.
type Source struct {
	dev      string
	dialer   *dialer
	points   []point
	poll     bool
	interval time.Duration // poll period; health-check period when subscribed
	publish  time.Duration
	timeout  time.Duration
	clock    clock.Clock
	log      *slog.Logger
	info     Info
	bmin     time.Duration
	bmax     time.Duration

	reconnects atomic.Int64
	notifs     atomic.Int64
	order      handleOrder // the subscription's notifications, by client handle
}

// Info describes the device's security for status.
func (s *Source) Info() Info { return s.info }

// Reconnects counts connection attempts after the first, failed or not.
func (s *Source) Reconnects() int64 { return s.reconnects.Load() }

// Run connects, reads every point once, then subscribes (or polls) until
// the connection dies or ctx is done. After a failure it emits one Bad
// scan (Err set) per failed attempt and retries with jittered exponential
// back-off, recreating the subscription and every monitored item. It
// returns nil when ctx is done.
func (s *Source) Run(ctx context.Context, emit func(drivers.Scan)) error {
	var cur time.Duration
	for first := true; ; first = false {
		if !first {
			s.reconnects.Add(1)
		}
		start := s.clock.Now()
		up, err := s.session(ctx, emit)
		if ctx.Err() != nil {
			return nil
		}
		s.logFailure(up || first, err)
		emit(s.badScan(start, err))
		if errors.Is(err, ErrConfig) {
			return err // the agent restarts us; retrying cannot fix a config
		}
		if up {
			cur = 0 // the session worked: start the back-off again
		}
		cur = nextBackoff(cur, s.bmin, s.bmax)
		select {
		case <-ctx.Done():
			return nil
		case <-s.clock.After(jitter(cur)):
		}
	}
}

func nextBackoff(cur, lo, hi time.Duration) time.Duration {
	if cur == 0 {
		return lo
	}
	return min(cur*2, hi)
}

// jitter draws from [d/2, d] so gateways do not reconnect in step.
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// logFailure warns when the device goes offline and keeps later failed
// attempts at debug, so a server down for a day does not flood the log.
func (s *Source) logFailure(edge bool, err error) {
	if edge {
		s.log.Warn("opcua: device offline", "device", s.dev, "err", err)
		return
	}
	s.log.Debug("opcua: reconnect failed", "device", s.dev, "err", err)
}

// badScan reports every point Bad with reason comm (config when the
// failure is a config error): points are never silently missing while the
// server is unreachable.
func (s *Source) badScan(at time.Time, err error) drivers.Scan {
	now := s.clock.Now()
	reason := drivers.ReasonComm
	if errors.Is(err, ErrConfig) {
		reason = drivers.ReasonConfig
	}
	sc := drivers.Scan{Device: s.dev, At: at, Latency: now.Sub(at), Err: err, Samples: make([]drivers.Sample, len(s.points))}
	for i, p := range s.points {
		sc.Samples[i] = drivers.Sample{Point: p.id, TS: now, Quality: drivers.Bad, Reason: reason}
	}
	return sc
}

// session runs one connection. up reports whether it got as far as the
// first read, for the back-off.
func (s *Source) session(ctx context.Context, emit func(drivers.Scan)) (up bool, err error) {
	dead := make(chan struct{}, 1)
	onState := func(st opcua.ConnState) {
		if st == opcua.Disconnected || st == opcua.Closed {
			select {
			case dead <- struct{}{}:
			default:
			}
		}
	}
	c, err := s.dial(ctx, onState)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		c.Close(cctx)
	}()
	drain(dead) // Connecting/Connected transitions may not count
	s.checkExpiry()
	ids, bad, err := s.resolve(ctx, c)
	if err != nil {
		return false, err
	}
	sc, err := s.readAll(ctx, c, ids, bad)
	if err != nil {
		return false, err
	}
	s.log.Info("opcua: device online", "device", s.dev, "endpoint", s.dialer.endpoint, "security", s.info.Mode)
	emit(sc) // the state as of now, and Err nil: the device is online
	if s.poll {
		return true, s.pollLoop(ctx, c, ids, bad, emit, dead)
	}
	return true, s.subscribe(ctx, c, ids, bad, emit, dead)
}

func drain(c <-chan struct{}) {
	select {
	case <-c:
	default:
	}
}

// resolve maps every point to a node id with this session's namespace
// array. A point whose namespace URI is unknown stays Bad/config (bad[i]).
func (s *Source) resolve(ctx context.Context, c conn) ([]*ua.NodeID, []drivers.Reason, error) {
	var nsa []string
	ids := make([]*ua.NodeID, len(s.points))
	bad := make([]drivers.Reason, len(s.points))
	for i, p := range s.points {
		if p.node.uri != "" && nsa == nil {
			var err error
			if nsa, err = c.NamespaceArray(ctx); err != nil {
				return nil, nil, fmt.Errorf("opcua: namespace array: %w", err)
			}
		}
		id, err := p.node.resolve(nsa)
		if err != nil {
			s.log.Warn("opcua: point unresolved", "device", s.dev, "point", p.id, "err", err)
			bad[i] = drivers.ReasonConfig
			continue
		}
		ids[i] = id
	}
	return ids, bad, nil
}

// readAll reads every point once, in chunks the server accepts.
func (s *Source) readAll(ctx context.Context, c conn, ids []*ua.NodeID, bad []drivers.Reason) (drivers.Scan, error) {
	start := s.clock.Now()
	sc := drivers.Scan{Device: s.dev, At: start, Samples: make([]drivers.Sample, len(s.points))}
	const chunk = 32 // a common MaxNodesPerRead; the test server's
	var idx []int
	for i := range s.points {
		if bad[i] != drivers.ReasonNone {
			sc.Samples[i] = drivers.Sample{Point: s.points[i].id, TS: start, Quality: drivers.Bad, Reason: bad[i]}
			continue
		}
		idx = append(idx, i)
	}
	for lo := 0; lo < len(idx); lo += chunk {
		part := idx[lo:min(lo+chunk, len(idx))]
		req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnBoth}
		for _, i := range part {
			req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: ids[i], AttributeID: ua.AttributeIDValue})
		}
		rctx, cancel := context.WithTimeout(ctx, s.timeout)
		res, err := c.Read(rctx, req)
		cancel()
		if err != nil {
			return sc, fmt.Errorf("opcua: read: %w", err)
		}
		now := s.clock.Now()
		for k, i := range part {
			var dv *ua.DataValue
			if k < len(res.Results) {
				dv = res.Results[k]
			}
			sc.Samples[i] = sample(&s.points[i], dv, now)
		}
	}
	sc.Latency = s.clock.Now().Sub(start)
	return sc, nil
}

func (s *Source) pollLoop(ctx context.Context, c conn, ids []*ua.NodeID, bad []drivers.Reason, emit func(drivers.Scan), dead <-chan struct{}) error {
	tick := s.clock.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-dead:
			return ErrConnLost
		case <-tick.C():
		}
		sc, err := s.readAll(ctx, c, ids, bad)
		if err != nil {
			return err
		}
		emit(sc)
	}
}

// dial is the context adapter around the library's connect, which honours
// a deadline but not cancellation (the HEL/ACK handshake only sets the
// socket deadline). The connect runs in its own goroutine bounded by
// 2×timeout; on ctx.Done Run returns at once and the abandoned attempt
// closes whatever it opened when its deadline ends it.
func (s *Source) dial(ctx context.Context, onState func(opcua.ConnState)) (conn, error) {
	type result struct {
		c   conn
		err error
	}
	ch := make(chan result, 1)
	cctx, cancel := context.WithTimeout(ctx, 2*s.timeout)
	go func() {
		defer cancel()
		c, err := s.dialer.dial(cctx, onState)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close(context.Background())
			}
		}()
		return nil, ctx.Err()
	}
}

// checkExpiry warns at each connect while a client certificate expires
// within ExpiryWarning; Certs offers the same to the agent's health
// warnings.
func (s *Source) checkExpiry() {
	now := s.clock.Now()
	for _, c := range s.Certs() {
		if c.NotAfter.Sub(now) < ExpiryWarning {
			s.log.Warn("opcua: client certificate expires soon", "device", s.dev, "cert", c.File, "not_after", c.NotAfter)
		}
	}
}
