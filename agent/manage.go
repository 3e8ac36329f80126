package agent

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"canary/agent/clock"
	"canary/agent/wire"
	"canary/buffer"
	"canary/drivers"
)

// Management timings.
const (
	healthEvery      = 2 * time.Second  // health re-evaluated (cheap: no I/O)
	statusMinGap     = 5 * time.Second  // status republished on change at most this often
	refusalsShownFor = 15 * time.Minute // commands_rejected stays this long after a refusal
	outboxWarnRatio  = 0.8
)

// mgmt is what the agent has for being managed: the health registry,
// metrics, clock sanity, signed commands and the link to the Runner that
// restarts it. One per Agent.
type mgmt struct {
	a      *Agent
	health *Health
	met    *metrics
	clk    *clockWatch
	cmd    *commander // nil: commands off
	run    *runLink   // nil: not under a Runner (restart and apply refused)

	lastRefusal atomic.Int64 // Unix ns
	publishing  atomic.Bool
}

func newMgmt(a *Agent) *mgmt {
	m := &mgmt{a: a, health: NewHealth(a.clock.Now), met: newMetrics(a.cfg, a.clock.Now)}
	m.clk = newClockWatch(a.opts.BuildTime)
	a.pipe.clockFloor = m.clk.floor // the pipeline marks samples stamped before it
	return m
}

// Health is the agent's health registry. Code that detects a condition
// the registry cannot see for itself (a certificate about to expire, a
// disk error) sets and clears its warning here.
func (a *Agent) Health() *Health { return a.m.health }

// manage runs until ctx ends: it re-evaluates health every tick,
// re-reads the client certificates on every certs tick (daily), and
// republishes the retained status when the warnings change (at most every
// statusMinGap; the forwarder republishes it every minute anyway).
func (m *mgmt) manage(ctx context.Context, t, certs clock.Ticker) {
	defer t.Stop()
	defer certs.Stop()
	var last time.Time
	pending := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			m.evaluate()
		case <-certs.C():
			m.a.checkCerts()
		case <-m.health.Changed():
			pending = true
		}
		if now := m.a.clock.Now(); pending && now.Sub(last) >= statusMinGap {
			pending, last = false, now
			m.republish(ctx)
		}
	}
}

// republish sends the status in the background, one at a time.
func (m *mgmt) republish(ctx context.Context) {
	if up, _, _ := m.a.fwd.link(); !up || !m.publishing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer m.publishing.Store(false)
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := m.a.fwd.publishStatus(ctx, "online"); err != nil && ctx.Err() == nil {
			m.a.log.Debug("status republish failed", "err", err)
		}
	}()
}

// evaluate derives the warnings the agent can see for itself.
func (m *mgmt) evaluate() {
	a, h := m.a, m.health
	now := a.clock.Now()
	up, _, lastErr := a.fwd.link()
	h.SetIf(!up, WarnUplinkDown, SevError, "uplink down: "+cmp(lastErr, "not connected yet"))
	keep := map[string]bool{}
	for _, ds := range a.pipe.order {
		if st := ds.status(); st.State == "offline" {
			code := WarnDeviceOffline + ":" + st.ID
			keep[code] = true
			h.Set(code, SevError, "device "+st.ID+" offline: "+st.LastError)
		}
	}
	h.ClearPrefix(WarnDeviceOffline, keep)
	m.evalOutbox()
	m.evalBypasses()
	last := m.lastRefusal.Load()
	if last != 0 && now.UnixNano()-last < int64(refusalsShownFor) {
		m.refusalWarning()
	} else {
		h.Clear(WarnCommandsRejected)
	}
	m.clk.evaluate(m)
}

func (m *mgmt) evalOutbox() {
	s := m.a.box.Stats()
	var queued int64
	for _, l := range buffer.Lanes {
		queued += s.Lanes[l].Bytes
	}
	full := s.MaxBytes > 0 && float64(queued) > outboxWarnRatio*float64(s.MaxBytes)
	if m.a.out != nil {
		we, queued, _ := m.a.out.condition()
		m.health.SetIf(we != "", WarnDiskError, SevError, fmt.Sprintf("outbox cannot write (%s): %d event record(s) held in memory, data dropped", we, queued))
	}
	m.health.SetIf(full, WarnOutboxFull, SevWarning, fmt.Sprintf("outbox holds %d of %d bytes (above %.0f%%): "+
		"routine telemetry will be dropped oldest-first at the limit", queued, s.MaxBytes, outboxWarnRatio*100))
}

// evalBypasses mirrors overdue bypasses from the pipeline's conditions.
func (m *mgmt) evalBypasses() {
	keep := map[string]bool{}
	for _, c := range m.a.pipe.conditions() {
		if c.Type == wire.TypeBypass && c.Overdue {
			code := WarnBypassOverdue + ":" + c.Point
			keep[code] = true
			m.health.Set(code, SevWarning, "bypass "+c.Point+" on since "+
				time.UnixMilli(c.Since).UTC().Format(time.RFC3339)+", longer than max_bypass")
		}
	}
	m.health.ClearPrefix(WarnBypassOverdue, keep)
}

func (m *mgmt) refusalWarning() {
	m.health.Set(WarnCommandsRejected, SevWarning,
		fmt.Sprintf("%d command(s) refused; the last less than %s ago", m.met.refusedTotal(), refusalsShownFor))
}

// warnings evaluates and lists the warnings, for status and /healthz.
func (a *Agent) warnings() []Warning {
	a.m.evaluate()
	return a.m.health.Warnings()
}

// observe is called by onScan with the raw scan: it counts and marks the
// agent alive.
func (a *Agent) observe(sc *drivers.Scan, now time.Time) { a.m.met.scan(sc, now) }

// start raises the warnings known when the agent starts (a config
// rollback, settings that weaken security, certificates near expiry) and
// returns the management loops of one agent, to run until ctx ends. Their
// timers start first, so the daily certificate check is due a day after the
// one at start, whenever the loop's goroutine gets to run.
func (m *mgmt) start() (loops func(ctx context.Context)) {
	t, certs := m.a.clock.NewTicker(healthEvery), m.a.clock.NewTicker(certCheckEvery)
	m.a.announceRollback()
	m.a.raiseConfigWarnings()
	m.a.checkCerts()
	return func(ctx context.Context) {
		if m.cmd != nil {
			go m.cmd.work(ctx)
		}
		m.manage(ctx, t, certs)
	}
}
