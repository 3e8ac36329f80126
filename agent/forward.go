package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"canary/agent/clock"
	"canary/agent/wire"
	"canary/buffer"
	"canary/drivers"
)

// forwarder moves records from the outbox to the sink. It owns the link:
// it dials with jittered back-off, publishes the birth status, and keeps up
// to window messages, and about maxInflightBytes of them, in flight. A
// record is acked in the outbox only after its own Delivery succeeded;
// anything else puts it back (nack), so the worst case is an exact
// boot/seq duplicate, never a loss.
type forwarder struct {
	sink   drivers.Sink
	box    buffer.Outbox
	framer *wire.Framer
	topics wire.Topics
	clock  clock.Clock
	log    *slog.Logger
	window int
	// maxBytes bounds the payload bytes in flight; 0 means maxInflightBytes.
	maxBytes int64
	rate     float64 // backfill: backlog data records per second; <= 0 unlimited
	retry    backoff
	status   func(state string) []byte
	onReady  func(ctx context.Context) // after birth: subscriptions
	// onDamaged reports a record dropped because its body cannot be
	// decoded.
	onDamaged func(r buffer.Record)

	mu          sync.Mutex
	connected   bool
	connectedAt time.Time
	lastErr     string
	reconnects  atomic.Uint64
	published   atomic.Uint64
	backfilled  atomic.Uint64 // backlog records published (resends included)
	acked       atomic.Uint64

	inflightBytes atomic.Int64 // payload bytes published and not yet resolved
	maxLen        int64        // the largest payload published yet (the pump's)
}

// maxInflightBytes bounds the payload bytes published and not yet
// acknowledged, besides the window's count of messages: a draining
// backlog fills the whole window with the largest messages (a 10,000-point
// scan is about twenty of 30 KB), and 64 of them would be 2 MB of buffers
// held until their PUBACKs, with paho's copy of each on top. 1 MiB is more
// than a scan of 10,000 points (650 KB), so live data is not held back,
// and about what the window held at 1,200-byte records (64 of 20 KB):
// the same throughput on a link with a long round trip for live data. A
// backlog gets half of it (backlogShare).
const maxInflightBytes = 1 << 20

// backlogShare is the part of the byte bound a backlog may fill: live data
// and events may use all of it, the backlog from before the connection
// only a half. A drain keeps its share full for as long as it lasts, and
// every byte in flight is held in the payload, in paho's packet buffer
// and as garbage until the next GC. In the bench's 5-minute outage at
// 10,000 points (paired runs) the drain's VmRSS peak fell from 16–17 %
// above the level before the outage to 14–15 %, anonymous memory at most
// 13.8 → 13.1–13.3 MiB, and it drained as fast (14.0–16.8 s against
// 14.3–15.0). Half of 1 MiB a round trip is still 2.5 MB/s of backlog
// at 200 ms, more than a gateway's uplink.
const backlogShare = 2

// room is how many more messages the byte bound lets the pump publish,
// counting each as large as the largest yet (one, to learn it, before the
// first): at least one while under the bound.
func (f *forwarder) room() int { return f.roomUnder(f.limitBytes()) }

// roomUnder is room for a bound of limit bytes.
func (f *forwarder) roomUnder(limit int64) int {
	left := limit - f.inflightBytes.Load()
	switch {
	case left <= 0:
		return 0
	case f.maxLen == 0:
		return 1
	}
	return int(min(left/f.maxLen, int64(f.window))) + 1
}

func (f *forwarder) limitBytes() int64 {
	if f.maxBytes > 0 {
		return f.maxBytes
	}
	return maxInflightBytes
}

func (f *forwarder) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := f.sink.Connect(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			f.setLink(false, err)
			d := f.retry.next()
			if errors.Is(err, drivers.ErrRefused) {
				d = max(d, refusedWait) // the same answer again soon: do not hammer the broker
			}
			f.log.Warn("uplink connect failed", "broker", f.sink.Endpoint(), "err", err, "retry_in", d.Round(time.Millisecond))
			f.wait(ctx, d)
			continue
		}
		f.retry.reset()
		err := f.session(ctx)
		f.setLink(false, err)
		if ctx.Err() == nil {
			f.log.Info("uplink session ended", "broker", f.sink.Endpoint(), "err", err)
			f.wait(ctx, f.retry.next())
		}
	}
}

func (f *forwarder) wait(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-f.clock.After(d):
	}
}

func (f *forwarder) setLink(up bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connected = up
	if up {
		f.connectedAt = f.clock.Now().Truncate(time.Millisecond)
		f.lastErr = ""
	} else if err != nil {
		f.lastErr = err.Error()
	}
}

