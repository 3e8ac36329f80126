package agent

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"canary/agent/clock"
	"canary/agent/wire"
	"canary/buffer"
	"canary/drivers"
)

// autoAck acknowledges whatever the sink holds until ctx ends.
func autoAck(ctx context.Context, s *fakeSink) {
	for ctx.Err() == nil {
		s.mu.Lock()
		for _, d := range s.pending {
			close(d.done)
		}
		s.pending = nil
		s.mu.Unlock()
		time.Sleep(100 * time.Microsecond)
	}
}

func body(hist bool, i int) []byte {
	return fmt.Appendf(nil, `"historical":%t,"samples":[{"point":"p","ts":%d,"value":%d,"quality":"good"}]`, hist, i, i)
}

// After a reconnect, events go first, then data appended since the
// connect, and the backlog from before only at backfill_rate (a token
// bucket with a burst of at most one second's worth), oldest first.
func TestForwarderLiveFirstBacklogAtRate(t *testing.T) {
	box := buffer.NewMemory(buffer.Options{})
	for i := range 30 {
		box.Append([]buffer.Record{{Lane: buffer.LaneData, Boot: "b", Payload: body(true, i)}})
	}
	box.Append([]buffer.Record{{Lane: buffer.LaneEvent, Boot: "b", Payload: []byte(`"historical":true,"events":[]`)}})
	sink := &fakeSink{}
	clk := clock.NewFake(time.UnixMilli(1_700_000_000_000))
	fwd := newTestForwarder(sink, box)
	fwd.clock, fwd.rate = clk, 5
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { fwd.run(ctx) })
	wg.Go(func() { autoAck(ctx, sink) })
	defer func() { cancel(); wg.Wait() }()

	data := func() []uint64 { // seqs of the data messages, in publish order
		var out []uint64
		for _, m := range sink.messages() {
			if dm, err := wire.Decode(m.Payload); err == nil && m.Topic == fwd.topics.Data {
				out = append(out, dm.Seq)
			}
		}
		return out
	}
	waitFor(t, 5*time.Second, func() bool { return len(data()) == 5 })
	if m := sink.messages(); m[1].Topic != fwd.topics.Event { // m[0] is the birth status
		t.Errorf("first message after birth on %s, want the event", m[1].Topic)
	}
	live, _ := box.Append([]buffer.Record{{Lane: buffer.LaneData, Boot: "b", Payload: body(false, 100)}, {Lane: buffer.LaneData, Boot: "b", Payload: body(false, 101)}})
	waitFor(t, 5*time.Second, func() bool { return len(data()) == 7 })
	step := func(d time.Duration, want int) {
		t.Helper()
		waitFor(t, 5*time.Second, func() bool { return clk.Waiters() >= 2 }) // heartbeat and the refill timer
		clk.Advance(d)
		waitFor(t, 5*time.Second, func() bool { return len(data()) >= want })
		time.Sleep(20 * time.Millisecond) // a failure guard: nothing more may come
		if n := len(data()); n != want {
			t.Fatalf("after %v: %d data messages, want %d", d, n, want)
		}
	}
	step(time.Second, 12)    // 5 more per second
	step(10*time.Second, 17) // an idle spell does not save up more than the burst
	want := []uint64{1, 2, 3, 4, 5, live[0].Seq, live[1].Seq, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	if got := data(); !slices.Equal(got, want) {
		t.Errorf("data seqs in publish order %v, want %v", got, want)
	}
}

// outageSink is a broker that keeps only what the checks need of each
// message (a 24-hour backlog would not fit in memory otherwise).
type outageSink struct {
	fakeSink
	mu2   sync.Mutex
	log   []sent
	first map[[2]uint64]uint64 // (lane, seq) -> payload hash of the first copy
	dups  int
	bad   []string
}

type sent struct {
	lane       buffer.Lane
	seq        uint64
	historical bool
	at         time.Time
}

func (s *outageSink) Publish(ctx context.Context, m drivers.Message) drivers.Delivery {
	if m.Topic == "canary/site/gw/status" {
		return s.fakeSink.Publish(ctx, m)
	}
	lane := buffer.LaneData
	if m.Topic == "canary/site/gw/event" {
		lane = buffer.LaneEvent
	}
	seq := fieldUint(m.Payload, `"seq":`)
	h := fnv.New64a()
	h.Write(m.Payload)
	s.fakeSink.mu.Lock()
	up := s.fakeSink.up
	s.fakeSink.mu.Unlock()
	if !up { // nothing reaches a broker without a connection
		return resolved(drivers.ErrNotConnected)
	}
	s.mu2.Lock()
	k := [2]uint64{uint64(lane), seq}
	if prev, ok := s.first[k]; ok {
		s.dups++
		if prev != h.Sum64() {
			s.bad = append(s.bad, fmt.Sprintf("%s seq %d resent with different bytes", lane, seq))
		}
	} else {
		s.first[k] = h.Sum64()
	}
	s.log = append(s.log, sent{lane, seq, bytes.Contains(m.Payload, []byte(`"historical":true`)), time.Now()})
	s.mu2.Unlock()
	m.Payload = nil
	return s.fakeSink.Publish(ctx, m)
}

