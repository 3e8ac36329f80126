package agent

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"canary/config"
	"canary/drivers"
)

// publishBuckets are the upper bounds (seconds) of the publish latency
// histogram: from a LAN broker to a congested 4G link.
var publishBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// metrics are the agent's own counters, beyond what the pipeline, the
// outbox and the forwarder already count. Everything is atomic: the hot
// path (onScan, Publish) takes no lock.
type metrics struct {
	devices map[string]*devMetrics // fixed at New: the configured devices

	pubCount   atomic.Uint64
	pubFailed  atomic.Uint64
	pubSumNS   atomic.Int64
	pubBuckets []atomic.Uint64 // cumulative counts are built at exposition
	connects   atomic.Uint64   // attempts, successful or not
	connFailed atomic.Uint64

	fwdBeat atomic.Int64     // Unix ns the forwarder last called the sink
	now     func() time.Time // the agent clock, for liveness

	cmdMu       sync.Mutex
	cmdAccepted map[string]uint64 // by command
	cmdRefused  map[string]uint64 // by reason
}

type devMetrics struct {
	good, notGood atomic.Uint64 // samples read, by quality
	lastScan      atomic.Int64  // Unix ns
	interval      time.Duration
}

func newMetrics(cfg *config.Config, now func() time.Time) *metrics {
	m := &metrics{devices: map[string]*devMetrics{}, pubBuckets: make([]atomic.Uint64, len(publishBuckets)),
		cmdAccepted: map[string]uint64{}, cmdRefused: map[string]uint64{}, now: now}
	for _, d := range cfg.Devices {
		m.devices[d.ID] = &devMetrics{interval: d.Interval.D()}
	}
	return m
}

// scan counts one scan's samples and marks its device's loop alive.
func (m *metrics) scan(sc *drivers.Scan, now time.Time) {
	d := m.devices[sc.Device]
	if d == nil {
		return
	}
	d.lastScan.Store(now.UnixNano())
	for i := range sc.Samples {
		if sc.Samples[i].Quality == drivers.Good {
			d.good.Add(1)
		} else {
			d.notGood.Add(1)
		}
	}
}

func (m *metrics) publishDone(d time.Duration, err error) {
	m.pubCount.Add(1)
	if err != nil {
		m.pubFailed.Add(1)
		return
	}
	m.pubSumNS.Add(int64(d))
	s := d.Seconds()
	for i, b := range publishBuckets {
		if s <= b {
			m.pubBuckets[i].Add(1)
			break
		}
	}
}

func (m *metrics) command(name, reason string) {
	m.cmdMu.Lock()
	defer m.cmdMu.Unlock()
	if reason == "" {
		m.cmdAccepted[name]++
	} else {
		m.cmdRefused[reason]++
	}
}

func (m *metrics) refusedTotal() uint64 {
	m.cmdMu.Lock()
	defer m.cmdMu.Unlock()
	var n uint64
	for _, v := range m.cmdRefused {
		n += v
	}
	return n
}

func sortedCounts(src map[string]uint64, mu *sync.Mutex) (keys []string, vals []uint64) {
	mu.Lock()
	defer mu.Unlock()
	for k := range src {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals = append(vals, src[k])
	}
	return keys, vals
}

// meteredSink times every publish from Publish to the moment the
// forwarder learns its fate, counts connection attempts, and marks the
// forwarder's loop alive on each call (it calls the sink at least every
// minute: a heartbeat status while connected, a connect attempt while
// not).
type meteredSink struct {
	drivers.Sink
	m *metrics
}

func (s meteredSink) beat() { s.m.fwdBeat.Store(s.m.now().UnixNano()) }

func (s meteredSink) Connect(ctx context.Context) error {
	s.beat()
	s.m.connects.Add(1)
	err := s.Sink.Connect(ctx)
	if err != nil {
		s.m.connFailed.Add(1)
	}
	s.beat()
	return err
}

func (s meteredSink) Publish(ctx context.Context, msg drivers.Message) drivers.Delivery {
	s.beat()
	return &timedDelivery{Delivery: s.Sink.Publish(ctx, msg), start: time.Now(), m: s.m}
}

// timedDelivery records its latency the first time its fate is asked
// for, which the forwarder does as soon as Done closes.
type timedDelivery struct {
	drivers.Delivery
	start time.Time
	m     *metrics
	once  atomic.Bool
}

func (d *timedDelivery) Err() error {
	err := d.Delivery.Err()
	if d.once.CompareAndSwap(false, true) {
		d.m.publishDone(time.Since(d.start), err)
	}
	return err
}

// meterSink wraps the uplink for metrics and liveness.
func (a *Agent) meterSink(s drivers.Sink) drivers.Sink { return meteredSink{Sink: s, m: a.m.met} }
