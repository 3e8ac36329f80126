package buffer

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// LockTimeout is how long OpenBolt waits for the file lock before failing
// with ErrLocked: a second agent on the same file must fail fast, not hang.
const LockTimeout = time.Second

var metaBucket = []byte("meta")

func laneBucket(l Lane) []byte { return []byte(l.String()) }

// retainBucket holds a lane's acknowledged records kept for audit, under
// the same keys.
func retainBucket(l Lane) []byte { return []byte("retain." + l.String()) }

// nextKey is the meta key holding a lane's next seq; it outlives the
// records so seqs never repeat after everything was acked.
func nextKey(l Lane) []byte { return []byte("next." + l.String()) }

// Bolt is the durable Outbox on a bbolt file. Reads (Begin, Stats) run
// concurrently; every write goes through one writer goroutine that commits
// whatever is queued in one transaction and one fsync.
type Bolt struct {
	db     *bolt.DB // replaced by compaction, under mu
	path   string
	opts   Options
	notify chan struct{}
	reqs   chan *request
	done   chan struct{} // closed when the writer has exited

	closeMu sync.RWMutex // held shared while using db or reqs; exclusive by Close
	closed  bool

	mu          sync.Mutex // guards the fields below; taken after closeMu
	state       [numLanes]laneState
	retained    [numLanes]laneState
	size        int64 // file size after the last commit
	flight      flight
	compactions uint64
	commits     uint64

	// writer goroutine only
	metaNext    [numLanes]uint64 // next seqs as stored in the meta bucket
	lastCompact time.Time
	lastDrop    time.Time
	readBytes   int64 // guarded by mu: stored bytes read by Begin since its last dropMapped
	dropAfter   int64 // guarded by mu: dropAfterRead; tests change it
	broken      error // the file could not be reopened after compaction

	ackErr error // guarded by mu: a deferred ack's failure, for the next Ack
}

// laneState is the committed picture of one lane that Stats reports
// without touching the file.
type laneState struct {
	depth   int
	bytes   int64
	next    uint64
	dropped uint64
	oldest  time.Time
}

var _ Outbox = (*Bolt)(nil)

func (o Options) bolt() *bolt.Options {
	return &bolt.Options{
		Timeout:      LockTimeout,
		MaxSize:      maxFileSize(o.MaxBytes),
		FreelistType: bolt.FreelistMapType, // FIFO deletes free pages all the time
		// The freelist is rebuilt by a scan at open instead of written at
		// every commit: one to several pages less per commit (flash wear),
		// for a scan of the page headers at open.
		NoFreelistSync: true,
	}
}

// OpenBolt opens or creates the outbox file at path. Everything stored is
// pending again: nothing is in flight after open. A file that is not a
// valid outbox gives an error wrapping ErrCorrupt; a file held by another
// process gives ErrLocked after LockTimeout.
func OpenBolt(path string, opts Options) (*Bolt, error) {
	opts = opts.withDefaults()
	db, err := bolt.Open(path, 0o600, opts.bolt())
	if err != nil {
		return nil, openError(path, err)
	}
	os.Remove(compactPath(path)) // a compaction the last process did not finish
	b := &Bolt{
		db:          db,
		path:        path,
		opts:        opts,
		notify:      make(chan struct{}, 1),
		reqs:        make(chan *request, maxGroup),
		done:        make(chan struct{}),
		flight:      newFlight(),
		lastCompact: opts.Now(),
		dropAfter:   dropAfterRead,
	}
	if err := b.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("buffer: open %s: %w", path, err)
	}
	go b.run()
	return b, nil
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("buffer: open %s: %w", path, ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return fmt.Errorf("buffer: open %s: %w: %w", path, ErrCorrupt, err)
	}
	return fmt.Errorf("buffer: open %s: %w", path, err)
}

// load creates the buckets and computes the counters by one scan, so that
// Stats is O(1) afterwards. A panic from bbolt on a damaged page becomes
// ErrCorrupt.
func (b *Bolt) load() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("buffer: scan: %v: %w", r, ErrCorrupt)
		}
	}()
	return b.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		for _, l := range Lanes {
			if b.state[l], err = loadLane(tx, laneBucket(l), l); err != nil {
				return err
			}
			if v := meta.Get(nextKey(l)); v != nil {
				next, err := decodeKey(v)
				if err != nil {
					return err
				}
				b.state[l].next = max(b.state[l].next, next) // a meta entry behind the data must not reuse seqs
				b.metaNext[l] = next
			}
			b.state[l].next = max(b.state[l].next, b.opts.SeqFloor) // persisted by the next commit
			if b.retained[l], err = loadLane(tx, retainBucket(l), l); err != nil {
				return err
			}
		}
		b.size = tx.Size()
		return nil
	})
}

