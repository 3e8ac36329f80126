package agent

import (
	"math"
	"sync"
	"time"

	"canary/agent/wire"
	"canary/config"
	"canary/drivers"
)

// pipeline turns scans into what is reported: samples that pass
// report-by-exception, and events (device online/offline, alarms). It keeps
// one state per device; a device's state is touched only by the source
// goroutine that owns the device, and read by status under its lock.
type pipeline struct {
	devices map[string]*deviceState
	ids     *idGen
}

type deviceState struct {
	mu     sync.Mutex
	id     string
	points map[string]*pointState
	order  []*pointState

	online   int8 // -1 not yet known, 0 offline, 1 online
	lastErr  string
	lastGood time.Time
	polls    uint64
	failures uint64
	latency  time.Duration

	out []drivers.Sample // reused between scans
}

type pointState struct {
	id          string
	unit        string
	deadband    float64
	maxInterval time.Duration
	alarms      []*limitState

	reported bool
	last     drivers.Sample // last reported
	current  drivers.Sample // last read
}

func newPipeline(cfg *config.Config, ids *idGen) *pipeline {
	p := &pipeline{devices: map[string]*deviceState{}, ids: ids}
	for _, d := range cfg.Devices {
		ds := &deviceState{id: d.ID, points: map[string]*pointState{}, online: -1}
		for _, pt := range d.Points {
			ps := &pointState{
				id:          pt.ID,
				unit:        pt.Unit,
				deadband:    d.Deadband,
				maxInterval: d.MaxInterval.D(),
				alarms:      limitsFor(pt),
			}
			if pt.Deadband != nil {
				ps.deadband = *pt.Deadband
			}
			if pt.MaxInterval > 0 {
				ps.maxInterval = pt.MaxInterval.D()
			}
			ds.points[pt.ID] = ps
			ds.order = append(ds.order, ps)
		}
		p.devices[d.ID] = ds
	}
	return p
}

// process evaluates one scan. It returns the samples to report (valid until
// the next scan of the same device) and the events it raised.
func (p *pipeline) process(sc *drivers.Scan, now time.Time) ([]drivers.Sample, []wire.Event) {
	ds := p.devices[sc.Device]
	if ds == nil {
		return nil, nil
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	evs := p.deviceEvents(ds, sc, now)
	ds.out = ds.out[:0]
	for i := range sc.Samples {
		s := &sc.Samples[i]
		ps := ds.points[s.Point]
		if ps == nil {
			continue
		}
		ps.current = *s
		evs = p.evalAlarms(ps, s, evs)
		if ps.due(s) {
			ps.reported, ps.last = true, *s
			ds.out = append(ds.out, *s)
		}
	}
	return ds.out, evs
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
	case s.Quality != l.Quality || s.Reason != l.Reason:
		return true
	case ps.maxInterval > 0 && s.TS.Sub(l.TS) >= ps.maxInterval:
		return true
	case s.Value.Kind() != l.Value.Kind():
		return true
	}
	switch s.Value.Kind() {
	case drivers.KindFloat, drivers.KindInt, drivers.KindUint:
		d := math.Abs(s.Value.Float() - l.Value.Float())
		if ps.deadband == 0 {
			return d != 0
		}
		return d > ps.deadband
	}
	return !s.Value.Equal(l.Value)
}
