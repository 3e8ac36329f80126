package agent

import (
	"time"

	"canary/agent/wire"
	"canary/buffer"
	"canary/drivers"
)

// maxDataBody bounds the compact body of one data record (one MQTT
// message). Three such records fill a 4 KiB bbolt page (95 % full), where
// larger ones would leave a page a third empty or spill into overflow
// pages; and it keeps a message at a few hundred samples (about 20 KB of
// JSON), so memory in flight stays small at 10,000 points.
const maxDataBody = 1200

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

// data appends the samples as compact data records of at most
// maxDataBody bytes each (a sample is never split).
func (r *records) data(samples []drivers.Sample, hist bool, boot string, now time.Time) {
	r.enc.Split(samples, hist, maxDataBody, func(body []byte) {
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
