package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"canary/agent/wire"
	"canary/buffer"
)

// Bounds of the memory the agent uses while the outbox cannot write.
const (
	maxQueuedEvents = 1000        // event records held in memory
	maxQueuedBytes  = 1 << 20     // and their payload bytes
	retryEvery      = time.Second // least time between write retries
	flushChunk      = 64          // records per Append when flushing the queue
)

// outboxGuard keeps the agent running when the outbox cannot write (disk
// full, read-only file system, bbolt's MaxSize reached): data records are
// dropped and counted, event records wait in a bounded memory queue, and
// writes are retried at most every retryEvery from the append path. Once a
// write succeeds the queue goes first, followed by one `gap` event per lane
// (reason "disk") saying what was dropped. The state is logged once per
// change and shown in status.
//
// The healthy path is one atomic load and the Append.
type outboxGuard struct {
	box buffer.Outbox
	log *slog.Logger
	now func() time.Time
	gap func(lane string, records int, reason string) []byte

	failing atomic.Bool

	mu        sync.Mutex
	err       error
	since     time.Time
	lastTry   time.Time
	queue     []buffer.Record
	queuedB   int
	dropped   [2]int // data, event records dropped since the failure began
	droppedAt uint64 // all-time records dropped, for status
}

func (g *outboxGuard) append(recs []buffer.Record) {
	if !g.failing.Load() {
		_, err := g.box.Append(recs)
		if err != nil {
			g.failed(err, recs)
		}
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.now().Sub(g.lastTry) >= retryEvery && g.flushLocked() {
		if _, err := g.box.Append(recs); err != nil {
			g.failLocked(err, recs)
		}
		return
	}
	g.holdLocked(recs)
}

// failed handles an Append error on the healthy path.
func (g *outboxGuard) failed(err error, recs []buffer.Record) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failLocked(err, recs)
}

func (g *outboxGuard) failLocked(err error, recs []buffer.Record) {
	switch {
	case errors.Is(err, buffer.ErrClosed):
		return // shutting down
	case errors.Is(err, buffer.ErrTooBig), errors.Is(err, buffer.ErrBadLane):
		g.droppedAt += uint64(len(recs)) // this batch can never be stored; the outbox is fine
		g.log.Error("outbox refused records: dropped", "records", len(recs), "err", err)
		return
	}
	g.lastTry = g.now()
	if !g.failing.Load() {
		g.err, g.since = err, g.now()
		g.failing.Store(true)
		g.log.Error("outbox cannot write: keeping events in memory, dropping data until it can", "err", err)
	} else {
		g.err = err
	}
	g.holdLocked(recs)
}

// holdLocked queues the events of recs and drops the data.
func (g *outboxGuard) holdLocked(recs []buffer.Record) {
	for _, r := range recs {
		if r.Lane != buffer.LaneEvent {
			g.drop(r.Lane, 1)
			continue
		}
		for len(g.queue) > 0 && (len(g.queue) >= maxQueuedEvents || g.queuedB+len(r.Payload) > maxQueuedBytes) {
			g.queuedB -= len(g.queue[0].Payload)
			g.queue = g.queue[1:]
			g.drop(buffer.LaneEvent, 1) // the oldest waiting event gives way
		}
		g.queue = append(g.queue, r)
		g.queuedB += len(r.Payload)
	}
}

func (g *outboxGuard) drop(l buffer.Lane, n int) {
	g.dropped[l] += n
	g.droppedAt += uint64(n)
}

