package buffer_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"canary/buffer"
	"canary/buffer/buffertest"
)

// TestSimulation drives Bolt and Memory with the same random operations
// and requires identical answers: Memory is the model. Set
// CANARY_SIM_SEED to replay a failure.
func TestSimulation(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CANARY_SIM_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (CANARY_SIM_SEED to replay)", seed)
	ops := 5000
	if testing.Short() {
		ops = 1000
	}
	sim := &simulation{t: t, rng: rand.New(rand.NewPCG(seed, 0)), dir: fastDir(t)}
	sim.opts = buffertest.Options()
	sim.opts.Compress = sim.rng.IntN(2) == 0 // both compress or neither: the budget counts stored bytes
	t.Logf("compress %t", sim.opts.Compress)
	sim.model = buffer.NewMemory(sim.opts)
	sim.real = openBolt(t, sim.dir, sim.opts)
	for i := range ops {
		sim.step(i)
		if t.Failed() {
			t.Fatalf("diverged at op %d (seed %d)", i, seed)
		}
	}
	t.Logf("%d reopens, %d gap records", sim.reopens, sim.gaps)
	if !testing.Short() && sim.gaps == 0 {
		t.Errorf("the budget never evicted: the simulation is not covering eviction")
	}
}

// fastDir is a tmpfs directory when there is one: the simulation checks
// logic, not the disk, and real fsyncs would make it take minutes.
func fastDir(t testing.TB) string {
	dir, err := os.MkdirTemp("/dev/shm", "canary-sim-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

type simulation struct {
	t        *testing.T
	rng      *rand.Rand
	dir      string
	opts     buffer.Options
	model    *buffer.Memory
	real     *buffer.Bolt
	inflight []buffer.Record
	n        int
	reopens  int
	gaps     int
}

var simOpts = []cmp.Option{cmpopts.EquateEmpty(), cmpopts.EquateErrors()}

func (s *simulation) step(i int) {
	switch p := s.rng.IntN(100); {
	case p < 40:
		s.append()
	case p < 55:
		s.begin()
	case p < 65:
		s.beginSpan()
	case p < 82:
		s.settle(true)
	case p < 96:
		s.settle(false)
	case p < 98:
		if err := s.real.Compact(); err != nil { // invisible to the model
			s.t.Fatalf("Compact: %v", err)
		}
	default:
		s.reopen()
	}
	s.compareStats(i)
}

func (s *simulation) append() {
	recs := make([]buffer.Record, 1+s.rng.IntN(4))
	for i := range recs {
		s.n++
		size := s.rng.IntN(1200)
		if s.rng.IntN(50) == 0 {
			size = buffertest.Budget // refused: ErrTooBig
		}
		p := buffertest.Payload(s.n, size)
		if s.rng.IntN(3) == 0 { // compressible, like the agent's JSON
			p = append(fmt.Appendf(nil, "%d", s.n), bytes.Repeat([]byte(`{"point":"GT-101","quality":"good"}`), size/35+1)...)[:max(size, 8)]
		}
		recs[i] = buffer.Record{Lane: buffer.Lane(min(s.rng.IntN(5), 1)), Payload: p}
	}
	want, werr := s.model.Append(recs)
	got, gerr := s.real.Append(recs)
	s.diff("Append", want, got, werr, gerr)
}

func (s *simulation) begin() {
	max := s.rng.IntN(8)
	want, werr := s.model.Begin(max)
	got, gerr := s.real.Begin(max)
	s.diff("Begin", want, got, werr, gerr)
	for _, r := range want {
		if _, err := buffertest.DecodeGap(r.Payload); err == nil && r.Lane == buffer.LaneEvent {
			s.gaps++
		}
	}
	s.inflight = append(s.inflight, want...)
}

// beginSpan takes a random seq range of a random lane.
func (s *simulation) beginSpan() {
	sp := buffer.Span{Lane: buffer.Lane(s.rng.IntN(2))}
	next := s.model.Stats().Lanes[sp.Lane].NextSeq
	sp.From = s.rng.Uint64N(next + 1)
	if s.rng.IntN(2) == 0 {
		sp.To = sp.From + s.rng.Uint64N(10)
	}
	max := s.rng.IntN(8)
	want, werr := s.model.BeginSpan(max, sp)
	got, gerr := s.real.BeginSpan(max, sp)
	s.diff("BeginSpan", want, got, werr, gerr)
	s.inflight = append(s.inflight, want...)
}

// settle acks or nacks a random subset of what is in flight, and now and
// then a record that is not.
func (s *simulation) settle(ack bool) {
	s.rng.Shuffle(len(s.inflight), func(i, j int) { s.inflight[i], s.inflight[j] = s.inflight[j], s.inflight[i] })
	n := s.rng.IntN(len(s.inflight) + 1)
	recs := s.inflight[:n:n]
	if ack && s.rng.IntN(10) == 0 {
		recs = append(recs, buffer.Record{Lane: buffer.LaneData, Seq: 1 << 40})
	}
	if !ack {
		s.model.Nack(recs)
		s.real.Nack(recs)
		s.inflight = s.inflight[n:]
		return
	}
	werr, gerr := s.model.Ack(recs), s.real.Ack(recs)
	s.diff("Ack", nil, nil, werr, gerr)
	if werr == nil {
		s.inflight = s.inflight[n:]
	}
}

func (s *simulation) reopen() {
	if err := s.real.Close(); err != nil {
		s.t.Fatal(err)
	}
	s.real = openBolt(s.t, s.dir, s.opts)
	s.model.Restart()
	s.inflight = nil
	s.reopens++
}

func (s *simulation) diff(op string, want, got []buffer.Record, werr, gerr error) {
	s.t.Helper()
	if !errors.Is(gerr, werr) && !errors.Is(werr, gerr) {
		for _, sentinel := range []error{buffer.ErrTooBig, buffer.ErrUnknown} {
			if errors.Is(werr, sentinel) != errors.Is(gerr, sentinel) {
				s.t.Errorf("%s: model err %v, bolt err %v", op, werr, gerr)
			}
		}
	}
	if sameRecords(want, got) {
		return // cmp.Diff is slow on payloads; only ask it to explain a mismatch
	}
	if d := cmp.Diff(want, got, simOpts...); d != "" {
		s.t.Errorf("%s (-model +bolt):\n%s", op, d)
	}
}

func sameRecords(a, b []buffer.Record) bool {
	return slices.EqualFunc(a, b, func(x, y buffer.Record) bool {
		return x.Lane == y.Lane && x.Seq == y.Seq && x.Boot == y.Boot &&
			x.Created.Equal(y.Created) && bytes.Equal(x.Payload, y.Payload)
	})
}

func (s *simulation) compareStats(i int) {
	want, got := s.model.Stats(), s.real.Stats()
	if d := cmp.Diff(want.Lanes, got.Lanes); d != "" {
		s.t.Errorf("op %d: lane stats (-model +bolt):\n%s", i, d)
	}
}
