package agent

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"canary/agent/clock"
	"canary/agent/wire"
	"canary/buffer"
	"canary/config"
	"canary/drivers"
)

// faultBox is an outbox whose Append fails with err while err is set: a
// full disk, a read-only remount, bbolt's MaxSize.
type faultBox struct {
	buffer.Outbox
	mu  sync.Mutex
	err error
}

func (f *faultBox) fail(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

func (f *faultBox) Append(recs []buffer.Record) ([]buffer.Record, error) {
	f.mu.Lock()
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.Outbox.Append(recs)
}

func testGuard(box buffer.Outbox, clk *clock.Fake, logs io.Writer) *outboxGuard {
	return &outboxGuard{box: box, log: slog.New(slog.NewTextHandler(logs, nil)), now: clk.Now,
		gap: func(lane string, n int, reason string) []byte {
			return wire.AppendEvents(nil, false, []wire.Event{{Type: wire.TypeGap, State: "dropped", Lane: lane, Records: n, Reason: reason}})
		}}
}

func rec(l buffer.Lane, body string) buffer.Record {
	return buffer.Record{Lane: l, Payload: []byte(body)}
}

// While writes fail with ENOSPC or EROFS the agent keeps events in memory
// (bounded), drops and counts data, shows the condition, logs it once per
// change, and recovers by itself: the queued events first, in order, then
// a gap event with reason "disk".
func TestOutboxWriteFailureKeepsEventsAndRecovers(t *testing.T) {
	for _, cause := range []error{syscall.ENOSPC, syscall.EROFS, errors.New("bbolt: mmap size reached max size")} {
		t.Run(cause.Error(), func(t *testing.T) {
			mem := buffer.NewMemory(buffer.Options{})
			box := &faultBox{Outbox: mem}
			clk := clock.NewFake(time.UnixMilli(1_700_000_000_000))
			var logs strings.Builder
			g := testGuard(box, clk, &logs)

			g.append([]buffer.Record{rec(buffer.LaneEvent, "e0"), rec(buffer.LaneData, "d0")})
			box.fail(cause)
			for i := range 5 {
				g.append([]buffer.Record{rec(buffer.LaneEvent, "e"+string(rune('1'+i))), rec(buffer.LaneData, "d")})
				clk.Advance(100 * time.Millisecond)
			}
			werr, queued, dropped := g.condition()
			if !strings.Contains(werr, cause.Error()) || queued != 5 || dropped != 5 {
				t.Fatalf("condition while failing: %q, %d queued, %d dropped", werr, queued, dropped)
			}
			if n := strings.Count(logs.String(), "outbox cannot write"); n != 1 {
				t.Errorf("failure logged %d times, want once:\n%s", n, logs.String())
			}
			box.fail(nil)
			clk.Advance(retryEvery)
			g.retry() // the timer path: no scan needed
			werr, queued, _ = g.condition()
			if werr != "" || queued != 0 {
				t.Fatalf("not recovered: %q, %d queued", werr, queued)
			}
			g.append([]buffer.Record{rec(buffer.LaneEvent, "e6")})
			got, _ := mem.BeginSpan(100, buffer.Span{Lane: buffer.LaneEvent})
			var bodies []string
			for _, r := range got {
				bodies = append(bodies, string(r.Payload))
			}
			if len(bodies) != 8 || strings.Join(bodies[:6], " ") != "e0 e1 e2 e3 e4 e5" || bodies[7] != "e6" {
				t.Fatalf("events after recovery: %q", bodies)
			}
			var m wire.Message
			if err := json.Unmarshal([]byte("{"+bodies[6]+"}"), &m); err != nil || len(m.Events) != 1 ||
				m.Events[0].Type != "gap" || m.Events[0].Reason != "disk" || m.Events[0].Lane != "data" || m.Events[0].Records != 5 {
				t.Errorf("gap event %s (%v)", bodies[6], err)
			}
			if n := strings.Count(logs.String(), "outbox writes again"); n != 1 {
				t.Errorf("recovery logged %d times, want once", n)
			}
		})
	}
}

// The memory queue is bounded: the oldest waiting events give way, and
// the gap event counts them.
func TestOutboxWriteFailureQueueBounded(t *testing.T) {
	mem := buffer.NewMemory(buffer.Options{})
	box := &faultBox{Outbox: mem}
	clk := clock.NewFake(time.UnixMilli(0))
	g := testGuard(box, clk, io.Discard)
	box.fail(syscall.ENOSPC)
	for range maxQueuedEvents + 10 {
		g.append([]buffer.Record{rec(buffer.LaneEvent, "e")})
	}
	if _, queued, dropped := g.condition(); queued != maxQueuedEvents || dropped != 10 {
		t.Fatalf("%d queued, %d dropped; want %d and 10", queued, dropped, maxQueuedEvents)
	}
	box.fail(nil)
	clk.Advance(retryEvery)
	g.retry()
	got, _ := mem.BeginSpan(1<<20, buffer.Span{Lane: buffer.LaneEvent})
	last := got[len(got)-1].Payload
	if len(got) != maxQueuedEvents+1 || !strings.Contains(string(last), `"reason":"disk","lane":"event","records":10`) {
		t.Errorf("%d events stored, last %s", len(got), last)
	}
}

// An outbox file that is not a bbolt file is moved aside and kept; the
// agent starts with a fresh one, says so in an `agent` event and status,
// and delivers as usual.
func TestAgentOutboxCorruptMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	garbage := []byte(strings.Repeat("not a bbolt file ", 1000))
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	sink := &fakeSink{}
	a := testAgentWith(t, &fakeSource{}, sink, func(cfg *config.Config, o *Options) {
		cfg.Buffer.Path = path
		o.Outbox = nil
	})
	stop := runAgent(a, sink)
	waitFor(t, 5*time.Second, func() bool {
		for _, e := range sink.events(t) {
			if e.Type == "agent" && e.State == "outbox_reset" {
				return true
			}
		}
		return false
	})
	if st := a.status("online"); !strings.Contains(st.Outbox.Reset, "outbox.db.corrupt-") {
		t.Errorf("status outbox.reset = %q", st.Outbox.Reset)
	}
	if !a.Health().Active(WarnOutboxReset) {
		t.Errorf("no %s health warning", WarnOutboxReset)
	}
	stop()
	moved, _ := filepath.Glob(path + ".corrupt-*")
	if len(moved) != 1 {
		t.Fatalf("damaged files kept: %v", moved)
	}
	if b, err := os.ReadFile(moved[0]); err != nil || string(b) != string(garbage) {
		t.Errorf("damaged file not kept as it was: %v", err)
	}
	if err := buffer.Check(path); err != nil {
		t.Errorf("fresh outbox: %v", err)
	}
}

