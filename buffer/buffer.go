package buffer

import (
	"errors"
	"time"
)

// Lane is a priority class. Lower lanes drain first; events are never
// evicted while data remains.
type Lane uint8

const (
	LaneEvent Lane = iota
	LaneData
	numLanes
)

// Lanes lists every lane in drain order.
var Lanes = []Lane{LaneEvent, LaneData}

func (l Lane) String() string {
	switch l {
	case LaneEvent:
		return "event"
	case LaneData:
		return "data"
	}
	return "unknown"
}

// Record is one message-to-be. Seq is assigned by Append: it increases by
// one per record within a lane and never repeats, across restarts too.
type Record struct {
	Lane    Lane
	Seq     uint64
	Boot    string    // the process start that created it
	Created time.Time // agent clock at Append, millisecond precision
	Payload []byte    // encoded body, opaque to the outbox
}

// Gap says what the budget evicted: records FromSeq..ToSeq (inclusive) of a
// lane, Records of them, for Reason.
type Gap struct {
	Lane    Lane
	FromSeq uint64
	ToSeq   uint64
	Records int
	Reason  string
}

// LaneStats describes one lane.
type LaneStats struct {
	Depth    int       // records queued, in flight included
	Bytes    int64     // payload bytes queued
	Oldest   time.Time // Created of the oldest queued record; zero if empty
	NextSeq  uint64    // seq the next Append will get
	Dropped  uint64    // evicted by the budget since open
	Inflight int
}

// RetainStats describes the acknowledged records kept for audit.
type RetainStats struct {
	Records int
	Bytes   int64     // stored bytes
	Oldest  time.Time // Created of the oldest retained record; zero if none
}

// Stats describes the outbox.
type Stats struct {
	Lanes       [numLanes]LaneStats
	Retained    RetainStats // Bolt with Options.Retain only
	MaxBytes    int64
	Bytes       int64 // on disk (file size) or in memory
	Compactions uint64
	Commits     uint64 // durable transactions since open (Bolt): each one an fdatasync
}

// Span selects the records of one lane whose seq is in [From, To); To 0
// means no upper bound. The forwarder uses it to send what arrived since
// it connected ahead of the backlog from before.
type Span struct {
	Lane     Lane
	From, To uint64
}

func (s Span) has(seq uint64) bool { return seq >= s.From && (s.To == 0 || seq < s.To) }

// Outbox is the agent's store of record. Implementations are safe for
// concurrent use.
//
//   - Append makes records durable before it returns and assigns Seq.
//   - Begin hands out the oldest records not already in flight, event lane
//     first, at most max records; they stay stored until acknowledged.
//     BeginSpan does the same within one lane and seq range.
//   - Ack deletes exactly the given in-flight records (any subset of what
//     Begin handed out, identified by lane and seq); Nack returns them to
//     the head of their lane so the next Begin yields them again, in seq
//     order.
//   - When the byte budget is exceeded, Append evicts the oldest data
//     records (in flight or not) and, in the same transaction, appends a
//     gap record to the event lane whose payload is Options.EncodeGap(gap);
//     events go only when events alone exceed the budget.
type Outbox interface {
	Append(recs []Record) ([]Record, error)
	Begin(max int) ([]Record, error)
	// BeginSpan is Begin restricted to one lane and a seq range: the
	// oldest records of the span not in flight, at most max.
	BeginSpan(max int, s Span) ([]Record, error)
	Ack(recs []Record) error
	Nack(recs []Record)
	Stats() Stats
	// Notify receives a value (buffered, capacity one) after each Append
	// and each Nack, so a forwarder can wait for work without polling.
	Notify() <-chan struct{}
	Close() error
}

// Options configure an outbox.
type Options struct {
	// MaxBytes is the byte budget for stored payloads plus per-record
	// overhead. 0 means unbounded (tests only).
	MaxBytes int64
	// Boot stamps gap records.
	Boot string
	// EncodeGap makes the payload of the event recording an eviction.
	// Nil stores an empty payload.
	EncodeGap func(g Gap) []byte
	// Now is the clock for Created stamps of gap records and for the
	// outbox's own timing (compaction, retention, dropping mapped pages);
	// nil is time.Now.
	Now func() time.Time
	// Compress stores each payload DEFLATE-compressed (with a dictionary
	// made for Canary's JSON bodies) when that makes it smaller. Costs CPU
	// on Append and Begin; the budget, eviction and LaneStats.Bytes count
	// stored bytes, so compression stretches MaxBytes by its ratio.
	Compress bool
	// Retain keeps acknowledged records for audit this long instead of
	// deleting them (Bolt only; 0 deletes on Ack). They count against
	// MaxBytes and are the first to go when space is needed, oldest
	// first, before anything unsent; no gap record is written for them.
	// Retention doubles the disk writes per record (moved on Ack).
	Retain time.Duration
	// CompactMinSize: Bolt compacts its file after a commit when the file
	// is larger than this and more than twice the live data. 0 means
	// max(8 MiB, MaxBytes/16); negative disables automatic compaction.
	CompactMinSize int64
	// CompactInterval is the least time between automatic compactions;
	// 0 means 10 minutes.
	CompactInterval time.Duration
	// AckDelay (Bolt only; 0: Ack returns after its own commit) lets Ack
	// return as soon as the records are queued for deletion: the deletion
	// commits with the next Append, at latest AckDelay after the first
	// waiting ack (or when 512 acked records wait, or at Close). With
	// the link up that is one commit, one fdatasync, a scan instead of
	// two. Until then Begin does not hand them out again and Stats does not
	// count them; a crash meanwhile leaves them stored, and they are sent
	// again after it (exact duplicates, as for the in-flight window).
	// If a deferred deletion fails, the next Ack returns the error and the
	// records are pending again.
	AckDelay time.Duration
	// SeqFloor is the least seq the next Append of each lane gets: a
	// fresh outbox that replaces a damaged one starts there, so its seqs
	// do not repeat the lost file's (OpenOrReset sets it).
	SeqFloor uint64
}

// Sentinel errors.
var (
	ErrClosed  = errors.New("buffer: closed")
	ErrTooBig  = errors.New("buffer: record larger than the budget")
	ErrUnknown = errors.New("buffer: record not in flight")
	// ErrCorrupt wraps every failure to open or read a file that is not a
	// valid outbox, so the agent can move it aside and start empty.
	ErrCorrupt = errors.New("buffer: outbox file corrupt")
	// ErrLocked means another process holds the outbox file open.
	ErrLocked = errors.New("buffer: outbox file locked by another process")
	// ErrBadLane is returned for a Record whose Lane is not one of Lanes.
	ErrBadLane = errors.New("buffer: unknown lane")
)
