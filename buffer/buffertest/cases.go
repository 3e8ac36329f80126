package buffertest

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/go-cmp/cmp"

	"canary/buffer"
)

const (
	ev   = buffer.LaneEvent
	data = buffer.LaneData
)

func testSeqPerLane(s *suite) {
	a := s.append(data, 3, 10)
	b := s.append(ev, 2, 10)
	c := s.append(data, 2, 10)
	s.wantKeys("first data", a, seqs(data, 1, 2, 3))
	s.wantKeys("events", b, seqs(ev, 1, 2))
	s.wantKeys("second data", c, seqs(data, 4, 5))
	for _, r := range slices.Concat(a, b, c) {
		if r.Boot != "boot-test" || !r.Created.Equal(Epoch) {
			s.t.Errorf("%s: boot %q created %v, want stamped by Append", describe(r), r.Boot, r.Created)
		}
	}
}

func testDurable(s *suite) {
	created := Epoch.Add(-time.Hour)
	in := []buffer.Record{
		{Lane: data, Boot: "b0", Created: created, Payload: []byte("one")},
		{Lane: ev, Payload: []byte("alarm")},
		{Lane: data, Payload: nil},
	}
	want, err := s.ob.Append(in)
	if err != nil {
		s.t.Fatal(err)
	}
	s.reopen()
	got := s.all()
	want = []buffer.Record{want[1], want[0], want[2]} // events first
	if d := cmp.Diff(want, got, cmp.Comparer(bytesEqual)); d != "" {
		s.t.Errorf("after reopen (-want +got):\n%s", d)
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

func testBeginOrder(s *suite) {
	s.append(data, 2, 10)
	s.append(ev, 1, 10)
	s.append(data, 1, 10)
	s.append(ev, 1, 10)
	s.wantKeys("Begin(3)", s.begin(3), seqs(ev, 1, 2), seqs(data, 1))
	s.wantKeys("Begin(10)", s.begin(10), seqs(data, 2, 3))
}

func testBeginNoTwice(s *suite) {
	s.append(data, 5, 10)
	s.wantKeys("first", s.begin(2), seqs(data, 1, 2))
	s.wantKeys("second", s.begin(2), seqs(data, 3, 4))
	s.wantKeys("third", s.begin(10), seqs(data, 5))
	s.wantKeys("drained", s.begin(10))
	got, err := s.ob.Begin(0)
	if err != nil || len(got) != 0 {
		s.t.Errorf("Begin(0) = %v, %v; want nothing", got, err)
	}
}

func testNackFirst(s *suite) {
	s.append(data, 5, 10)
	first := s.begin(3)
	s.begin(1)
	s.ob.Nack([]buffer.Record{first[2], first[1]})
	s.wantKeys("after Nack", s.begin(10), seqs(data, 2, 3, 5))
}

func testAckSubset(s *suite) {
	recs := s.append(data, 5, 10)
	out := s.begin(10)
	s.ack([]buffer.Record{out[0], out[2], out[4]})
	s.ob.Nack([]buffer.Record{out[1], out[3]})
	if st := s.ob.Stats().Lanes[data]; st.Depth != 2 || st.Inflight != 0 || st.Bytes != 20 {
		s.t.Errorf("stats after ack: %+v", st)
	}
	got := s.begin(10)
	s.wantKeys("left", got, seqs(data, 2, 4))
	if !bytesEqual(got[0].Payload, recs[1].Payload) {
		s.t.Errorf("payload of seq 2 changed")
	}
}

func testAckUnknown(s *suite) {
	recs := s.append(data, 2, 10)
	s.wantErr("Ack before Begin", s.ob.Ack(recs[:1]), buffer.ErrUnknown)
	out := s.begin(1)
	s.wantErr("Ack mixed", s.ob.Ack(recs), buffer.ErrUnknown)
	if st := s.ob.Stats().Lanes[data]; st.Depth != 2 {
		s.t.Errorf("failed Ack changed depth to %d", st.Depth)
	}
	s.ack(out)
	s.wantErr("Ack twice", s.ob.Ack(out), buffer.ErrUnknown)
}

// fill appends data records of 1 KiB charge one at a time until the budget
// makes Append evict, and returns every record appended.
func (s *suite) fillUntilEvict(l buffer.Lane) []buffer.Record {
	var all []buffer.Record
	before := s.ob.Stats().Lanes[l].Dropped
	for i := 0; i < 2*Budget/1024; i++ {
		all = append(all, s.append(l, 1, RecordSize)...)
		if s.ob.Stats().Lanes[l].Dropped > before {
			return all
		}
	}
	s.t.Fatalf("no eviction after %d records", len(all))
	return nil
}

func (s *suite) withinBudget() {
	s.t.Helper()
	st := s.ob.Stats()
	var used int64
	for _, ls := range st.Lanes {
		used += ls.Bytes + int64(ls.Depth)*buffer.RecordOverhead
	}
	if used > Budget {
		s.t.Errorf("%d bytes charged, budget %d", used, Budget)
	}
}

func testEvictOldestData(s *suite) {
	appended := s.fillUntilEvict(data)
	dropped := s.ob.Stats().Lanes[data].Dropped
	s.withinBudget()
	got := s.all()
	want := buffer.Gap{Lane: data, FromSeq: 1, ToSeq: dropped, Records: int(dropped), Reason: "budget"}
	if d := cmp.Diff([]buffer.Gap{want}, s.gaps(got)); d != "" {
		s.t.Errorf("gap events (-want +got):\n%s", d)
	}
	var left []uint64
	for q := dropped + 1; q <= uint64(len(appended)); q++ {
		left = append(left, q)
	}
	s.wantKeys("data left", lane(got, data), seqs(data, left...))
	if g := lane(got, ev)[0]; g.Boot != "boot-test" || !g.Created.Equal(Epoch) {
		s.t.Errorf("gap record boot %q created %v", g.Boot, g.Created)
	}
}

func testEvictInflight(s *suite) {
	s.append(data, 2, RecordSize)
	out := s.begin(2)
	s.fillUntilEvict(data)
	if st := s.ob.Stats().Lanes[data]; st.Inflight != 0 {
		s.t.Errorf("evicted records still counted in flight: %d", st.Inflight)
	}
	s.ack(out) // evicted meanwhile: accepted, ignored
	if st := s.ob.Stats().Lanes[data]; st.Depth == 0 {
		s.t.Errorf("Ack of evicted records deleted others")
	}
}

func testEventsKept(s *suite) {
	events := s.append(ev, 2, 100)
	s.fillUntilEvict(data)
	s.fillUntilEvict(data) // a second run: a second gap
	got := lane(s.all(), ev)
	s.wantKeys("events", got[:2], keys(events))
	if n := len(s.gaps(got)); n != 2 {
		s.t.Errorf("%d gap events, want 2", n)
	}
}

func testEventsEvictedAlone(s *suite) {
	s.fillUntilEvict(ev)
	s.withinBudget()
	st := s.ob.Stats().Lanes[ev]
	got := s.all()
	want := buffer.Gap{Lane: ev, FromSeq: 1, ToSeq: st.Dropped, Records: int(st.Dropped), Reason: "budget"}
	if d := cmp.Diff([]buffer.Gap{want}, s.gaps(got)); d != "" {
		s.t.Errorf("gap events (-want +got):\n%s", d)
	}
}

func testTooBig(s *suite) {
	_, err := s.ob.Append([]buffer.Record{{Lane: data, Payload: Payload(0, Budget)}})
	s.wantErr("one record over budget", err, buffer.ErrTooBig)
	_, err = s.ob.Append([]buffer.Record{{Lane: 7}})
	s.wantErr("bad lane", err, buffer.ErrBadLane)
	if st := s.ob.Stats().Lanes[data]; st.Depth != 0 || st.NextSeq != 1 {
		s.t.Errorf("refused Append left traces: %+v", st)
	}
}

func testSeqNoRepeat(s *suite) {
	s.append(data, 3, 10)
	s.ack(s.all())
	s.wantKeys("after ack-all", s.append(data, 1, 10), seqs(data, 4))
}

func testSeqNoRepeatReopen(s *suite) {
	s.append(data, 3, 10)
	s.append(ev, 2, 10)
	s.ack(s.all())
	s.reopen()
	s.wantKeys("after reopen", s.append(data, 1, 10), seqs(data, 4))
	s.wantKeys("after reopen", s.append(ev, 1, 10), seqs(ev, 3))
}

func testReopenNothingInflight(s *suite) {
	s.append(data, 3, 10)
	s.begin(2)
	s.reopen()
	if st := s.ob.Stats().Lanes[data]; st.Inflight != 0 || st.Depth != 3 || st.NextSeq != 4 || st.Bytes != 30 {
		s.t.Errorf("stats after reopen: %+v", st)
	}
	s.wantKeys("after reopen", s.begin(10), seqs(data, 1, 2, 3))
}

func testConcurrentAppend(s *suite) {
	const workers, each = 8, 12 // 96 records of 0 bytes stay within Budget
	var mu = make(chan []uint64, workers)
	err := concurrently(workers, func(i int) error {
		var got []uint64
		for range each {
			out, err := s.ob.Append([]buffer.Record{{Lane: data, Payload: []byte{}}})
			if err != nil {
				return err
			}
			got = append(got, out[0].Seq)
		}
		mu <- got
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	close(mu)
	var all []uint64
	for got := range mu {
		if !slices.IsSorted(got) {
			s.t.Errorf("one goroutine saw seqs out of order: %v", got)
		}
		all = append(all, got...)
	}
	slices.Sort(all)
	for i, q := range all {
		if q != uint64(i+1) {
			s.t.Fatalf("seqs not 1..%d without repeats: %v", workers*each, all)
		}
	}
	if n := len(s.all()); n != workers*each {
		s.t.Errorf("Begin found %d records, want %d", n, workers*each)
	}
}

// testConcurrentMixed runs appenders against a consumer that waits on
// Notify, begins and acks until everything appended is gone.
func testConcurrentMixed(s *suite) {
	const workers, each = 4, 25 // 100 records of 0 bytes stay within Budget
	done := make(chan error, 1)
	go func() { done <- consume(s.ob, workers*each) }()
	err := concurrently(workers, func(int) error {
		for range each {
			if _, err := s.ob.Append([]buffer.Record{{Lane: data, Payload: []byte{}}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			s.t.Fatal(err)
		}
	case <-time.After(30 * time.Second): // a failure guard, not synchronisation
		s.t.Fatal("consumer stuck: a Notify was lost or a record never came out")
	}
	s.flush()
	if st := s.ob.Stats().Lanes[data]; st.Depth != 0 || st.Inflight != 0 {
		s.t.Errorf("after consuming everything: %+v", st)
	}
}

// consume acks n records, checking none is handed out twice.
func consume(ob buffer.Outbox, n int) error {
	seen := map[uint64]bool{}
	for len(seen) < n {
		recs, err := ob.Begin(7)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			<-ob.Notify()
			continue
		}
		for _, r := range recs {
			if seen[r.Seq] {
				return fmt.Errorf("seq %d handed out twice", r.Seq)
			}
			seen[r.Seq] = true
		}
		if err := ob.Ack(recs); err != nil {
			return err
		}
	}
	return nil
}

func testStats(s *suite) {
	old := Epoch.Add(-time.Minute)
	s.ob.Append([]buffer.Record{{Lane: data, Created: old, Payload: Payload(0, 100)}})
	s.append(data, 2, 50)
	s.append(ev, 1, 7)
	s.begin(2)
	got := s.ob.Stats()
	want := [2]buffer.LaneStats{
		{Depth: 1, Bytes: 7, Oldest: Epoch, NextSeq: 2, Inflight: 1},
		{Depth: 3, Bytes: 200, Oldest: old, NextSeq: 4, Inflight: 1},
	}
	if d := cmp.Diff(want[:], got.Lanes[:]); d != "" {
		s.t.Errorf("lane stats (-want +got):\n%s", d)
	}
	if got.MaxBytes != Budget || got.Bytes <= 0 {
		s.t.Errorf("MaxBytes %d Bytes %d", got.MaxBytes, got.Bytes)
	}
}

func testNotify(s *suite) {
	select {
	case <-s.ob.Notify():
		s.t.Errorf("signalled before any Append")
	default:
	}
	s.append(data, 1, 1)
	s.append(data, 1, 1)
	s.wantSignal("Append")
	s.ob.Nack(s.begin(1))
	s.wantSignal("Nack")
}

func (s *suite) wantSignal(after string) {
	s.t.Helper()
	select {
	case <-s.ob.Notify():
	default:
		s.t.Errorf("no signal after %s", after)
	}
	select {
	case <-s.ob.Notify():
		s.t.Errorf("two signals queued after %s; capacity must be one", after)
	default:
	}
}

func testClosed(s *suite) {
	out := s.append(data, 1, 1)
	if err := s.ob.Close(); err != nil {
		s.t.Fatal(err)
	}
	_, err := s.ob.Append(out)
	s.wantErr("Append", err, buffer.ErrClosed)
	_, err = s.ob.Begin(1)
	s.wantErr("Begin", err, buffer.ErrClosed)
	s.wantErr("Ack", s.ob.Ack(out), buffer.ErrClosed)
	s.wantErr("Close", s.ob.Close(), buffer.ErrClosed)
}

// testSpan: the forwarder's live-first drain. Records from a mark on are
// "live", those before it "backlog"; each span is oldest first, skips what
// is in flight and stays within its lane and range.
func testSpan(s *suite) {
	s.append(data, 5, 10)
	s.append(ev, 2, 10)
	mark := s.ob.Stats().Lanes[data].NextSeq // 6
	s.append(data, 3, 10)
	s.wantKeys("live", s.span(2, buffer.Span{Lane: data, From: mark}), seqs(data, 6, 7))
	s.wantKeys("backlog", s.span(2, buffer.Span{Lane: data, To: mark}), seqs(data, 1, 2))
	s.wantKeys("live rest", s.span(10, buffer.Span{Lane: data, From: mark}), seqs(data, 8))
	s.wantKeys("backlog middle", s.span(10, buffer.Span{Lane: data, From: 2, To: 5}), seqs(data, 3, 4))
	s.wantKeys("events", s.span(10, buffer.Span{Lane: ev}), seqs(ev, 1, 2))
	s.wantKeys("Begin takes the rest", s.begin(10), seqs(data, 5))
	s.wantKeys("nothing left", s.span(10, buffer.Span{Lane: data}))
	if got, err := s.ob.BeginSpan(0, buffer.Span{Lane: data}); err != nil || len(got) != 0 {
		s.t.Errorf("BeginSpan(0) = %v, %v; want nothing", got, err)
	}
}

func testSpanNack(s *suite) {
	s.append(data, 4, 10)
	out := s.span(10, buffer.Span{Lane: data, To: 3})
	s.wantKeys("backlog", out, seqs(data, 1, 2))
	s.ob.Nack(out[1:])
	s.wantKeys("after Nack", s.span(10, buffer.Span{Lane: data}), seqs(data, 2, 3, 4))
	s.ack(out[:1])
	if st := s.ob.Stats().Lanes[data]; st.Depth != 3 || st.Inflight != 3 {
		s.t.Errorf("stats: %+v", st)
	}
}

func testSpanBadLane(s *suite) {
	_, err := s.ob.BeginSpan(1, buffer.Span{Lane: 7})
	s.wantErr("BeginSpan on lane 7", err, buffer.ErrBadLane)
}
