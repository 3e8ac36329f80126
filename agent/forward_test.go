package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"canary/agent/clock"
	"canary/agent/wire"
	"canary/buffer"
	"canary/drivers"
)

// fakeSink is a broker that takes every message it is sent and acknowledges
// them a little later, unless the connection is cut first: then the
// message was received but its PUBACK is lost, so the forwarder must
// resend it (a duplicate), never count it as delivered.
type fakeSink struct {
	mu      sync.Mutex
	up      bool
	lost    chan struct{}
	got     []drivers.Message
	pending []*fakeDelivery
	refuse  bool
}

type fakeDelivery struct {
	done chan struct{}
	err  error
}

func (d *fakeDelivery) Done() <-chan struct{} { return d.done }
func (d *fakeDelivery) Err() error            { return d.err }

func resolved(err error) *fakeDelivery {
	d := &fakeDelivery{done: make(chan struct{}), err: err}
	close(d.done)
	return d
}

func (s *fakeSink) Connect(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse {
		return errors.New("fake: connection refused")
	}
	s.up, s.lost = true, make(chan struct{})
	return nil
}

func (s *fakeSink) Lost() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up {
		c := make(chan struct{})
		close(c)
		return c
	}
	return s.lost
}

func (s *fakeSink) Publish(ctx context.Context, m drivers.Message) drivers.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up {
		return resolved(drivers.ErrNotConnected)
	}
	m.Payload = append([]byte(nil), m.Payload...) // as a broker would: the caller reuses it once acked
	s.got = append(s.got, m)
	d := &fakeDelivery{done: make(chan struct{})}
	s.pending = append(s.pending, d)
	return d
}

// ackSome acknowledges a random prefix of the pending deliveries.
func (s *fakeSink) ackSome() {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := rand.IntN(len(s.pending) + 1)
	for _, d := range s.pending[:n] {
		close(d.done)
	}
	s.pending = s.pending[n:]
}

// ackAll acknowledges every pending delivery.
func (s *fakeSink) ackAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.pending {
		close(d.done)
	}
	s.pending = nil
}

// cut drops the connection: pending deliveries fail.
func (s *fakeSink) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up {
		return
	}
	s.up = false
	close(s.lost)
	for _, d := range s.pending {
		d.err = errors.New("fake: connection lost before PUBACK")
		close(d.done)
	}
	s.pending = nil
}

func (s *fakeSink) Subscribe(context.Context, string, drivers.Handler) error { return nil }
func (s *fakeSink) Close(context.Context) error                              { s.cut(); return nil }
func (s *fakeSink) Endpoint() string                                         { return "fake" }

func (s *fakeSink) messages() []drivers.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]drivers.Message(nil), s.got...)
}

func newTestForwarder(sink drivers.Sink, box buffer.Outbox) *forwarder {
	return &forwarder{sink: sink, box: box, framer: wire.NewFramer("site", "gw"),
		topics: wire.NewTopics("canary", "site", "gw"), clock: clock.Real{},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), window: 16,
		retry:  backoff{min: 5 * time.Millisecond, max: 20 * time.Millisecond},
		status: func(string) []byte { return []byte(`{}`) }}
}

