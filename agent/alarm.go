package agent

import (
	"math"
	"time"

	"canary/agent/wire"
	"canary/config"
	"canary/drivers"
)

// Alarm states beyond active/cleared: the point's quality stopped being
// good while a limit was active (the alarm stays active, its value is
// unknown), and came back good with the limit still active.
const (
	alarmActive      = "active"
	alarmCleared     = "cleared"
	alarmQualityBad  = "quality_bad"
	alarmQualityGood = "quality_good"
)

// limitState is one configured limit of a point and whether it is active.
// Each limit is its own alarm: a value above HH has both H and HH active.
type limitState struct {
	level  string // ll, l, h, hh
	limit  float64
	high   bool // true for h/hh: active at or above the limit
	hyst   float64
	active bool
	since  time.Time // source time the alarm became active

	// pending: the value has been on the other side since pendingAt
	// (source time) but the on- or off-delay has not yet run out.
	pending   bool
	pendingAt time.Time
}

// alarmRules are a point's limits and delays.
type alarmRules struct {
	limits   []*limitState
	onDelay  time.Duration
	offDelay time.Duration
	qualBad  bool // a quality_bad event was sent and no good sample since
}

// Gas presets from GB/T 50493-2019, used when a point sets `gas:` and no
// limits: combustible level 1 at 25 %LEL and level 2 at 50 %LEL; oxygen low
// at 19.5 %VOL and high at 23.5 %VOL; toxic level 1 at 1×OEL and level 2
// at 2×OEL, OEL from the point's config.
func presetLimits(gas string, oel *float64) config.Alarms {
	f := func(v float64) *float64 { return &v }
	switch gas {
	case "combustible":
		return config.Alarms{H: f(25), HH: f(50)}
	case "oxygen":
		return config.Alarms{L: f(19.5), H: f(23.5)}
	case "toxic":
		if oel != nil {
			return config.Alarms{H: f(*oel), HH: f(2 * *oel)}
		}
	}
	return config.Alarms{}
}

// rulesFor builds a point's alarm rules: its own limits when it sets any,
// else the preset of its gas. Hysteresis and delays are always its own.
func rulesFor(pt config.Point) alarmRules {
	a := pt.Alarms
	if !a.Any() {
		preset := presetLimits(pt.Gas, pt.OEL)
		preset.Hysteresis, preset.OnDelay, preset.OffDelay = a.Hysteresis, a.OnDelay, a.OffDelay
		a = preset
	}
	r := alarmRules{onDelay: a.OnDelay.D(), offDelay: a.OffDelay.D()}
	add := func(level string, v *float64, high bool) {
		if v != nil {
			r.limits = append(r.limits, &limitState{level: level, limit: *v, high: high, hyst: a.Hysteresis})
		}
	}
	add("ll", a.LL, false)
	add("l", a.L, false)
	add("h", a.H, true)
	add("hh", a.HH, true)
	return r
}

func (r *alarmRules) anyActive() bool {
	for _, l := range r.limits {
		if l.active {
			return true
		}
	}
	return false
}

// evalAlarms runs every limit of a point on every scan, reported or not.
// s is the sample as reported (after fault/maintenance overrides). A
// sample that is not good neither raises nor clears an alarm.
func (p *pipeline) evalAlarms(ps *pointState, s *drivers.Sample, evs []wire.Event) []wire.Event {
	r := ps.rules
	if r == nil {
		return evs
	}
	v := s.Value.Float()
	if s.Quality != drivers.Good || math.IsNaN(v) {
		return p.alarmQualityLost(ps, s, evs)
	}
	var before uint8 // limits active before this sample, by index (at most 4)
	for i, l := range r.limits {
		if l.active {
			before |= 1 << i
		}
		if l.step(v, s.TS, r.onDelay, r.offDelay) {
			evs = append(evs, p.alarmChanged(ps, l, s, v))
		}
	}
	if r.qualBad {
		r.qualBad = false
		for i, l := range r.limits {
			if l.active && before&(1<<i) != 0 {
				evs = append(evs, p.alarmEvent(ps, l, s.TS, alarmQualityGood, &v))
				p.setAlarmQuality(ps.id, l.level, "")
			}
		}
	}
	return evs
}

// alarmQualityLost reports, once, that an active alarm's point has lost
// good quality. The alarm stays active; pending delays keep running.
func (p *pipeline) alarmQualityLost(ps *pointState, s *drivers.Sample, evs []wire.Event) []wire.Event {
	r := ps.rules
	if r.qualBad || !r.anyActive() {
		return evs
	}
	r.qualBad = true
	for _, l := range r.limits {
		if l.active {
			ev := p.alarmEvent(ps, l, s.TS, alarmQualityBad, nil)
			ev.Quality, ev.Reason = s.Quality.String(), s.Reason.String()
			evs = append(evs, ev)
			p.setAlarmQuality(ps.id, l.level, ev.Quality)
		}
	}
	return evs
}

// alarmChanged records a limit's transition and returns its event.
func (p *pipeline) alarmChanged(ps *pointState, l *limitState, s *drivers.Sample, v float64) wire.Event {
	if l.active {
		l.since = s.TS
		lim := l.limit
		p.setCond(Condition{Type: wire.TypeAlarm, Point: ps.id, Level: l.level, Limit: &lim, Since: s.TS.UnixMilli()})
		return p.alarmEvent(ps, l, s.TS, alarmActive, &v)
	}
	p.clearCond(wire.TypeAlarm, ps.id, l.level)
	ev := p.alarmEvent(ps, l, s.TS, alarmCleared, &v)
	l.since = time.Time{}
	return ev
}

func (p *pipeline) alarmEvent(ps *pointState, l *limitState, ts time.Time, state string, v *float64) wire.Event {
	lim := l.limit
	ev := wire.Event{ID: p.ids.next(), TS: ts.UnixMilli(), Type: wire.TypeAlarm, Point: ps.id,
		State: state, Level: l.level, Limit: &lim}
	if v != nil {
		val := *v
		ev.Value = &val
	}
	if !l.since.IsZero() {
		ev.Since = l.since.UnixMilli()
	}
	return ev
}

// step applies one good value at source time ts and reports whether the
// limit changed state. The value must stay on the other side of the limit
// (with hysteresis) for the on-delay (to activate) or off-delay (to clear),
// measured in source time so a backfilled sequence behaves the same.
func (l *limitState) step(v float64, ts time.Time, onDelay, offDelay time.Duration) bool {
	want := l.next(v)
	if want == l.active {
		l.pending = false
		return false
	}
	if !l.pending {
		l.pending, l.pendingAt = true, ts
	}
	d := offDelay
	if want {
		d = onDelay
	}
	if ts.Sub(l.pendingAt) < d {
		return false
	}
	l.active, l.pending = want, false
	return true
}

// next applies the limit with hysteresis: it becomes active at the limit
// and clears only once the value is back beyond limit ∓ hysteresis.
func (l *limitState) next(v float64) bool {
	if l.high {
		if l.active {
			return v > l.limit-l.hyst
		}
		return v >= l.limit
	}
	if l.active {
		return v < l.limit+l.hyst
	}
	return v <= l.limit
}