func fieldUint(b []byte, name string) uint64 {
	i := bytes.Index(b, []byte(name))
	if i < 0 {
		return 0
	}
	j := i + len(name)
	k := j
	for k < len(b) && b[k] >= '0' && b[k] <= '9' {
		k++
	}
	n, _ := strconv.ParseUint(string(b[j:k]), 10, 64)
	return n
}

// scanBody is one scan of n points as the pipeline encodes it.
func scanBody(dst []byte, hist bool, sec int64, n int) []byte {
	samples := make([]drivers.Sample, n)
	ts := time.UnixMilli(1_764_388_800_000 + sec*1000 + sec%7)
	for p := range samples {
		v := 20 + float64((sec/30+int64(p)*7)%50)/10 // slowly varying gas readings
		samples[p] = drivers.Sample{Point: fmt.Sprintf("GT-%03d", 100+p), TS: ts, Value: drivers.Float(v)}
	}
	return wire.AppendSamples(dst, hist, samples)
}

// A 24-hour outage at 200 points/s (one scan of 200 points per second:
// 86,400 data records, 17.28 million samples, plus an alarm event every
// 10 minutes) is queued in a compressed bbolt outbox by a fast producer.
// Then the link comes back: the backlog drains at backfill_rate while a
// live producer keeps appending, and the link is cut once mid-drain.
// Every record arrives; the only repeats are exact copies from the
// in-flight window at the cut; events come before the backlog data; the
// backlog comes oldest first; and live records are not starved: between
// a live record's Append and its publish, at most two windows of backlog
// data records go out, however long the backlog (pending events go
// before live data, by design).
//
// Under -race or -short it simulates 2 hours instead of 24.
func TestOutage24hDrainsWhileLiveFlows(t *testing.T) {
	hours := 24
	if raceEnabled || testing.Short() {
		hours = 2
	}
	const points, window, rate = 200, 64, 40_000
	box, err := buffer.OpenBolt(fastPath(t), buffer.Options{MaxBytes: 256 << 20, Boot: "b", Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()

	start := time.Now()
	outage := int64(hours * 3600)
	var buf []byte
	for sec := int64(0); sec < outage; sec += 100 {
		recs := make([]buffer.Record, 0, 101)
		for s := sec; s < sec+100 && s < outage; s++ {
			buf = scanBody(buf[:0], true, s, points)
			recs = append(recs, buffer.Record{Lane: buffer.LaneData, Boot: "b", Payload: buf})
			if s%600 == 0 {
				recs = append(recs, buffer.Record{Lane: buffer.LaneEvent, Boot: "b", Payload: fmt.Appendf(nil,
					`"historical":true,"events":[{"id":"e%d","ts":%d,"type":"alarm","point":"GT-101","state":"active","level":"h"}]`, s, s)})
			}
		}
		if _, err := box.Append(recs); err != nil {
			t.Fatal(err)
		}
	}
	st := box.Stats()
	backlog, events := st.Lanes[buffer.LaneData].Depth, st.Lanes[buffer.LaneEvent].Depth
	t.Logf("outage of %dh queued in %v: %d data records (%d samples), %d events, %d stored bytes = %.2f bytes/sample, file %d bytes",
		hours, time.Since(start).Round(time.Millisecond), backlog, backlog*points, events,
		st.Lanes[buffer.LaneData].Bytes, float64(st.Lanes[buffer.LaneData].Bytes)/float64(backlog*points), st.Bytes)

	sink := &outageSink{first: map[[2]uint64]uint64{}}
	fwd := &forwarder{sink: sink, box: box, framer: wire.NewFramer("site", "gw"),
		topics: wire.NewTopics("canary", "site", "gw"), clock: clock.Real{},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), window: window, rate: rate,
		retry:  backoff{min: 5 * time.Millisecond, max: 20 * time.Millisecond},
		status: func(string) []byte { return []byte(`{}`) }}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { fwd.run(ctx) })
	wg.Go(func() { autoAck(ctx, &sink.fakeSink) })
	defer func() { cancel(); wg.Wait() }()

	// Live: one scan every 5 ms until the backlog is gone, noting how many
	// messages had gone out when each was appended.
	type liveRec struct {
		seq    uint64
		before int
		at     time.Time
	}
	var live []liveRec
	drainStart, cut, cutAt := time.Now(), false, 0
	// Live is what is appended once the link is up (before that, it is
	// backlog like the rest).
	waitFor(t, 10*time.Second, func() bool { up, _, _ := fwd.link(); return up })
	deadline := drainStart.Add(5 * time.Minute) // a failure guard
	for sec := outage; ; sec++ {
		out, err := box.Append([]buffer.Record{{Lane: buffer.LaneData, Boot: "b", Payload: scanBody(nil, false, sec, points)}})
		if err != nil {
			t.Fatal(err)
		}
		sink.mu2.Lock()
		live = append(live, liveRec{out[0].Seq, len(sink.log), time.Now()})
		n := len(sink.log)
		sink.mu2.Unlock()
		if !cut && n > backlog/2 {
			sink.cut() // PUBACKs of the window are lost: those records come again
			cut, cutAt = true, n
			// Records appended while the link is down are backlog by
			// definition (flagged historical): wait for the reconnect.
			waitFor(t, 10*time.Second, func() bool { up, _, _ := fwd.link(); return up && fwd.reconnects.Load() == 2 })
		}
		if s := box.Stats().Lanes[buffer.LaneData]; s.Depth == 0 && s.Inflight == 0 && cut {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not drained after %v: %+v", time.Since(drainStart), box.Stats().Lanes)
		}
		time.Sleep(5 * time.Millisecond)
	}
	drained := time.Since(drainStart)
	waitFor(t, 10*time.Second, func() bool { s := box.Stats().Lanes; return s[0].Depth+s[1].Depth == 0 })

	sink.mu2.Lock()
	defer sink.mu2.Unlock()
	if len(sink.bad) > 0 {
		t.Fatalf("resends not byte-identical: %v", sink.bad[:min(5, len(sink.bad))])
	}
	if want := backlog + len(live); len(sinkSeqs(sink.first, buffer.LaneData)) != want {
		t.Errorf("%d distinct data records delivered, want %d", len(sinkSeqs(sink.first, buffer.LaneData)), want)
	}
	if got := len(sinkSeqs(sink.first, buffer.LaneEvent)); got != events {
		t.Errorf("%d distinct events delivered, want %d", got, events)
	}
	if sink.dups > 2*window {
		t.Errorf("%d duplicates; the cut may repeat at most the in-flight window of each lane", sink.dups)
	}
	checkOutageOrder(t, sink.log, events)
	pos := map[uint64]int{}
	for i, s := range sink.log {
		if s.lane == buffer.LaneData && !s.historical {
			if _, ok := pos[s.seq]; !ok {
				pos[s.seq] = i
			}
		}
	}
	var lat []time.Duration
	worst := 0
	for _, l := range live {
		i, ok := pos[l.seq]
		if !ok {
			t.Fatalf("live seq %d never sent", l.seq)
		}
		if l.before <= cutAt && i > cutAt {
			continue // unsent when the link was cut: it joined the backlog of the next session
		}
		backlogBetween := 0
		for _, s := range sink.log[min(l.before, i):i] { // i < before: sent before we looked
			if s.historical && s.lane == buffer.LaneData { // events go first by design
				backlogBetween++
			}
		}
		worst = max(worst, backlogBetween)
		lat = append(lat, sink.log[i].at.Sub(l.at))
	}
	slices.Sort(lat)
	if worst > 2*window {
		t.Errorf("a live record waited behind %d backlog records; live first allows at most %d", worst, 2*window)
	}
	minDrain := time.Duration(float64(backlog-window) / rate * float64(time.Second))
	if drained < minDrain {
		t.Errorf("backlog of %d drained in %v: faster than backfill_rate %d/s allows", backlog, drained, rate)
	}
	t.Logf("drained %d backlog records in %v (%.0f records/s, %.0f samples/s; rate limit %d/s) with %d live records; "+
		"live publish latency p50 %v p99 %v max %v; most backlog records ahead of a live one: %d; duplicates: %d",
		backlog, drained.Round(time.Millisecond), float64(backlog)/drained.Seconds(), float64(backlog*points)/drained.Seconds(), rate,
		len(live), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1], worst, sink.dups)
}

