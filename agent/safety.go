package agent

import (
	"math"
	"sort"
	"time"

	"canary/agent/wire"
	"canary/drivers"
)

// pointKind is config's point kind, decided once.
type pointKind uint8

const (
	kindAnalog pointKind = iota
	kindStatus
	kindFault       // qualifies another point: bad/sensor_fault while on
	kindMaintenance // qualifies another point: uncertain/maintenance while on
	kindInterlock   // on = tripped
	kindBypass      // on = bypassed
)

func parseKind(s string) pointKind {
	switch s {
	case "status":
		return kindStatus
	case "fault":
		return kindFault
	case "maintenance":
		return kindMaintenance
	case "interlock":
		return kindInterlock
	case "bypass":
		return kindBypass
	}
	return kindAnalog
}

// isCondition: the point is a boolean condition with on/off events.
func (k pointKind) isCondition() bool { return k >= kindFault }

// qualifies: the point sets another point's quality.
func (k pointKind) qualifies() bool { return k == kindFault || k == kindMaintenance }

// Condition is one safety condition that holds now: an active alarm
// limit, a tripped interlock, a bypass, a detector fault or maintenance.
// The set is what status lists and what the state file keeps.
type Condition struct {
	Type    string   `json:"type"` // alarm, interlock, bypass, fault
	Point   string   `json:"point"`
	Level   string   `json:"level,omitempty"`   // alarm
	Limit   *float64 `json:"limit,omitempty"`   // alarm
	Of      string   `json:"of,omitempty"`      // fault: the point it qualifies
	Reason  string   `json:"reason,omitempty"`  // fault: sensor_fault or maintenance
	Quality string   `json:"quality,omitempty"` // alarm: the point's quality when not good
	Since   int64    `json:"since"`             // Unix ms, source time it began
	Overdue bool     `json:"overdue,omitempty"` // bypass: longer than max_bypass
}

func condKey(typ, point, level string) string { return typ + "\x00" + point + "\x00" + level }

func (c Condition) key() string { return condKey(c.Type, c.Point, c.Level) }

// setCond records a condition that began; the state file becomes dirty.
func (p *pipeline) setCond(c Condition) {
	p.mu.Lock()
	p.conds[c.key()] = c
	p.mu.Unlock()
	p.dirty.Store(true)
}

func (p *pipeline) clearCond(typ, point, level string) {
	p.mu.Lock()
	delete(p.conds, condKey(typ, point, level))
	p.mu.Unlock()
	p.dirty.Store(true)
}

// updateCond changes a recorded condition in place, if it is recorded.
func (p *pipeline) updateCond(typ, point, level string, f func(*Condition)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := condKey(typ, point, level)
	if c, ok := p.conds[k]; ok {
		f(&c)
		p.conds[k] = c
		p.dirty.Store(true)
	}
}

func (p *pipeline) setAlarmQuality(point, level, q string) {
	p.updateCond(wire.TypeAlarm, point, level, func(c *Condition) { c.Quality = q })
}

