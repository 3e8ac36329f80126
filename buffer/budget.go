package buffer

// laneStore is what the eviction policy needs from a storage. Both
// implementations run the same policy so they cannot drift apart on what
// "oldest first" and "one gap per run" mean.
type laneStore interface {
	used() int64
	oldest(l Lane) (seq uint64, size int64, ok bool, err error)
	evict(l Lane, seq uint64, size int64) error
	put(r Record) (Record, error)
}

// makeRoom evicts until need more bytes fit the budget: data first, oldest
// first, then events only if data alone could not make room. Each lane's
// run ends with one gap record on the event lane.
func makeRoom(s laneStore, o *Options, need int64) error {
	if o.MaxBytes <= 0 {
		return nil
	}
	for _, l := range []Lane{LaneData, LaneEvent} {
		if err := evictRun(s, o, l, need); err != nil {
			return err
		}
	}
	return nil
}

// evictRun evicts from one lane while need plus the gap record that will
// describe the run do not fit.
func evictRun(s laneStore, o *Options, l Lane, need int64) error {
	var g *Gap
	var gapCost int64
	for s.used()+need+gapCost > o.MaxBytes {
		seq, size, ok, err := s.oldest(l)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if err := s.evict(l, seq, size); err != nil {
			return err
		}
		if g == nil {
			g = &Gap{Lane: l, FromSeq: seq, Reason: gapReason}
		}
		g.ToSeq = seq
		g.Records++
		gapCost = cost(len(o.gapPayload(*g)))
	}
	if g == nil {
		return nil
	}
	_, err := s.put(o.gapRecord(*g))
	return err
}
