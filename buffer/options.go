package buffer

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// RecordOverhead is what the budget charges for each record on top of its
// payload. It covers the 8-byte key, the value header (version, boot,
// created stamp: about 30 bytes for a typical boot id) and bbolt's 16-byte
// leaf element, rounded up so that MaxBytes stays an honest bound on the
// live data in the file.
const RecordOverhead = 64

// gapReason is Gap.Reason for evictions by the byte budget.
const gapReason = "budget"

var timeZero time.Time

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CompactMinSize == 0 {
		o.CompactMinSize = max(8<<20, o.MaxBytes/16)
	}
	if o.CompactInterval == 0 {
		o.CompactInterval = 10 * time.Minute
	}
	return o
}

// cost is what one record of n payload bytes charges against the budget.
func cost(n int) int64 { return int64(n) + RecordOverhead }

func (o Options) gapPayload(g Gap) []byte {
	if o.EncodeGap == nil {
		return nil
	}
	return o.EncodeGap(g)
}

// gapRecord is the event that tells the platform what the budget dropped.
func (o Options) gapRecord(g Gap) (Record, stored) {
	r := Record{Lane: LaneEvent, Boot: o.Boot, Created: millis(o.Now()), Payload: o.gapPayload(g)}
	return r, compress(r.Payload, o.Compress)
}

// maxGapCost bounds the cost of any gap record, so Append can refuse a
// batch up front instead of discovering mid-transaction that even an empty
// outbox cannot hold it plus the gap that emptying it would produce.
func (o Options) maxGapCost() int64 {
	g := Gap{Lane: LaneData, FromSeq: math.MaxUint64, ToSeq: math.MaxUint64, Records: math.MaxInt, Reason: gapReason}
	return cost(len(o.gapPayload(g)))
}

// prepare validates a batch before it is queued (known lanes, a total
// that fits the budget with room for one gap record), stamps it and makes
// the stored form of each payload. It runs on the caller's goroutine, so
// concurrent Appends compress in parallel.
func (o Options) prepare(recs []Record) ([]Record, []stored, int64, error) {
	for _, r := range recs {
		if r.Lane >= numLanes {
			return nil, nil, 0, fmt.Errorf("buffer: lane %d: %w", r.Lane, ErrBadLane)
		}
	}
	recs = o.stamp(recs)
	st := make([]stored, len(recs))
	for i, r := range recs {
		st[i] = compress(r.Payload, o.Compress)
	}
	need, err := o.check(st)
	return recs, st, need, err
}

// check sums what a batch charges and refuses one that cannot fit.
func (o Options) check(st []stored) (need int64, err error) {
	for _, s := range st {
		need += cost(len(s.body))
	}
	recs := st
	if o.MaxBytes > 0 && need+o.maxGapCost() > o.MaxBytes {
		return 0, fmt.Errorf("buffer: batch of %d records needs %d bytes, budget %d: %w", len(recs), need, o.MaxBytes, ErrTooBig)
	}
	return need, nil
}

// stamp fills Boot and Created the way Append promises and copies the
// payload, so the caller may reuse its buffers once Append returns.
func (o Options) stamp(recs []Record) []Record {
	out := make([]Record, len(recs))
	now := millis(o.Now())
	for i, r := range recs {
		if r.Boot == "" {
			r.Boot = o.Boot
		}
		if r.Created.IsZero() {
			r.Created = now
		}
		r.Created = millis(r.Created)
		r.Payload = clone(r.Payload)
		out[i] = r
	}
	return out
}

// millis drops what the stored form cannot keep, so a record reads back
// equal to what Append returned.
func millis(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()) }

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// maxFileSize is bbolt's MaxSize for a budget: generous enough for
// half-full pages and copy-on-write during a commit (4x) plus the fixed
// cost of an almost empty file, so eviction, not ErrMaxSizeReached, is what
// normally bounds the file. On 32-bit platforms it never exceeds 1 GiB;
// config accepts budgets of at most 512 MiB there, so the cap still leaves
// the file twice the budget.
func maxFileSize(budget int64) int {
	if budget <= 0 {
		return 0
	}
	v := 4*budget + 32<<20
	if strconv.IntSize == 32 {
		v = min(v, 1<<30) // the whole file is mmapped: leave address space
	}
	if v > math.MaxInt || v < 0 {
		return math.MaxInt
	}
	return int(v)
}