// flushLocked retries the outbox: the queued events, then the gap events.
// It reports whether everything was written and the guard is healthy.
func (g *outboxGuard) flushLocked() bool {
	g.lastTry = g.now()
	for len(g.queue) > 0 {
		n := min(len(g.queue), flushChunk)
		if _, err := g.box.Append(g.queue[:n]); err != nil {
			g.err = err
			return false
		}
		for _, r := range g.queue[:n] {
			g.queuedB -= len(r.Payload)
		}
		g.queue = g.queue[n:]
	}
	var gaps []buffer.Record
	for _, l := range buffer.Lanes {
		if n := g.dropped[l]; n > 0 {
			gaps = append(gaps, buffer.Record{Lane: buffer.LaneEvent, Created: g.now(), Payload: g.gap(l.String(), n, "disk")})
		}
	}
	if len(gaps) > 0 {
		if _, err := g.box.Append(gaps); err != nil {
			g.err = err
			return false
		}
	}
	g.log.Info("outbox writes again", "failed_for", g.now().Sub(g.since).Round(time.Millisecond),
		"dropped_data", g.dropped[buffer.LaneData], "dropped_events", g.dropped[buffer.LaneEvent])
	g.dropped = [2]int{}
	g.queue, g.err = nil, nil
	g.failing.Store(false)
	return true
}

// retry flushes the queue if the outbox is failing and a retry is due; the
// agent calls it on a timer so recovery does not wait for the next scan.
func (g *outboxGuard) retry() {
	if !g.failing.Load() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failing.Load() && g.now().Sub(g.lastTry) >= retryEvery {
		g.flushLocked()
	}
}

// condition is what status shows: the write error ("" when healthy), how
// many events wait in memory and how many records were dropped since start.
func (g *outboxGuard) condition() (writeErr string, queued int, dropped uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		writeErr = g.err.Error()
	}
	return writeErr, len(g.queue), g.droppedAt
}

// ackDelay lets the outbox commit the deletion of delivered records with
// the next scan's append instead of in a commit of its own: with the link
// up, one fdatasync a scan instead of two (half the flash wear, and the
// disk's share of CPU). The next scan usually comes within it; a crash
// meanwhile sends up to this much delivered data again (exact duplicates,
// which the platform drops by lane and seq).
const ackDelay = 2 * time.Second

// openOutbox opens the bbolt outbox, moving a damaged file aside (kept as
// outbox.db.corrupt-<time>) and starting empty; Run then emits an `agent`
// event with state "outbox_reset". It writes without DEFLATE: data
// records are compact bodies already (wire.DataEncoder) and events are
// few; records an older agent compressed are still read.
func (a *Agent) openOutbox() error {
	if a.opts.Outbox != nil {
		a.box = a.opts.Outbox
		return nil
	}
	b := a.cfg.Buffer
	if err := os.MkdirAll(filepath.Dir(b.Path), 0o750); err != nil {
		return fmt.Errorf("agent: outbox directory: %w", err)
	}
	box, reset, err := buffer.OpenOrReset(b.Path, buffer.Options{MaxBytes: int64(b.MaxBytes), Boot: a.boot,
		EncodeGap: a.encodeGap, Now: a.clock.Now, Retain: b.Retain.D(), AckDelay: ackDelay})
	if err != nil {
		return fmt.Errorf("agent: outbox: %w", err)
	}
	if reset != nil {
		a.outboxReset = fmt.Sprintf("damaged outbox moved to %s: %v", reset.MovedTo, reset.Cause)
		a.log.Error("outbox file damaged: moved aside, starting empty", "moved_to", reset.MovedTo, "err", reset.Cause)
	}
	a.box = box
	return nil
}

func (a *Agent) newGuard() *outboxGuard {
	return &outboxGuard{box: a.box, log: a.log, now: a.clock.Now, gap: func(lane string, n int, reason string) []byte {
		return wire.AppendEvents(nil, a.historical(), []wire.Event{{ID: a.ids.next(), TS: a.clock.Now().UnixMilli(),
			Type: wire.TypeGap, State: "dropped", Lane: lane, Records: n, Reason: reason}})
	}}
}

// WarnOutboxReset is the health warning raised for the rest of the boot
// when the outbox file was found damaged and replaced at start.
const WarnOutboxReset = "outbox_reset"

// announceReset raises the warning and queues the event saying the
// outbox was reset at open.
func (a *Agent) announceReset() {
	if a.outboxReset != "" {
		a.Health().Set(WarnOutboxReset, SevWarning, a.outboxReset+"; records queued in it were not sent")
		a.event(wire.Event{Type: wire.TypeAgent, State: "outbox_reset", Version: a.opts.Version, Detail: a.outboxReset})
	}
}
