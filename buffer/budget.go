package buffer

// EvictSlack: once the budget is exceeded, eviction frees 1/EvictSlack of
// MaxBytes more than strictly needed.
const EvictSlack = 32

// laneStore is what the eviction policy needs from a storage. Both
// implementations run the same policy so they cannot drift apart on what
// "oldest first" and "one gap per run" mean.
type laneStore interface {
	used() int64
	oldest(l Lane) (seq uint64, size int64, ok bool, err error)
	evict(l Lane, seq uint64, size int64) error
	put(r Record, s stored) (Record, error)
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

// evictRun evicts from one lane, if need does not fit, until need and the
// gap record describing the run fit with Slack to spare. The slack is
// there so that a full outbox does not write one gap record per Append:
// during a long outage those would crowd the event lane and, in the end,
// push out real alarms.
func evictRun(s laneStore, o *Options, l Lane, need int64) error {
	if s.used()+need <= o.MaxBytes {
		return nil
	}
	limit := o.MaxBytes - o.MaxBytes/EvictSlack
	var g *Gap
	var gapCost int64
	for s.used()+need+gapCost > limit {
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
