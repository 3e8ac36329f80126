package buffer

import "fmt"

// flight tracks records handed out by Begin and not yet settled. It lives
// in memory only: after a restart every stored record is pending again,
// which is what at-least-once delivery wants.
type flight struct {
	out  [numLanes]map[uint64]int64    // seq → stored size, as Stats counts it
	gone [numLanes]map[uint64]struct{} // evicted while out: Ack/Nack just forget them
	// acking: acked, deletion not committed yet (Options.AckDelay), with
	// each record's stored size. Not in flight any more (a second Ack is
	// refused), not handed out again, and not counted by Stats.
	acking [numLanes]map[uint64]int64
}

func newFlight() flight {
	var f flight
	f.reset()
	return f
}

func (f *flight) reset() {
	for l := range f.out {
		f.out[l] = map[uint64]int64{}
		f.gone[l] = map[uint64]struct{}{}
		f.acking[l] = map[uint64]int64{}
	}
}

func (f *flight) isOut(l Lane, seq uint64) bool {
	_, ok := f.out[l][seq]
	return ok
}

// busy says whether Begin must skip a record: in flight, or its deletion
// is waiting for a commit.
func (f *flight) busy(l Lane, seq uint64) bool {
	_, acking := f.acking[l][seq]
	return acking || f.isOut(l, seq)
}

// take marks a record in flight; size is its stored size (for deferred
// acks, which Stats stops counting before they commit).
func (f *flight) take(l Lane, seq uint64, size int64) { f.out[l][seq] = size }

// known says whether every record may be acked: in flight, or evicted
// while in flight.
func (f *flight) known(recs []Record) error {
	for _, r := range recs {
		if r.Lane >= numLanes {
			return fmt.Errorf("buffer: lane %d: %w", r.Lane, ErrBadLane)
		}
		_, gone := f.gone[r.Lane][r.Seq]
		if !gone && !f.isOut(r.Lane, r.Seq) {
			return fmt.Errorf("buffer: %s seq %d: %w", r.Lane, r.Seq, ErrUnknown)
		}
	}
	return nil
}

// forget settles records: nacked, or their ack committed.
func (f *flight) forget(recs []Record) {
	for _, r := range recs {
		if r.Lane < numLanes {
			delete(f.out[r.Lane], r.Seq)
			delete(f.gone[r.Lane], r.Seq)
			delete(f.acking[r.Lane], r.Seq)
		}
	}
}

// nack returns records in flight to pending; one whose ack is waiting for
// its commit stays acked.
func (f *flight) nack(recs []Record) {
	for _, r := range recs {
		if r.Lane < numLanes {
			delete(f.out[r.Lane], r.Seq)
			delete(f.gone[r.Lane], r.Seq)
		}
	}
}

// holdAck moves acked records out of flight until their deletion commits
// (one the budget evicted while out is not stored: it is just forgotten).
func (f *flight) holdAck(recs []Record) {
	for _, r := range recs {
		if n, ok := f.out[r.Lane][r.Seq]; ok {
			f.acking[r.Lane][r.Seq] = n
		}
		delete(f.out[r.Lane], r.Seq)
		delete(f.gone[r.Lane], r.Seq)
	}
}

// held is what a lane's acked records not yet deleted count.
func (f *flight) held(l Lane) (records int, bytes int64) {
	for _, n := range f.acking[l] {
		bytes += n
	}
	return len(f.acking[l]), bytes
}

// evicted notes that the budget deleted a record, so it is no longer
// counted in flight but a late Ack of it is still accepted.
func (f *flight) evicted(l Lane, seq uint64) {
	// Held acks commit first in the transaction of any append, so one is
	// not evicted while held; if it were, Stats must not subtract it twice.
	delete(f.acking[l], seq)
	if f.isOut(l, seq) {
		delete(f.out[l], seq)
		f.gone[l][seq] = struct{}{}
	}
}

func (f *flight) count(l Lane) int { return len(f.out[l]) }
