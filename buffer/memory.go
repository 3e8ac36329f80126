package buffer

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
)

// Memory is an Outbox that keeps everything in memory. It is the reference
// model for the conformance suite and the simulation test, and a stand-in
// for tests of code that uses an Outbox. Nothing survives the process.
type Memory struct {
	opts   Options
	notify chan struct{}

	mu     sync.Mutex
	closed bool
	lanes  [numLanes]memLane
	total  int64 // budget charge of everything stored
	flight flight
}

type memLane struct {
	recs    []Record // seq order
	sizes   []int64  // stored size of each of recs
	bytes   int64
	next    uint64
	dropped uint64
}

var _ Outbox = (*Memory)(nil)

// NewMemory returns an empty in-memory outbox; seqs start at 1.
func NewMemory(opts Options) *Memory {
	m := &Memory{opts: opts.withDefaults(), notify: make(chan struct{}, 1), flight: newFlight()}
	for l := range m.lanes {
		m.lanes[l].next = max(1, opts.SeqFloor)
	}
	return m
}

// Append stores recs and returns them with Seq, Boot and Created set.
func (m *Memory) Append(recs []Record) ([]Record, error) {
	if len(recs) == 0 {
		return nil, m.alive()
	}
	recs, st, need, err := m.opts.prepare(recs)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if err := makeRoom(m, &m.opts, need); err != nil {
		return nil, err
	}
	for i := range recs {
		recs[i], _ = m.put(recs[i], st[i])
	}
	signal(m.notify)
	return cloneRecords(recs), nil
}

// Begin hands out up to max of the oldest records not in flight.
func (m *Memory) Begin(max int) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	var out []Record
	for _, l := range Lanes {
		out = m.pending(out, max, Span{Lane: l})
	}
	return out, nil
}

// BeginSpan hands out up to max of the oldest records of a span.
func (m *Memory) BeginSpan(max int, s Span) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if s.Lane >= numLanes {
		return nil, fmt.Errorf("buffer: lane %d: %w", s.Lane, ErrBadLane)
	}
	return m.pending(nil, max, s), nil
}

func (m *Memory) pending(out []Record, max int, s Span) []Record {
	recs := m.lanes[s.Lane].recs
	i, _ := slices.BinarySearchFunc(recs, s.From, func(r Record, q uint64) int { return cmp.Compare(r.Seq, q) })
	for _, r := range recs[i:] {
		if len(out) >= max || !s.has(r.Seq) {
			return out
		}
		if !m.flight.isOut(s.Lane, r.Seq) {
			m.flight.take(s.Lane, r.Seq, 0) // Memory acks at once: the size is never needed
			out = append(out, cloneRecord(r))
		}
	}
	return out
}

// Ack deletes in-flight records; records the budget already evicted are
// accepted and ignored.
func (m *Memory) Ack(recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if err := m.flight.known(recs); err != nil {
		return err
	}
	var drop [numLanes]map[uint64]bool
	for _, r := range recs {
		if drop[r.Lane] == nil {
			drop[r.Lane] = map[uint64]bool{}
		}
		drop[r.Lane][r.Seq] = true
	}
	for l := range m.lanes {
		if drop[l] != nil {
			m.remove(Lane(l), drop[l])
		}
	}
	m.flight.forget(recs)
	return nil
}

// remove deletes the records of lane l whose seq is in drop, in one pass.
func (m *Memory) remove(l Lane, drop map[uint64]bool) {
	ml := &m.lanes[l]
	kept, sizes := ml.recs[:0], ml.sizes[:0]
	for i, r := range ml.recs {
		if drop[r.Seq] {
			m.uncharge(ml, ml.sizes[i])
			continue
		}
		kept, sizes = append(kept, r), append(sizes, ml.sizes[i])
	}
	clear(ml.recs[len(kept):])
	ml.recs, ml.sizes = kept, sizes
}

func (m *Memory) uncharge(ml *memLane, n int64) {
	ml.bytes -= n
	m.total -= cost(int(n))
}

// Nack returns records to pending; unknown ones are ignored.
func (m *Memory) Nack(recs []Record) {
	m.mu.Lock()
	m.flight.forget(recs)
	m.mu.Unlock()
	signal(m.notify)
}

// Stats reports depths and budget use; Bytes is the total budget charge.
func (m *Memory) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Stats{MaxBytes: m.opts.MaxBytes, Bytes: m.total}
	for l, ml := range m.lanes {
		ls := LaneStats{Depth: len(ml.recs), Bytes: ml.bytes, NextSeq: ml.next, Dropped: ml.dropped, Inflight: m.flight.count(Lane(l))}
		if len(ml.recs) > 0 {
			ls.Oldest = ml.recs[0].Created
		}
		s.Lanes[l] = ls
	}
	return s
}

// Notify is signalled after each Append and Nack.
func (m *Memory) Notify() <-chan struct{} { return m.notify }

// Close makes every later call fail with ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.closed = true
	return nil
}

func (m *Memory) alive() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

// restart forgets what is in flight, as reopening a durable outbox would.
func (m *Memory) restart() {
	m.mu.Lock()
	m.flight.reset()
	for l := range m.lanes {
		m.lanes[l].dropped = 0
	}
	m.mu.Unlock()
}

// laneStore, called with mu held.

func (m *Memory) used() int64 { return m.total }

func (m *Memory) oldest(l Lane) (uint64, int64, bool, error) {
	if len(m.lanes[l].recs) == 0 {
		return 0, 0, false, nil
	}
	return m.lanes[l].recs[0].Seq, m.lanes[l].sizes[0], true, nil
}

func (m *Memory) evict(l Lane, seq uint64, size int64) error {
	ml := &m.lanes[l]
	ml.recs[0] = Record{}
	ml.recs, ml.sizes = ml.recs[1:], ml.sizes[1:]
	m.uncharge(ml, size)
	ml.dropped++
	m.flight.evicted(l, seq)
	return nil
}

func (m *Memory) put(r Record, s stored) (Record, error) {
	ml := &m.lanes[r.Lane]
	r.Seq = ml.next
	ml.next++
	ml.recs = append(ml.recs, r)
	ml.sizes = append(ml.sizes, int64(len(s.body)))
	ml.bytes += int64(len(s.body))
	m.total += cost(len(s.body))
	return r, nil
}

// signal wakes a waiting forwarder without ever blocking the caller.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func cloneRecord(r Record) Record {
	r.Payload = clone(r.Payload)
	return r
}

func cloneRecords(recs []Record) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		out[i] = cloneRecord(r)
	}
	return out
}