// link reports the uplink state for status.
func (f *forwarder) link() (up bool, since time.Time, lastErr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connected, f.connectedAt, f.lastErr
}

var errLost = errors.New("agent: uplink lost")

// refusedWait is the least wait after the platform refused a connect
// (credentials, authorisation): a network failure retries within
// reconnect_max, a refusal is not worth asking again every few seconds.
const refusedWait = 30 * time.Second

// session runs one connection: birth, then the publish pump, until the
// connection is lost or ctx ends. It returns only when nothing it published
// is still unresolved.
func (f *forwarder) session(ctx context.Context) error {
	// Live from here on: what is appended once the link is reported up is
	// never held behind the backlog.
	mark := f.box.Stats().Lanes[buffer.LaneData].NextSeq
	f.reconnects.Add(1)
	f.setLink(true, nil)
	f.log.Info("uplink connected", "broker", f.sink.Endpoint())
	lost := f.sink.Lost()
	if err := f.publishStatus(ctx, "online"); err != nil {
		return err
	}
	if f.onReady != nil {
		f.onReady(ctx)
	}
	inflight := make(chan pending, f.window)
	space := make(chan struct{}, 1)
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		f.collect(ctx, inflight, lost, space)
	}()
	err := f.pump(ctx, mark, lost, inflight, space)
	close(inflight)
	<-collected
	return err
}

type pending struct {
	rec buffer.Record
	d   drivers.Delivery
	buf *[]byte // the message, back to payloads once delivered
}

// payloads recycles message buffers: the sink keeps a payload until its
// PUBACK, so one goes back only after a delivery succeeded (after a
// failure the sink may still hold it, and it is left to the GC). It is a
// free list, not a sync.Pool: a pool is emptied by every other GC, which at
// 10,000 points comes several times a second, and each refill grew a
// buffer step by step again. It keeps at most keptPayloads buffers (about
// 38 KB each for the largest records), so a drain's full window does not
// stay allocated after it.
var payloads = make(chan *[]byte, keptPayloads)

const keptPayloads = 32 // maxInflightBytes holds about 30 of the largest

func getPayload() *[]byte {
	select {
	case b := <-payloads:
		return b
	default:
		return new([]byte)
	}
}

func putPayload(b *[]byte) {
	select {
	case payloads <- b:
	default:
	}
}

// jsonPerStored is a little more than the bytes of JSON a stored byte
// becomes (a compact sample of about 4 bytes is a JSON sample of 60 to
// 70): a new buffer is made that large at once, so it is not grown (to
// twice the size) for the common record (a recycled one grows if it must).
const jsonPerStored = 20

