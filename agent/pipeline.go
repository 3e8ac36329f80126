package agent

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"canary/agent/wire"
	"canary/config"
	"canary/drivers"
)

// pipeline turns scans into what is reported: samples that pass
// report-by-exception, and events (device online/offline, alarms,
// interlocks, bypasses, detector faults). It keeps one state per device; a
// device's state is touched only by the source goroutine that owns the
// device (and the bypass check), under its lock, and read by status.
//
// Lock order: deviceState.mu, then pipeline.mu. saveMu is taken alone.
// Fault and maintenance bits are read across devices through an atomic,
// so a fault point on one device qualifies a detector on another.
type pipeline struct {
	devices map[string]*deviceState
	order   []*deviceState         // config order
	points  map[string]*pointState // all devices; ids are unique
	units   []string               // pointState.unit indexes it; [0] is ""
	ids     *idGen

	mu    sync.Mutex
	conds map[string]Condition // what holds now, by condKey

	dirty     atomic.Bool // conds changed since the state file was written
	saveMu    sync.Mutex
	statePath string // "" keeps no state file

	// clockFloor: good samples stamped before it are reported uncertain /
	// clock_unsynced (see clockWatch); zero checks nothing.
	clockFloor time.Time
}

type deviceState struct {
	mu    sync.Mutex
	id    string
	order []*pointState // config order

	online   int8 // -1 not yet known, 0 offline, 1 online
	lastErr  string
	lastGood time.Time
	polls    uint64
	failures uint64
	latency  time.Duration

	out      []*drivers.Sample // what a scan reports, reused between scans
	changed  []drivers.Sample  // copies of reported samples whose quality the pipeline changed
	bypasses []*pointState     // checked against the agent clock
	hasQuals bool              // has fault or maintenance points

	// Record making, touched only by the goroutine that emits the
	// device's scans (onScan), outside mu.
	rec records
}

type pointState struct {
	dev         *deviceState
	id          string
	deadband    float64
	maxInterval time.Duration
	kind        pointKind
	reported    bool
	unit        uint32        // in pipeline.units: 10,000 points share a few strings
	rules       *alarmRules   // nil: no limits
	cond        *condState    // condition points only; nil for the others
	quals       []*pointState // fault/maintenance points that qualify this one

	last    reading // last reported
	current reading // last read
}

// condState is what a condition point (fault, maintenance, interlock,
// bypass) keeps besides a point's: flag is the last known good state,
// read by other devices for fault bits. Kept apart so the many analog
// points of a large rack do not carry it.
type condState struct {
	flag      atomic.Bool
	since     time.Time     // source time the condition began
	of        string        // fault/maintenance: the point qualified
	maxBypass time.Duration // bypass: 0 never overdue
	overdue   bool
}

// reading is a sample as a point keeps it: without the point id (the
// point has it) and with the time as Unix nanoseconds, so that 10,000
// points keep half the bytes drivers.Sample would.
type reading struct {
	ts      int64 // 0: none yet
	value   drivers.Value
	quality drivers.Quality
	reason  drivers.Reason
}

func readingOf(s *drivers.Sample) reading {
	return reading{ts: nanos(s.TS), value: s.Value, quality: s.Quality, reason: s.Reason}
}

// nanos is t in Unix nanoseconds, 0 for the zero time (none).
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func newPipeline(cfg *config.Config, ids *idGen) *pipeline {
	p := &pipeline{devices: map[string]*deviceState{}, points: map[string]*pointState{}, ids: ids,
		units: []string{""}, conds: map[string]Condition{}}
	unitIndex := map[string]uint32{"": 0}
	for _, d := range cfg.Devices {
		ds := &deviceState{id: d.ID, online: -1}
		states := make([]pointState, len(d.Points)) // one allocation a device
		for i, pt := range d.Points {
			u, ok := unitIndex[pt.Unit]
			if !ok {
				u = uint32(len(p.units))
				unitIndex[pt.Unit], p.units = u, append(p.units, pt.Unit)
			}
			ps := &states[i]
			*ps = pointState{
				dev:         ds,
				id:          pt.ID,
				unit:        u,
				deadband:    d.Deadband,
				maxInterval: d.MaxInterval.D(),
				kind:        parseKind(pt.Kind),
			}
			if ps.kind.isCondition() {
				ps.cond = &condState{of: pt.Of, maxBypass: pt.MaxBypass.D()}
			} else if r := rulesFor(pt); len(r.limits) > 0 {
				ps.rules = &r
			}
			if ps.kind == kindBypass {
				ds.bypasses = append(ds.bypasses, ps)
			}
			ds.hasQuals = ds.hasQuals || ps.kind.qualifies()
			if pt.Deadband != nil {
				ps.deadband = *pt.Deadband
			}
			if pt.MaxInterval > 0 {
				ps.maxInterval = pt.MaxInterval.D()
			}
			ds.order = append(ds.order, ps)
			p.points[pt.ID] = ps
		}
		p.devices[d.ID] = ds
		p.order = append(p.order, ds)
	}
	for _, ps := range p.points {
		if !ps.kind.qualifies() {
			continue
		}
		if t := p.points[ps.cond.of]; t != nil {
			t.quals = append(t.quals, ps)
		}
	}
	return p
}