// conditions lists what holds now, sorted by type, point and level.
func (p *pipeline) conditions() []Condition {
	p.mu.Lock()
	out := make([]Condition, 0, len(p.conds))
	for _, c := range p.conds {
		out = append(out, c)
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

// qualify applies the fault and maintenance bits that refer to ps to a
// sample of ps, as last known (they may be read by another device): a
// fault makes it bad/sensor_fault, maintenance uncertain/maintenance. A
// sample that is already bad keeps its own reason. A bad sample leaves
// with no value, whoever made it bad: the detector's number is not a
// reading (uncertain samples keep theirs). It reports whether it changed
// the sample.
func (ps *pointState) qualify(s *drivers.Sample) (changed bool) {
	if s.Quality == drivers.Bad {
		changed = s.Value != (drivers.Value{})
		s.Value = drivers.Value{}
		return changed
	}
	maint := false
	for _, q := range ps.quals {
		if !q.cond.flag.Load() {
			continue
		}
		if q.kind == kindFault {
			s.Quality, s.Reason, s.Value = drivers.Bad, drivers.ReasonSensorFault, drivers.Value{}
			return true
		}
		maint = true
	}
	if maint && s.Quality == drivers.Good {
		s.Quality, s.Reason = drivers.Uncertain, drivers.ReasonMaintenance
		return true
	}
	return false
}

// evalCondition follows a boolean condition point (true = present:
// tripped, bypassed, in fault). Only good samples change it; a point that
// is unreadable keeps its last known state.
func (p *pipeline) evalCondition(ps *pointState, s *drivers.Sample, evs []wire.Event) []wire.Event {
	if s.Quality != drivers.Good || !boolish(s.Value) {
		return evs
	}
	if on := s.Value.Bool(); on != ps.cond.flag.Load() {
		evs = append(evs, p.conditionChanged(ps, on, s.TS))
	}
	if ev, ok := p.bypassOverdue(ps, s.TS); ok {
		evs = append(evs, ev)
	}
	return evs
}

func boolish(v drivers.Value) bool {
	switch v.Kind() {
	case drivers.KindBool, drivers.KindInt, drivers.KindUint:
		return true
	case drivers.KindFloat:
		return !math.IsNaN(v.Float())
	}
	return false
}

// conditionChanged records the new state and returns its event.
func (p *pipeline) conditionChanged(ps *pointState, on bool, ts time.Time) wire.Event {
	ps.cond.flag.Store(on)
	ev := wire.Event{ID: p.ids.next(), TS: ts.UnixMilli(), Point: ps.id}
	c := Condition{Point: ps.id}
	switch ps.kind {
	case kindInterlock:
		ev.Type, ev.State = wire.TypeInterlock, pick(on, "tripped", "healthy")
	case kindBypass:
		ev.Type, ev.State = wire.TypeBypass, pick(on, "on", "off")
		ps.cond.overdue = false
	default:
		ev.Type, ev.State, ev.Of = wire.TypeFault, pick(on, "on", "off"), ps.cond.of
		ev.Reason = pick(ps.kind == kindFault, drivers.ReasonSensorFault, drivers.ReasonMaintenance).String()
		c.Of, c.Reason = ev.Of, ev.Reason
	}
	c.Type = ev.Type
	if on {
		ps.cond.since = ts
		c.Since = ts.UnixMilli()
		p.setCond(c)
	} else {
		p.clearCond(c.Type, c.Point, "")
	}
	if !ps.cond.since.IsZero() {
		ev.Since = ps.cond.since.UnixMilli()
	}
	if !on {
		ps.cond.since = time.Time{}
	}
	return ev
}

func pick[T any](cond bool, yes, no T) T {
	if cond {
		return yes
	}
	return no
}

// bypassOverdue raises `overdue` once when a bypass has lasted max_bypass
// by now (a sample's source time, or the agent clock when no sample
// comes). The event is stamped with the moment it fell due.
func (p *pipeline) bypassOverdue(ps *pointState, now time.Time) (wire.Event, bool) {
	if ps.kind != kindBypass || ps.cond.maxBypass <= 0 || ps.cond.overdue || !ps.cond.flag.Load() || ps.cond.since.IsZero() {
		return wire.Event{}, false
	}
	due := ps.cond.since.Add(ps.cond.maxBypass)
	if now.Before(due) {
		return wire.Event{}, false
	}
	ps.cond.overdue = true
	p.updateCond(wire.TypeBypass, ps.id, "", func(c *Condition) { c.Overdue = true })
	return wire.Event{ID: p.ids.next(), TS: due.UnixMilli(), Type: wire.TypeBypass, Point: ps.id,
		State: "overdue", Since: ps.cond.since.UnixMilli(), Detail: "max_bypass " + ps.cond.maxBypass.String()}, true
}

// overdue checks every bypass against the agent clock, so a bypass that
// outlasts its permit is reported even when its source sends nothing.
func (p *pipeline) overdue(now time.Time) []wire.Event {
	var evs []wire.Event
	for _, ds := range p.order {
		if len(ds.bypasses) == 0 {
			continue
		}
		ds.mu.Lock()
		for _, ps := range ds.bypasses {
			if ev, ok := p.bypassOverdue(ps, now); ok {
				evs = append(evs, ev)
			}
		}
		ds.mu.Unlock()
	}
	return evs
}
