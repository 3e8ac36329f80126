package agent

import (
	"math"

	"canary/agent/wire"
	"canary/config"
	"canary/drivers"
)

// limitState is one configured limit of a point and whether it is active.
// Each limit is its own alarm: a value above HH has both H and HH active.
type limitState struct {
	level  string // ll, l, h, hh
	limit  float64
	high   bool // true for h/hh: active at or above the limit
	hyst   float64
	active bool
}

// Gas presets from GB/T 50493-2019, used when a point sets `gas:` and no
// limits: combustible level 1 at 25 %LEL and level 2 at 50 %LEL; oxygen low
// at 19.5 %VOL and high at 23.5 %VOL.
func presetLimits(gas string) config.Alarms {
	f := func(v float64) *float64 { return &v }
	switch gas {
	case "combustible":
		return config.Alarms{H: f(25), HH: f(50)}
	case "oxygen":
		return config.Alarms{L: f(19.5), H: f(23.5)}
	}
	return config.Alarms{}
}

func limitsFor(pt config.Point) []*limitState {
	a := pt.Alarms
	if !a.Any() {
		preset := presetLimits(pt.Gas)
		preset.Hysteresis = a.Hysteresis
		a = preset
	}
	var out []*limitState
	add := func(level string, v *float64, high bool) {
		if v != nil {
			out = append(out, &limitState{level: level, limit: *v, high: high, hyst: a.Hysteresis})
		}
	}
	add("ll", a.LL, false)
	add("l", a.L, false)
	add("h", a.H, true)
	add("hh", a.HH, true)
	return out
}

// evalAlarms runs every limit of a point on every scan, reported or not.
// A sample that is not good neither raises nor clears an alarm.
func (p *pipeline) evalAlarms(ps *pointState, s *drivers.Sample, evs []wire.Event) []wire.Event {
	if len(ps.alarms) == 0 || s.Quality != drivers.Good {
		return evs
	}
	v := s.Value.Float()
	if math.IsNaN(v) {
		return evs
	}
	for _, l := range ps.alarms {
		next := l.next(v)
		if next == l.active {
			continue
		}
		l.active = next
		state := "cleared"
		if next {
			state = "active"
		}
		val, lim := v, l.limit
		evs = append(evs, wire.Event{ID: p.ids.next(), TS: s.TS.UnixMilli(), Type: wire.TypeAlarm,
			Point: ps.id, State: state, Level: l.level, Value: &val, Limit: &lim})
	}
	return evs
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