// process evaluates one scan. It returns the samples to report and the
// events it raised. The samples point into sc.Samples, or to a copy
// where the pipeline changed the quality; they are valid until the next
// scan of the same device and as long as sc.Samples is not reused, and
// must not be modified (they may be the source's).
//
// Within a scan, fault and maintenance bits are applied first, so a
// detector and its fault bit read together are judged together; a bit
// read by another device counts as last known. Samples are reported with
// the quality those bits give them, and a quality change is reported
// like any other (report-by-exception sees the reported sample). A good
// sample stamped before the clock floor is judged for alarms on its value
// (an alarm is never lost to a bad clock) and reported uncertain /
// clock_unsynced.
func (p *pipeline) process(sc *drivers.Scan, now time.Time) ([]*drivers.Sample, []wire.Event) {
	ds := p.devices[sc.Device]
	if ds == nil {
		return nil, nil
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	evs := p.deviceEvents(ds, sc, now)
	if ds.hasQuals {
		for i := range sc.Samples {
			if ps := p.point(ds, i, sc.Samples[i].Point); ps != nil && ps.kind.qualifies() {
				evs = p.evalCondition(ps, &sc.Samples[i], evs)
			}
		}
	}
	if cap(ds.out) < len(sc.Samples) {
		ds.out = make([]*drivers.Sample, 0, len(sc.Samples)) // once, not by doubling
	}
	ds.out, ds.changed = ds.out[:0], ds.changed[:0]
	for i := range sc.Samples {
		ps := p.point(ds, i, sc.Samples[i].Point)
		if ps == nil {
			continue
		}
		s := sc.Samples[i]
		changed := ps.qualify(&s)
		switch {
		case ps.kind.qualifies():
		case ps.kind.isCondition():
			evs = p.evalCondition(ps, &s, evs)
		default:
			evs = p.evalAlarms(ps, &s, evs)
		}
		if s.Quality == drivers.Good && s.TS.Before(p.clockFloor) {
			s.Quality, s.Reason, changed = drivers.Uncertain, drivers.ReasonClockUnsynced, true
		}
		r := readingOf(&s)
		ps.current = r
		if !ps.due(&s) {
			continue
		}
		ps.reported, ps.last = true, r
		if !changed {
			ds.out = append(ds.out, &sc.Samples[i])
			continue
		}
		ds.changed = append(ds.changed, s)
		ds.out = append(ds.out, nil) // points into changed once it stops growing
	}
	if len(ds.changed) > 0 { // rare: most scans report the source's samples only
		k := 0
		for i := range ds.out {
			if ds.out[i] == nil {
				ds.out[i] = &ds.changed[k]
				k++
			}
		}
	}
	return ds.out, evs
}

// point finds the state of a scan's i-th sample on ds: drivers emit
// points in config order, so the i-th configured point is checked first
// (an equal string header makes that compare cheap), then the map of all
// points (read-only once built), for a point of ds only.
func (p *pipeline) point(ds *deviceState, i int, id string) *pointState {
	if i < len(ds.order) && ds.order[i].id == id {
		return ds.order[i]
	}
	if ps := p.points[id]; ps != nil && ps.dev == ds {
		return ps
	}
	return nil
}

func (p *pipeline) deviceEvents(ds *deviceState, sc *drivers.Scan, now time.Time) []wire.Event {
	ds.polls++
	ds.latency = sc.Latency
	if sc.Err != nil {
		ds.failures++
		ds.lastErr = sc.Err.Error()
		if ds.online != 0 {
			ds.online = 0
			return []wire.Event{{ID: p.ids.next(), TS: now.UnixMilli(), Type: wire.TypeDevice,
				Device: ds.id, State: "offline", Error: ds.lastErr}}
		}
		return nil
	}
	ds.lastGood = now
	if ds.online != 1 {
		ds.online = 1
		return []wire.Event{{ID: p.ids.next(), TS: now.UnixMilli(), Type: wire.TypeDevice,
			Device: ds.id, State: "online"}}
	}
	return nil
}

// due decides report-by-exception: the first sample, any change of quality
// or reason, a move beyond the deadband, a non-numeric change, or the
// heartbeat (max interval) elapsed since the last report.
func (ps *pointState) due(s *drivers.Sample) bool {
	if !ps.reported {
		return true
	}
	l := &ps.last
	switch {
	case s.Quality != l.quality || s.Reason != l.reason:
		return true
	case ps.maxInterval > 0 && time.Duration(nanos(s.TS)-l.ts) >= ps.maxInterval:
		return true
	case s.Value.Kind() != l.value.Kind():
		return true
	}
	switch s.Value.Kind() {
	case drivers.KindFloat, drivers.KindInt, drivers.KindUint:
		d := math.Abs(s.Value.Float() - l.value.Float())
		if ps.deadband == 0 {
			return d != 0
		}
		return d > ps.deadband
	}
	return !s.Value.Equal(l.value)
}
