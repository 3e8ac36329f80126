package buffer

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds how many queued requests share one commit, so one
// transaction (and the memory it dirties) stays bounded.
const maxGroup = 256

// fillPercent is how full bbolt packs a page before splitting it.
const fillPercent = 0.95

// request is one Append or Ack waiting for the writer.
type request struct {
	appends []Record
	stored  []stored // stored form of each of appends
	need    int64
	acks    []Record
	compact bool // a Compact call: runs alone, after the batch it came in
	// deferred: an Ack that did not wait (Options.AckDelay); the writer
	// holds it for the next commit, and nobody reads its reply.
	deferred bool
	reply    chan result

	out []Record // appends with seqs, set inside the transaction
}

type result struct {
	recs []Record
	err  error
}

// maxHeldAcks bounds the records of deferred acks the writer holds: a
// draining backlog is acked thousands of records a second, and one
// transaction deleting them all would dirty megabytes of pages at once.
const maxHeldAcks = 512

// run is the writer goroutine: it gathers everything queued into one
// transaction. Deferred acks wait for the next commit, at most
// Options.AckDelay. It exits when Close has closed reqs and the queue is
// empty, after committing the acks it holds.
func (b *Bolt) run() {
	defer close(b.done)
	var held []*request // deferred acks
	heldRecs := 0
	var due <-chan time.Time
	for {
		var r *request
		select {
		case q, ok := <-b.reqs:
			if !ok {
				if len(held) > 0 {
					b.commit(held)
				}
				return
			}
			r = q
		case <-due:
		}
		var batch, compacts []*request
		if r != nil {
			for _, q := range b.gather(r) {
				switch {
				case q.compact:
					compacts = append(compacts, q)
				case q.deferred:
					held = append(held, q)
					heldRecs += len(q.acks)
				default:
					batch = append(batch, q)
				}
			}
		}
		switch {
		case len(held) == 0:
		case r == nil || len(batch) > 0 || len(compacts) > 0 || heldRecs >= maxHeldAcks || len(held) >= maxGroup:
			// acks first: what they free counts for the appends' budget
			batch = append(held, batch...)
			held, heldRecs, due = nil, 0, nil
		case due == nil:
			due = time.After(b.opts.AckDelay)
		}
		if len(batch) > 0 {
			b.commit(batch)
			b.dropReadPages()
		}
		for _, q := range compacts {
			q.reply <- result{err: b.compact()}
		}
		if len(compacts) == 0 && b.wantCompact() {
			b.compact() // a failure leaves the old file in use; Stats shows the size
		}
	}
}

// dropPagesEvery is the least time between two dropMapped calls by the
// writer: often enough that the pages commits map do not pile up in the
// agent's RSS, rarely enough that the pages every commit touches are
// faulted in again only once a second. Reads drop what they map by
// volume (dropAfterRead).
const dropPagesEvery = time.Second

// dropAfterRead is how many stored bytes Begin reads between two
// dropMapped calls of its own: a drain of a 5-minute outage at 10,000
// points (3 M samples, about 14 MB at the 4.6 bytes a sample measured)
// reads 1 MB a second at 500 records a second, and the writer's drops,
// once a second at most and only after a commit, left up to 3 MB mapped in
// the agent's RSS (/proc/PID/smaps in the bench's outage, with records
// twice as large).
const dropAfterRead = 256 << 10

// dropReadPages drops the file pages mapped since the last drop, by
// commits and by reads alike, at most every dropPagesEvery (Begin drops
// its own reads by volume as well).
func (b *Bolt) dropReadPages() {
	now := b.opts.Now()
	if now.Sub(b.lastDrop) < dropPagesEvery {
		return
	}
	b.lastDrop = now
	// An error (EINVAL could only come from a bad address, and the
	// address is bbolt's own page-aligned mapping) would leave the pages
	// mapped: RSS, never data, so there is nothing to report.
	_ = dropMapped(b.db)
}