// testAgentWith is testAgent with a hook to change the config and options.
func testAgentWith(t *testing.T, src drivers.Source, sink *fakeSink, change func(*config.Config, *Options)) *Agent {
	cfg := testConfig(t)
	cfg.Devices = []config.Device{{ID: "dev", Driver: "fake", Points: []config.Point{{ID: "p"}}}}
	opts := testOptions(fakeRegistry(src), sink)
	change(&cfg, &opts)
	a, err := New(&cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The agent with a disk that fills up: it keeps scanning, status shows the
// write error and the events waiting in memory, and once writes succeed
// again (no scan needed: a timer retries) the platform gets the events
// and a gap event with reason "disk".
func TestAgentFullDiskRecovers(t *testing.T) {
	box := &faultBox{Outbox: buffer.NewMemory(buffer.Options{})}
	sink := &fakeSink{}
	src := &fakeSource{}
	a := testAgentWith(t, src, sink, func(_ *config.Config, o *Options) { o.Outbox = box })
	stop := runAgent(a, sink)
	defer stop()
	waitFor(t, 5*time.Second, func() bool { return len(sink.events(t)) >= 2 }) // started, device online
	box.fail(syscall.ENOSPC)
	src.failing.Store(true) // the device goes offline: an event while the disk is full
	waitFor(t, 5*time.Second, func() bool {
		st := a.status("online").Outbox
		return strings.Contains(st.WriteError, "no space left") && st.MemoryQueued >= 1 && st.DroppedDisk > 0
	})
	box.fail(nil)
	waitFor(t, 10*time.Second, func() bool {
		var offline, gap bool
		for _, e := range sink.events(t) {
			offline = offline || e.Type == "device" && e.State == "offline"
			gap = gap || e.Type == "gap" && e.Reason == "disk" && e.Lane == "data" && e.Records > 0
		}
		return offline && gap
	})
	if st := a.status("online").Outbox; st.WriteError != "" || st.MemoryQueued != 0 {
		t.Errorf("status after recovery: %+v", st)
	}
}