// Every appended record reaches the broker at least once, through
// repeated connection cuts that lose PUBACKs; repeats are exact copies;
// the outbox ends empty.
func TestForwarderDeliversEverythingThroughCuts(t *testing.T) {
	box := buffer.NewMemory(buffer.Options{})
	sink := &fakeSink{}
	fwd := newTestForwarder(sink, box)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); fwd.run(ctx) }()
	defer func() { cancel(); <-done }()

	const n = 2000
	go func() { // the broker acknowledges in bursts
		for ctx.Err() == nil {
			sink.ackSome()
			time.Sleep(200 * time.Microsecond)
		}
	}()
	for i := 0; i < n; i++ {
		lane := buffer.LaneData
		if i%10 == 0 {
			lane = buffer.LaneEvent
		}
		body := fmt.Appendf(nil, `"historical":false,"samples":[{"point":"p","ts":%d,"value":%d,"quality":"good"}]`, i, i)
		if _, err := box.Append([]buffer.Record{{Lane: lane, Boot: "b1", Created: time.Now(), Payload: body}}); err != nil {
			t.Fatal(err)
		}
		if i%400 == 399 {
			sink.cut()
		}
	}
	waitFor(t, 20*time.Second, func() bool {
		s := box.Stats()
		return s.Lanes[buffer.LaneData].Depth+s.Lanes[buffer.LaneEvent].Depth == 0
	})

	seen := map[string]string{}
	for _, m := range sink.messages() {
		if m.Topic == "canary/site/gw/status" {
			continue
		}
		dm, err := wire.Decode(m.Payload)
		if err != nil {
			t.Fatalf("undecodable message %s: %v", m.Payload, err)
		}
		key := fmt.Sprintf("%s/%d", m.Topic, dm.Seq)
		if prev, ok := seen[key]; ok && prev != string(m.Payload) {
			t.Fatalf("duplicate %s differs:\n%s\n%s", key, prev, m.Payload)
		}
		seen[key] = string(m.Payload)
	}
	if len(seen) != n {
		t.Fatalf("broker got %d distinct records, want %d", len(seen), n)
	}
	// Deliveries lost in the cuts free their bytes too: counted bytes that
	// never came back would stall the pump for good.
	if got := fwd.inflightBytes.Load(); got != 0 {
		t.Fatalf("%d payload bytes still counted in flight with the outbox empty", got)
	}
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// refusingSink fails every connect with err and counts the attempts.
type refusingSink struct {
	*fakeSink
	err      error
	connects chan struct{}
}

func (s *refusingSink) Connect(context.Context) error {
	s.connects <- struct{}{}
	return s.err
}

// After a network failure the next attempt comes within reconnect_max;
// after the platform refused (credentials), not before refusedWait.
func TestForwarderRefusalWaitsLonger(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		wait time.Duration // the next attempt is not due before
	}{
		{"network", errors.New("dial tcp: connection refused"), 0},
		{"refused", fmt.Errorf("mqtt: connect: %w: bad user name or password", drivers.ErrRefused), refusedWait},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := clock.NewFake(time.Unix(1_764_388_800, 0))
			sink := &refusingSink{fakeSink: &fakeSink{}, err: c.err, connects: make(chan struct{}, 4)}
			fwd := newTestForwarder(sink, buffer.NewMemory(buffer.Options{}))
			fwd.clock, fwd.retry = clk, backoff{min: time.Second, max: 4 * time.Second}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); fwd.run(ctx) }()
			defer func() { cancel(); <-done }()
			<-sink.connects
			waitFor(t, 5*time.Second, func() bool { return clk.Waiters() > 0 })
			clk.Advance(4*time.Second + time.Millisecond) // reconnect_max
			grace := 5 * time.Second                      // real time for a retry that is due to come
			if c.wait > 0 {
				grace = 200 * time.Millisecond // for one that must not
			}
			select {
			case <-sink.connects:
				if c.wait > 0 {
					t.Fatalf("retried after 4s; a refusal waits %v", c.wait)
				}
				return
			case <-time.After(grace):
				if c.wait == 0 {
					t.Fatal("no retry within reconnect_max after a network failure")
				}
			}
			clk.Advance(c.wait)
			select {
			case <-sink.connects:
			case <-time.After(5 * time.Second):
				t.Fatalf("no retry %v after a refusal", c.wait)
			}
		})
	}
}