func sinkSeqs(first map[[2]uint64]uint64, l buffer.Lane) []uint64 {
	var out []uint64
	for k := range first {
		if k[0] == uint64(l) {
			out = append(out, k[1])
		}
	}
	return out
}

// checkOutageOrder: in the first session, every queued event went out
// before any backlog data, and backlog data went out oldest first (first
// copies only; resends after the cut may repeat older seqs).
func checkOutageOrder(t *testing.T, log []sent, events int) {
	t.Helper()
	for i, s := range log[:events] {
		if s.lane != buffer.LaneEvent {
			t.Errorf("message %d is data seq %d before all %d events went out", i, s.seq, events)
			break
		}
	}
	seen := map[uint64]bool{}
	var last uint64
	for _, s := range log {
		if s.lane != buffer.LaneData || !s.historical || seen[s.seq] {
			continue
		}
		seen[s.seq] = true
		if s.seq < last {
			t.Errorf("backlog seq %d first sent after %d", s.seq, last)
			return
		}
		last = s.seq
	}
}

// fastPath is an outbox path on tmpfs when there is one: this test is
// about the drain, and a day of fsyncs on a CI disk is not.
func fastPath(t *testing.T) string {
	dir := t.TempDir()
	if d, err := makeTempIn("/dev/shm"); err == nil {
		t.Cleanup(func() { removeAll(d) })
		dir = d
	}
	return dir + "/outbox.db"
}

func makeTempIn(dir string) (string, error) { return os.MkdirTemp(dir, "canary-outage-") }
func removeAll(dir string)                  { os.RemoveAll(dir) }
