package agent

import (
	"time"

	"canary/agent/wire"
	"canary/buffer"
	"canary/drivers"
)

// Data records (one MQTT message each) are cut from a scan at about
// these sizes of compact body. bbolt packs what one commit appends well,
// but a leaf page that grows by one record per commit splits with only
// len-3 of its records kept: at 1,200-byte records a page ends half full,
// at 300 bytes nine tenths. So a scan small enough to be a handful of
// records (a commit each) is cut at smallDataBody; a large scan, whose
// commit appends its records together, at maxDataBody: about 450
// samples, 30 KB of JSON, a message. Two fill a page: 4.6 bytes a sample
// stored at 10,000 points (4.9 at 1,200 bytes, 7.0 at 2,400, 4.5 at
// 3,800: BenchmarkOutboxBytesPerSample). Fewer messages cost the agent
// less CPU a sample (the MQTT publish, the PUBACK, the outbox's
// per-record work): against 1,200 bytes, 4–10 % at 100 and 20 ms
// (tests/bench, paired; nothing measurable at 1 s). 3,800 bytes saved
// 16 %, but backfill, which counts records, then drained three times the
// bytes a second and the agent's RSS rose 23–28 % while draining (the
// target is 20 %). The forwarder bounds the bytes in flight as well
// (maxInflightBytes).
const (
	maxDataBody   = 1900
	smallDataBody = 300
	largeScan     = 2000 // reported samples from which a scan counts as large
)

// records makes a scan's outbox records, reusing its buffers from scan to
// scan: the outbox copies what it keeps.
type records struct {
	recs  []buffer.Record
	enc   wire.DataEncoder
	arena []byte // the scan's data bodies, back to back
	lens  []int  // their lengths
}

func (r *records) reset() {
	r.recs, r.arena, r.lens = r.recs[:0], r.arena[:0], r.lens[:0]
}

func (r *records) add(rec buffer.Record) { r.recs = append(r.recs, rec) }

// data appends the samples as compact data records (a sample is never
// split).
func (r *records) data(samples []*drivers.Sample, hist bool, boot string, now time.Time) {
	cut := maxDataBody
	if len(samples) < largeScan {
		cut = smallDataBody
	}
	r.enc.Split(samples, hist, cut, func(body []byte) {
		r.arena = append(r.arena, body...)
		r.lens = append(r.lens, len(body))
	})
	off := 0 // slice the arena only now: it may have moved while growing
	for _, n := range r.lens {
		r.recs = append(r.recs, buffer.Record{Lane: buffer.LaneData, Boot: boot, Created: now, Payload: r.arena[off : off+n : off+n]})
		off += n
	}
}

// hasCondition reports whether events change what status lists as
// active: alarms, interlocks, bypasses, detector faults.
func hasCondition(evs []wire.Event) bool {
	for i := range evs {
		switch evs[i].Type {
		case wire.TypeAlarm, wire.TypeInterlock, wire.TypeBypass, wire.TypeFault:
			return true
		}
	}
	return false
}
