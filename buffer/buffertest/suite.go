package buffertest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"canary/buffer"
)

// Opener opens the outbox stored in dir with Options(). For a durable
// implementation, opening the same dir again after Close must see the
// same records.
type Opener func(t *testing.T, dir string) buffer.Outbox

// suite is the state one subtest shares with its helpers.
type suite struct {
	t       *testing.T
	open    Opener
	dir     string
	ob      buffer.Outbox
	reopens bool
}

// Run runs the conformance suite. reopens says whether open on the same
// dir sees what was stored before Close (durable implementations).
func Run(t *testing.T, open func(t *testing.T, dir string) buffer.Outbox, reopens bool) {
	tests := []struct {
		name    string
		durable bool
		fn      func(s *suite)
	}{
		{"SeqPerLane", false, testSeqPerLane},
		{"Durable", true, testDurable},
		{"BeginOrder", false, testBeginOrder},
		{"BeginNoTwice", false, testBeginNoTwice},
		{"NackFirst", false, testNackFirst},
		{"AckSubset", false, testAckSubset},
		{"AckUnknown", false, testAckUnknown},
		{"EvictOldestData", false, testEvictOldestData},
		{"EvictInflight", false, testEvictInflight},
		{"EventsKept", false, testEventsKept},
		{"EventsEvictedAlone", false, testEventsEvictedAlone},
		{"TooBig", false, testTooBig},
		{"SeqNoRepeat", false, testSeqNoRepeat},
		{"SeqNoRepeatReopen", true, testSeqNoRepeatReopen},
		{"ReopenNothingInflight", true, testReopenNothingInflight},
		{"ConcurrentAppend", false, testConcurrentAppend},
		{"ConcurrentMixed", false, testConcurrentMixed},
		{"Stats", false, testStats},
		{"Notify", false, testNotify},
		{"Closed", false, testClosed},
		{"SpanLiveAndBacklog", false, testSpan},
		{"SpanNack", false, testSpanNack},
		{"SpanBadLane", false, testSpanBadLane},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.durable && !reopens {
				t.Skip("implementation does not persist across reopen")
			}
			dir := t.TempDir()
			s := &suite{t: t, open: open, dir: dir, ob: open(t, dir), reopens: reopens}
			t.Cleanup(func() { s.ob.Close() })
			tc.fn(s)
		})
	}
}

func (s *suite) reopen() {
	s.t.Helper()
	if err := s.ob.Close(); err != nil {
		s.t.Fatalf("Close: %v", err)
	}
	s.ob = s.open(s.t, s.dir)
}

// append stores n records of size bytes on lane l.
func (s *suite) append(l buffer.Lane, n, size int) []buffer.Record {
	s.t.Helper()
	recs := make([]buffer.Record, n)
	for i := range recs {
		recs[i] = buffer.Record{Lane: l, Payload: Payload(i, size)}
	}
	out, err := s.ob.Append(recs)
	if err != nil {
		s.t.Fatalf("Append(%d %s records): %v", n, l, err)
	}
	return out
}

func (s *suite) begin(max int) []buffer.Record {
	s.t.Helper()
	out, err := s.ob.Begin(max)
	if err != nil {
		s.t.Fatalf("Begin(%d): %v", max, err)
	}
	return out
}

func (s *suite) span(max int, sp buffer.Span) []buffer.Record {
	s.t.Helper()
	out, err := s.ob.BeginSpan(max, sp)
	if err != nil {
		s.t.Fatalf("BeginSpan(%d, %+v): %v", max, sp, err)
	}
	return out
}

func (s *suite) ack(recs []buffer.Record) {
	s.t.Helper()
	if err := s.ob.Ack(recs); err != nil {
		s.t.Fatalf("Ack: %v", err)
	}
	s.flush()
}

// flush commits deferred acks, for an outbox that defers them
// (buffer.Options.AckDelay): what the cases check after an Ack holds
// once the deletion is durable.
func (s *suite) flush() {
	s.t.Helper()
	if f, ok := s.ob.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			s.t.Fatalf("Flush: %v", err)
		}
	}
}

// all drains everything pending (marking it in flight) and returns it.
func (s *suite) all() []buffer.Record { return s.begin(1 << 30) }

type key struct {
	Lane buffer.Lane
	Seq  uint64
}

func keys(recs []buffer.Record) []key {
	out := make([]key, len(recs))
	for i, r := range recs {
		out[i] = key{r.Lane, r.Seq}
	}
	return out
}

func seqs(l buffer.Lane, ss ...uint64) []key {
	out := make([]key, len(ss))
	for i, q := range ss {
		out[i] = key{l, q}
	}
	return out
}

func (s *suite) wantKeys(what string, got []buffer.Record, want ...[]key) {
	s.t.Helper()
	var w []key
	for _, k := range want {
		w = append(w, k...)
	}
	if d := cmp.Diff(w, keys(got), cmpopts.EquateEmpty()); d != "" {
		s.t.Errorf("%s: records (-want +got):\n%s", what, d)
	}
}

// gaps returns the gap records among events, decoded.
func (s *suite) gaps(recs []buffer.Record) []buffer.Gap {
	var out []buffer.Gap
	for _, r := range recs {
		if g, err := DecodeGap(r.Payload); r.Lane == buffer.LaneEvent && err == nil {
			out = append(out, g)
		}
	}
	return out
}

func lane(recs []buffer.Record, l buffer.Lane) []buffer.Record {
	var out []buffer.Record
	for _, r := range recs {
		if r.Lane == l {
			out = append(out, r)
		}
	}
	return out
}

// wantErr checks err matches target with errors.Is.
func (s *suite) wantErr(what string, err, target error) {
	s.t.Helper()
	if !errors.Is(err, target) {
		s.t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

// concurrently runs fn(i) on n goroutines and waits for all.
func concurrently(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func describe(r buffer.Record) string { return fmt.Sprintf("%s/%d", r.Lane, r.Seq) }