func loadLane(tx *bolt.Tx, name []byte, l Lane) (laneState, error) {
	st := laneState{next: 1}
	bk, err := tx.CreateBucketIfNotExists(name)
	if err != nil {
		return st, err
	}
	err = bk.ForEach(func(k, v []byte) error {
		seq, err := decodeKey(k)
		if err != nil {
			return err
		}
		d, err := decodeValue(v)
		if err != nil {
			return fmt.Errorf("%s seq %d: %w", l, seq, err)
		}
		if st.depth == 0 {
			st.oldest = d.created
		}
		st.depth++
		st.bytes += int64(len(d.body))
		st.next = max(st.next, seq+1)
		return nil
	})
	return st, err
}

// Append makes recs durable and returns them with Seq, Boot and Created
// set. It returns after the commit that holds them.
func (b *Bolt) Append(recs []Record) ([]Record, error) {
	if len(recs) == 0 {
		return nil, b.alive()
	}
	recs, st, need, err := b.opts.prepare(recs)
	if err != nil {
		return nil, err
	}
	return b.submit(&request{appends: recs, stored: st, need: need})
}

// Ack deletes in-flight records in a write transaction (or, with
// Options.Retain, moves them to retention). Records the budget evicted
// while in flight are accepted and ignored.
func (b *Bolt) Ack(recs []Record) error {
	if b.opts.AckDelay > 0 {
		return b.deferAck(recs)
	}
	if err := b.alive(); err != nil {
		return err
	}
	b.mu.Lock()
	err := b.flight.known(recs)
	b.mu.Unlock()
	if err != nil || len(recs) == 0 {
		return err
	}
	_, err = b.submit(&request{acks: recs})
	return err
}

// deferAck queues the deletion of recs without waiting for its commit
// (Options.AckDelay). It keeps lane and seq only: the caller may reuse
// recs, and the payloads need not stay in memory.
func (b *Bolt) deferAck(recs []Record) error {
	acks := make([]Record, len(recs))
	for i, r := range recs {
		acks[i] = Record{Lane: r.Lane, Seq: r.Seq}
	}
	b.closeMu.RLock()
	defer b.closeMu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	b.mu.Lock()
	if err := b.flight.known(acks); err != nil || len(acks) == 0 {
		b.mu.Unlock()
		return err
	}
	b.flight.holdAck(acks) // Stats stops counting them now: depth is what is still to deliver
	b.mu.Unlock()
	b.reqs <- &request{acks: acks, deferred: true, reply: make(chan result, 1)}
	b.mu.Lock()
	err := b.ackErr
	b.ackErr = nil
	b.mu.Unlock()
	return err
}

// Flush commits the deletions of deferred acks (Options.AckDelay) now and
// returns once they are durable; without deferred acks it commits nothing
// new.
func (b *Bolt) Flush() error {
	_, err := b.submit(&request{})
	return err
}

// Compact copies the live records into a new file and renames it over the
// old one, so the file shrinks to what is stored. Appends and Acks wait in
// the writer's queue meanwhile; Begin and Stats keep working. The writer
// also compacts by itself (see Options.CompactMinSize).
func (b *Bolt) Compact() error {
	_, err := b.submit(&request{compact: true})
	return err
}

// submit queues a request for the writer and waits for its commit.
func (b *Bolt) submit(r *request) ([]Record, error) {
	r.reply = make(chan result, 1)
	b.closeMu.RLock()
	if b.closed {
		b.closeMu.RUnlock()
		return nil, ErrClosed
	}
	b.reqs <- r
	b.closeMu.RUnlock()
	res := <-r.reply
	return res.recs, res.err
}

func (b *Bolt) alive() error {
	b.closeMu.RLock()
	defer b.closeMu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	return nil
}

// Begin hands out up to max of the oldest records not in flight, event
// lane first.
func (b *Bolt) Begin(max int) ([]Record, error) {
	return b.begin(max, Span{Lane: LaneEvent}, Span{Lane: LaneData})
}

// BeginSpan hands out up to max of the oldest records of a span.
func (b *Bolt) BeginSpan(max int, s Span) ([]Record, error) {
	if s.Lane >= numLanes {
		return nil, fmt.Errorf("buffer: lane %d: %w", s.Lane, ErrBadLane)
	}
	return b.begin(max, s)
}