func (b *Bolt) gather(first *request) []*request {
	batch := []*request{first}
	for len(batch) < maxGroup {
		select {
		case r, ok := <-b.reqs:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// commit runs a batch in one transaction. If that fails, each request is
// retried alone so one bad request cannot fail its neighbours.
func (b *Bolt) commit(batch []*request) {
	err := b.try(batch)
	if err == nil {
		return
	}
	if len(batch) == 1 {
		b.fail(batch[0], err)
		return
	}
	for _, r := range batch {
		if err := b.try([]*request{r}); err != nil {
			b.fail(r, err)
		}
	}
}

// fail answers a request whose commit failed. A deferred ack's caller
// has gone: the next Ack reports the error, and its records go back to
// pending, to be sent (and acked) again rather than stuck unsendable.
func (b *Bolt) fail(r *request, err error) {
	if r.deferred {
		b.mu.Lock()
		b.ackErr = err
		b.flight.forget(r.acks)
		b.mu.Unlock()
		signal(b.notify)
	}
	r.reply <- result{err: err}
}

// try commits a batch and, only once the commit is durable, publishes the
// new counters and answers every caller.
func (b *Bolt) try(batch []*request) error {
	if b.broken != nil {
		return b.broken
	}
	var t *txn
	err := b.db.Update(func(tx *bolt.Tx) error {
		t = b.newTxn(tx)
		for _, r := range batch {
			if err := t.apply(r); err != nil {
				return err
			}
		}
		return t.finish()
	})
	if err != nil {
		return fmt.Errorf("buffer: commit: %w", err)
	}
	b.publish(t, batch)
	for _, r := range batch {
		if len(r.appends) > 0 { // before replying: a caller may check Notify as soon as Append returns
			signal(b.notify)
			break
		}
	}
	for _, r := range batch {
		r.reply <- result{recs: r.out}
	}
	return nil
}

func (b *Bolt) publish(t *txn, batch []*request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state, b.retained = t.st, t.rt
	b.metaNext = t.metaNext
	b.size = t.size
	b.commits++
	for _, e := range t.evicted {
		b.flight.evicted(e.lane, e.seq)
	}
	for _, r := range batch {
		b.flight.forget(r.acks)
	}
}

// txn is one write transaction with a private copy of the counters, so a
// rolled-back commit leaves the published ones untouched.
type txn struct {
	tx      *bolt.Tx
	opts    *Options
	buckets [numLanes]*bolt.Bucket
	keep    [numLanes]*bolt.Bucket // retained records
	st      [numLanes]laneState
	rt      [numLanes]laneState
	evicted []laneSeq

	metaNext [numLanes]uint64 // next seqs as stored in meta
	size     int64
}

type laneSeq struct {
	lane Lane
	seq  uint64
}

func (b *Bolt) newTxn(tx *bolt.Tx) *txn {
	b.mu.Lock()
	t := &txn{tx: tx, opts: &b.opts, st: b.state, rt: b.retained, metaNext: b.metaNext}
	b.mu.Unlock()
	for _, l := range Lanes {
		t.buckets[l] = tx.Bucket(laneBucket(l))
		t.keep[l] = tx.Bucket(retainBucket(l))
		// Keys only ever grow (seqs), so split pages full instead of in
		// half: bbolt's default 50% leaves the file twice the data.
		t.buckets[l].FillPercent = fillPercent
		t.keep[l].FillPercent = fillPercent
	}
	return t
}

func (t *txn) apply(r *request) error {
	for _, a := range r.acks {
		if err := t.ack(a); err != nil {
			return err
		}
	}
	if len(r.appends) == 0 {
		return nil
	}
	if err := t.dropRetained(r.need); err != nil {
		return err
	}
	if err := makeRoom(t, t.opts, r.need); err != nil {
		return err
	}
	r.out = make([]Record, len(r.appends))
	for i, rec := range r.appends {
		var err error
		if r.out[i], err = t.put(rec, r.stored[i]); err != nil {
			return err
		}
	}
	return nil
}

// ack deletes a record if it is still there (the budget may have taken
// it), or moves it to retention.
func (t *txn) ack(r Record) error {
	k := encodeKey(r.Seq)
	v := t.buckets[r.Lane].Get(k)
	if v == nil {
		return nil
	}
	n, err := storedLen(v)
	if err != nil {
		return err
	}
	t.st[r.Lane].depth--
	t.st[r.Lane].bytes -= n
	if t.opts.Retain > 0 {
		rt := &t.rt[r.Lane]
		rt.depth++
		rt.bytes += n
		if err := t.keep[r.Lane].Put(k, clone(v)); err != nil {
			return err
		}
	}
	return t.buckets[r.Lane].Delete(k)
}

// finish persists the next seqs and refreshes what Stats reports.
func (t *txn) finish() error {
	meta := t.tx.Bucket(metaBucket)
	for _, l := range Lanes {
		if t.st[l].next != t.metaNext[l] { // only when it moved: an unchanged key would still dirty a page
			if err := meta.Put(nextKey(l), encodeKey(t.st[l].next)); err != nil {
				return err
			}
			t.metaNext[l] = t.st[l].next
		}
		if err := t.expire(l); err != nil {
			return err
		}
		var err error
		if t.st[l].oldest, err = firstCreated(t.buckets[l]); err != nil {
			return err
		}
		if t.rt[l].oldest, err = firstCreated(t.keep[l]); err != nil {
			return err
		}
	}
	t.size = t.tx.Size()
	return nil
}

func firstCreated(bk *bolt.Bucket) (time.Time, error) {
	k, v := bk.Cursor().First()
	if k == nil {
		return timeZero, nil
	}
	d, err := decodeValue(v)
	return d.created, err
}

// laneStore for makeRoom.

func (t *txn) used() int64 {
	var n int64
	for l := range t.st {
		n += t.st[l].bytes + int64(t.st[l].depth)*RecordOverhead
		n += t.rt[l].bytes + int64(t.rt[l].depth)*RecordOverhead
	}
	return n
}

func (t *txn) oldest(l Lane) (uint64, int64, bool, error) {
	k, v := t.buckets[l].Cursor().First()
	if k == nil {
		return 0, 0, false, nil
	}
	seq, err := decodeKey(k)
	if err != nil {
		return 0, 0, false, err
	}
	n, err := storedLen(v)
	return seq, n, err == nil, err
}

func (t *txn) evict(l Lane, seq uint64, size int64) error {
	t.st[l].depth--
	t.st[l].bytes -= size
	t.st[l].dropped++
	t.evicted = append(t.evicted, laneSeq{l, seq})
	return t.buckets[l].Delete(encodeKey(seq))
}

func (t *txn) put(r Record, s stored) (Record, error) {
	st := &t.st[r.Lane]
	r.Seq = st.next
	st.next++
	st.depth++
	st.bytes += int64(len(s.body))
	return r, t.buckets[r.Lane].Put(encodeKey(r.Seq), encodeValue(r, s))
}