// The forwarder keeps about maxBytes of payload in flight, not a window
// of the largest messages: with the broker silent it stops publishing
// once the bound is reached (one message over at most), a backlog from
// before the connection at half of it (backlogShare); after the
// connection is cut there, it goes on, in order, as PUBACKs free the
// bytes.
func TestForwarderBoundsBytesInFlight(t *testing.T) {
	box := buffer.NewMemory(buffer.Options{})
	sink := &fakeSink{}
	fwd := newTestForwarder(sink, box) // window 16
	const limit, n = 10_000, 40
	fwd.maxBytes = limit
	appendRecords(t, box, 0, n)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); fwd.run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor(t, 5*time.Second, func() bool { return len(sink.messages()) > 0 }) // the birth status
	sink.ackAll()                                                              // before the pump starts: only the status is pending
	msgs := checkInFlight(t, sink, limit/backlogShare)
	// The connection drops with the bound reached: the lost deliveries
	// free their bytes, or the next session could never publish.
	sink.cut()
	go func() {
		for ctx.Err() == nil {
			sink.ackSome()
			time.Sleep(time.Millisecond)
		}
	}()
	waitFor(t, 10*time.Second, func() bool { return box.Stats().Lanes[buffer.LaneData].Depth == 0 })
	var prev uint64
	for _, m := range sink.messages()[1+msgs:] { // after the cut: the birth, then the records again
		if !strings.HasSuffix(m.Topic, "/data") {
			continue
		}
		dm, err := wire.Decode(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if dm.Seq <= prev {
			t.Fatalf("seq %d after %d", dm.Seq, prev)
		}
		prev = dm.Seq
	}
	if prev != n {
		t.Fatalf("last seq sent %d, want %d", prev, n)
	}
	if fwd.inflightBytes.Load() != 0 {
		t.Fatalf("%d bytes still counted in flight", fwd.inflightBytes.Load())
	}
}

// Live data, appended after the connection began, may fill the whole
// byte bound (only a backlog is held to its share).
func TestForwarderLiveUsesWholeByteBound(t *testing.T) {
	box := buffer.NewMemory(buffer.Options{})
	sink := &fakeSink{}
	fwd := newTestForwarder(sink, box) // window 16
	const limit = 10_000
	fwd.maxBytes = limit
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); fwd.run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 5*time.Second, func() bool { return len(sink.messages()) > 0 }) // the birth status: the session has begun
	sink.ackAll()
	appendRecords(t, box, 0, 40)
	checkInFlight(t, sink, limit)
	sink.cut() // the deliveries fail now, not at the forwarder's grace on shutdown
}

// appendRecords appends records from..to-1 of about 2 KB each.
func appendRecords(t *testing.T, box buffer.Outbox, from, to int) {
	t.Helper()
	pad := strings.Repeat("x", 2000)
	for i := from; i < to; i++ {
		body := fmt.Appendf(nil, `"historical":false,"samples":[{"point":"p","ts":%d,"value":"%s","quality":"good"}]`, i, pad)
		if _, err := box.Append([]buffer.Record{{Lane: buffer.LaneData, Boot: "b1", Created: time.Now(), Payload: body}}); err != nil {
			t.Fatal(err)
		}
	}
}

// checkInFlight waits for data messages to be published to a silent
// broker and checks that they stop at about bound bytes; it returns how
// many were published.
func checkInFlight(t *testing.T, sink *fakeSink, bound int) int {
	t.Helper()
	data := func() (msgs, bytes int) {
		for _, m := range sink.messages() {
			if strings.HasSuffix(m.Topic, "/data") {
				msgs++
				bytes += len(m.Payload)
			}
		}
		return msgs, bytes
	}
	waitFor(t, 5*time.Second, func() bool { m, _ := data(); return m > 0 })
	time.Sleep(50 * time.Millisecond) // room to overshoot, if the bound did not hold
	msgs, bytes := data()
	size := bytes / msgs
	if msgs >= 16 || bytes > bound+size {
		t.Fatalf("%d messages (%d bytes) in flight with none acknowledged; want about %d bytes", msgs, bytes, bound)
	}
	if bytes < bound-size {
		t.Fatalf("only %d bytes in flight; the bound is %d", bytes, bound)
	}
	return msgs
}