// begin reads the spans in order. mu is held across the read so the
// writer cannot publish an eviction (or swap the file) between our
// snapshot and marking the records in flight.
func (b *Bolt) begin(max int, spans ...Span) ([]Record, error) {
	b.closeMu.RLock()
	defer b.closeMu.RUnlock()
	if b.closed {
		return nil, ErrClosed
	}
	if max <= 0 {
		return nil, nil
	}
	out, db, drop, err := b.take(max, spans)
	if drop {
		// Outside mu: the writer need not wait. A compaction that closed
		// db meanwhile makes this a no-op (bbolt's View fails on it).
		_ = dropMapped(db)
	}
	return out, err
}

// take reads the records for begin and marks them in flight. drop says
// that Begin has read dropAfter bytes since it last dropped the pages it
// mapped, and db is the database they were read from.
func (b *Bolt) take(max int, spans []Span) (out []Record, db *bolt.DB, drop bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sizes []int64
	db = b.db
	err = db.View(func(tx *bolt.Tx) error {
		for _, s := range spans {
			var err error
			if out, sizes, err = b.pending(tx, s, out, sizes, max); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, false, fmt.Errorf("buffer: begin: %w", err)
	}
	for i, r := range out {
		b.flight.take(r.Lane, r.Seq, sizes[i])
		b.readBytes += sizes[i]
	}
	if drop = b.readBytes >= b.dropAfter; drop {
		b.readBytes = 0
	}
	return out, db, drop, nil
}

// pending appends to out the oldest records of span s not in flight, and
// their stored sizes to sizes.
func (b *Bolt) pending(tx *bolt.Tx, s Span, out []Record, sizes []int64, max int) ([]Record, []int64, error) {
	c := tx.Bucket(laneBucket(s.Lane)).Cursor()
	for k, v := c.Seek(encodeKey(s.From)); k != nil && len(out) < max; k, v = c.Next() {
		seq, err := decodeKey(k)
		if err != nil {
			return out, sizes, err
		}
		if !s.has(seq) {
			break
		}
		if b.flight.busy(s.Lane, seq) {
			continue
		}
		d, err := decodeValue(v)
		if err != nil {
			return out, sizes, fmt.Errorf("%s seq %d: %w", s.Lane, seq, err)
		}
		r, err := d.record(s.Lane, seq)
		if err != nil {
			return out, sizes, err
		}
		out, sizes = append(out, r), append(sizes, int64(len(d.body))) // as storedLen charges it
	}
	return out, sizes, nil
}

// Nack returns records to pending; unknown ones are ignored.
func (b *Bolt) Nack(recs []Record) {
	b.mu.Lock()
	b.flight.nack(recs)
	b.mu.Unlock()
	signal(b.notify)
}

// Stats reports the counters kept since open; Bytes is the file size.
func (b *Bolt) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Stats{MaxBytes: b.opts.MaxBytes, Bytes: b.size, Compactions: b.compactions, Commits: b.commits}
	for l, st := range b.state {
		n, bytes := b.flight.held(Lane(l)) // acked, deletion not committed yet
		oldest := st.oldest
		if st.depth == n {
			oldest = time.Time{} // all delivered: nothing has waited
		}
		s.Lanes[l] = LaneStats{Depth: st.depth - n, Bytes: st.bytes - bytes, Oldest: oldest,
			NextSeq: st.next, Dropped: st.dropped, Inflight: b.flight.count(Lane(l))}
		rt := b.retained[l]
		s.Retained.Records += rt.depth
		s.Retained.Bytes += rt.bytes
		if !rt.oldest.IsZero() && (s.Retained.Oldest.IsZero() || rt.oldest.Before(s.Retained.Oldest)) {
			s.Retained.Oldest = rt.oldest
		}
	}
	return s
}

// Notify is signalled after each Append and Nack.
func (b *Bolt) Notify() <-chan struct{} { return b.notify }

// Close lets the writer commit everything already queued, then closes the
// file. Later calls fail with ErrClosed.
func (b *Bolt) Close() error {
	b.closeMu.Lock()
	if b.closed {
		b.closeMu.Unlock()
		return ErrClosed
	}
	b.closed = true
	close(b.reqs)
	b.closeMu.Unlock()
	<-b.done
	if b.broken != nil {
		return fmt.Errorf("buffer: close: %w", b.broken)
	}
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("buffer: close: %w", err)
	}
	return nil
}

// Path is the file the outbox lives in.
func (b *Bolt) Path() string { return b.path }
