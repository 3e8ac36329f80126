// Package buffer is Canary's outbox: the durable store every record passes
// through between the point pipeline and the MQTT sink. The outbox is the
// truth (DESIGN.md principle 3): a record is eligible to send only once it
// is on disk, and it is deleted only after the broker acknowledged it.
//
// # Implementations
//
// Bolt keeps records in a bbolt file and is what the agent runs. Memory
// keeps them in memory; it is the reference model the simulation test
// compares Bolt against, and a stand-in for tests of code that uses an
// Outbox. Both pass the conformance suite in package buffertest.
//
// # Durability
//
// Append returns only after the transaction holding its records has been
// committed and fsynced (bbolt is never run with NoSync). Concurrent Append
// and Ack calls are committed together by a single writer goroutine (group
// commit), so under load many callers share one fsync; each caller is
// answered after the commit that holds its request. A crash (kill -9,
// power cut) loses nothing whose Append returned; an Ack that did not
// return may or may not have happened, which at-least-once delivery
// tolerates.
//
// # Seqs and lanes
//
// Every record gets a seq from its lane's counter: 1, 2, 3, ... in Append
// order (from Options.SeqFloor, when set). The next seq of each lane is persisted in the same transaction as
// the records, so seqs never repeat, even after every record was acked and
// the process restarted. Together with Boot, (lane, seq) lets the platform
// drop duplicates and detect holes.
//
// There are two lanes: LaneEvent (alarms, interlock changes, comm loss,
// gap records) and LaneData (routine telemetry). Begin drains the event
// lane before the data lane, oldest first within a lane. BeginSpan hands
// out one lane's records within a seq range, which is how the forwarder
// sends data appended since it connected ahead of the backlog.
//
// # Storage
//
// A stored value is version, flags, boot, created stamp and the payload.
// With Options.Compress the payload is DEFLATE-compressed with a preset
// dictionary of Canary's JSON whenever that is smaller; Begin inflates it,
// so callers always see the payload they appended. The budget, eviction and
// LaneStats.Bytes count stored bytes. Version 1 values (no flags, never
// compressed) are still read. The agent no longer compresses: its data
// payloads are compact binary bodies already (agent/wire), so
// Options.Compress stays for the records older agents wrote and for
// callers with JSON payloads.
//
// After OpenOrReset replaced a damaged file, the fresh file's seqs start
// at Options.SeqFloor (the Unix time in ms) so that none repeats the lost
// file's.
//
// # In flight
//
// Begin hands out the oldest records that are not in flight and marks them
// in flight; a record is never handed out twice while in flight. Ack
// deletes records (in a write transaction, batched with other writes);
// Ack of a record that is not in flight fails with ErrUnknown and changes
// nothing. Nack puts records back: being the oldest, they come out first
// again, in seq order. In-flight state lives in memory only: after
// reopening, everything stored is pending again.
//
// With Options.AckDelay (the agent: 2 s) Ack returns once the records are
// out of flight and queued for deletion; the writer deletes them in the
// next transaction it commits for another reason (usually the next scan's
// Append), at latest AckDelay later, once 512 records wait, or at Close;
// Flush commits them at once. Until then Begin skips them and Stats no
// longer counts them in Depth and Bytes (what is still to deliver; Oldest
// is zero once nothing else is stored, else it may name one of them until
// their deletion commits); a crash leaves them stored and pending, as
// for records in flight. If their deletion fails, the next Ack returns the
// error and they are pending again.
//
// # Budget, eviction and gaps
//
// Options.MaxBytes bounds the payload bytes stored plus RecordOverhead (64
// bytes) per record. When an Append would exceed it, the same transaction
// evicts the oldest data records, in flight or not, until the new records
// fit with MaxBytes/EvictSlack (about 3%) to spare, and appends one gap
// record to the event lane, whose payload is Options.EncodeGap of a Gap
// naming the lane, the first and last seq evicted and their count. The
// slack keeps a full outbox from writing one gap record per Append, which
// over a long outage would fill the event lane with gaps. Events are
// evicted the same way only when events alone exceed the budget; gap
// records are events, so in that extreme case a gap record can itself be
// evicted and covered by a later gap (the platform still sees the hole in
// seqs). An Ack of a record evicted while in flight succeeds and does
// nothing. A batch that could not fit even in an empty outbox fails with
// ErrTooBig.
//
// Stats is O(1): depth, bytes and oldest stamp per lane are counters
// computed by one scan at open and maintained by the writer.
//
// # Retention
//
// With Options.Retain (Bolt only), Ack moves records to a per-lane
// retained bucket instead of deleting them. Retained records count against
// MaxBytes and are evicted first, oldest first, before anything unsent,
// without a gap record; those older than Retain are deleted a bounded
// number per commit. Inspect and Walk read them (and the queued ones)
// from a file the agent is not using.
//
// # Compaction
//
// Compact (and the writer by itself: file over Options.CompactMinSize and
// more than twice the live data, at most once per CompactInterval) copies
// the live records into path.compact, fsyncs it, renames it over the file,
// fsyncs the directory and reopens. It runs on the writer goroutine, so
// Appends and Acks wait in its queue; Begin and Stats use the old file
// until the swap, which happens under mu. A crash leaves the old file or
// the complete new one; OpenBolt removes a stale copy.
//
// # Locks
//
// Bolt has two mutexes, always taken in this order: closeMu (shared by
// every call that uses the file or the request queue, exclusive in Close)
// and mu (the counters and the in-flight set). The writer goroutine takes
// only mu, and only after a commit, to publish the new counters; Begin
// holds mu across its read transaction so a concurrent eviction is either
// visible in its snapshot or applied after Begin marked the records in
// flight. No lock is held while a caller waits for its commit.
//
// # Caveats
//
//   - The file never shrinks by itself: bbolt reuses freed pages but does
//     not return them to the file system. Compaction (above) does.
//   - bbolt maps the whole file into memory. On 32-bit ARM the address
//     space is 2-3 GiB, so keep MaxBytes well under 1 GiB (256 MiB is the
//     default). The file is capped at 4*MaxBytes+32 MiB, and at 1 GiB on
//     32-bit platforms (bbolt MaxSize);
//     hitting that cap makes Append fail rather than grow further.
//   - Opening scans every record to rebuild the counters: time grows with
//     the amount stored.
//   - A file that is not a valid outbox fails OpenBolt with an error
//     wrapping ErrCorrupt; OpenOrReset checks the file first and moves a
//     damaged one aside (path.corrupt-<time>) before starting empty. A file
//     held by another process fails with ErrLocked after LockTimeout.
//   - The freelist is not written at each commit (NoFreelistSync): one page
//     less per commit, for a scan of the file at open.
package buffer