// pump publishes live first: every pending event (oldest first), then the
// data records appended since this connection began, then the data backlog
// from before it, oldest first, at most rate records per second. Live data
// therefore waits for at most one window of backlog PUBACKs, however long
// the outage was.
func (f *forwarder) pump(ctx context.Context, mark uint64, lost <-chan struct{}, inflight chan pending, space <-chan struct{}) error {
	heartbeat := f.clock.NewTicker(time.Minute)
	defer heartbeat.Stop()
	bucket := newTokens(f.rate, f.window, f.clock.Now())
	for {
		select { // a busy pump goes round without the select below: notice a loss here
		case <-ctx.Done():
			return ctx.Err()
		case <-lost:
			return errLost
		default:
		}
		free := min(cap(inflight)-len(inflight), f.room())
		var refill <-chan time.Time
		if free > 0 {
			recs, wait, err := f.next(free, mark, bucket)
			if err != nil {
				return err
			}
			for _, r := range recs {
				f.publish(ctx, inflight, r)
			}
			if len(recs) == free {
				continue // there may be more: go round without waiting
			}
			if wait > 0 {
				refill = f.clock.After(wait)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-lost:
			return errLost
		case <-f.box.Notify():
		case <-heartbeat.C():
			go f.publishStatus(ctx, "online") //nolint: a lost status is re-sent next minute
		case <-space:
		case <-refill:
		}
	}
}

// next takes up to free records in publish order: events, live data,
// backlog within the rate. wait > 0 says the backlog has more but the rate
// allows none for that long.
func (f *forwarder) next(free int, mark uint64, bucket *tokens) (recs []buffer.Record, wait time.Duration, err error) {
	for _, sp := range []buffer.Span{{Lane: buffer.LaneEvent}, {Lane: buffer.LaneData, From: mark}} {
		got, err := f.box.BeginSpan(free-len(recs), sp)
		if err != nil {
			return nil, 0, err
		}
		recs = append(recs, got...)
	}
	if len(recs) == free || mark <= 1 {
		return recs, 0, nil
	}
	// The backlog fills only its share of the bytes, counting the live
	// records just taken as in flight: when that is full, the next PUBACK
	// wakes the pump (collect signals space).
	if free = min(free, f.roomUnder(f.limitBytes()/backlogShare)); free <= len(recs) {
		return recs, 0, nil
	}
	now := f.clock.Now()
	n := bucket.take(now, free-len(recs))
	if n == 0 {
		return recs, bucket.wait(), nil
	}
	got, err := f.box.BeginSpan(n, buffer.Span{Lane: buffer.LaneData, To: mark})
	if err != nil {
		return nil, 0, err
	}
	bucket.refund(n - len(got))
	if len(got) == n && len(recs)+n < free {
		wait = bucket.wait() // more backlog, throttled
	}
	f.backfilled.Add(uint64(len(got)))
	return append(recs, got...), wait, nil
}

func (f *forwarder) publish(ctx context.Context, inflight chan pending, r buffer.Record) {
	buf := getPayload()
	if cap(*buf) == 0 {
		*buf = make([]byte, 0, jsonPerStored*len(r.Payload)+256)
	}
	b, err := f.framer.FrameStored((*buf)[:0], r.Boot, r.Seq, r.Payload)
	if err != nil {
		putPayload(buf)
		f.undeliverable(r, err)
		return
	}
	*buf = b
	f.maxLen = max(f.maxLen, int64(len(b)))
	f.inflightBytes.Add(int64(len(b)))
	topic := f.topics.Data
	if r.Lane == buffer.LaneEvent {
		topic = f.topics.Event
	}
	inflight <- pending{rec: r, d: f.sink.Publish(ctx, drivers.Message{Topic: topic, Payload: b}), buf: buf}
	f.published.Add(1)
}

// undeliverable takes a record whose stored body cannot be decoded (a
// damaged file that passed the checks at open) out of the outbox, so it
// does not block its lane, and has the agent say so with a gap event.
func (f *forwarder) undeliverable(r buffer.Record, err error) {
	f.log.Error("outbox record cannot be decoded: dropped", "lane", r.Lane.String(), "seq", r.Seq, "err", err)
	if err := f.box.Ack([]buffer.Record{r}); err != nil {
		f.log.Error("outbox ack failed", "err", err)
	}
	if f.onDamaged != nil {
		f.onDamaged(r)
	}
}

// collect resolves deliveries in publish order, acking runs of successes
// in one outbox transaction and nacking failures.
func (f *forwarder) collect(ctx context.Context, inflight <-chan pending, lost <-chan struct{}, space chan<- struct{}) {
	var ok, failed []buffer.Record
	flush := func() {
		defer func() {
			select {
			case space <- struct{}{}:
			default:
			}
		}()
		if len(ok) > 0 {
			if err := f.box.Ack(ok); err != nil {
				f.log.Error("outbox ack failed", "err", err)
			}
			f.acked.Add(uint64(len(ok)))
		}
		if len(failed) > 0 {
			f.box.Nack(failed)
		}
		ok, failed = ok[:0], failed[:0]
	}
	for p := range inflight {
		delivered := f.await(ctx, p.d, lost) && p.d.Err() == nil
		if f.inflightBytes.Add(-int64(len(*p.buf))) < f.limitBytes() {
			select { // the pump may be waiting for bytes to clear, not for a slot
			case space <- struct{}{}:
			default:
			}
		}
		if !delivered {
			failed = append(failed, p.rec)
		} else {
			ok = append(ok, p.rec)
			putPayload(p.buf)
		}
		if len(inflight) == 0 || len(ok)+len(failed) >= 256 {
			flush()
		}
	}
	flush()
}

// await waits for a delivery. After the connection is lost or ctx ends it
// gives the sink a bounded time to resolve the delivery, then treats it as
// not delivered.
func (f *forwarder) await(ctx context.Context, d drivers.Delivery, lost <-chan struct{}) bool {
	select {
	case <-d.Done():
		return true
	case <-ctx.Done():
	case <-lost:
	}
	select {
	case <-d.Done():
		return true
	case <-time.After(2 * time.Second):
		return false
	}
}

// publishStatus publishes the retained status and waits (bounded) for the
// broker to take it.
func (f *forwarder) publishStatus(ctx context.Context, state string) error {
	d := f.sink.Publish(ctx, drivers.Message{Topic: f.topics.Status, Payload: f.status(state), Retained: true})
	select {
	case <-d.Done():
		return d.Err()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return errors.New("agent: status publish not acknowledged within 10s")
	}
}
