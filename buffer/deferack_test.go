package buffer_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"canary/buffer"
	"canary/buffer/buffertest"
)

func deferredOpts(d time.Duration) buffer.Options {
	o := buffertest.Options()
	o.AckDelay = d
	return o
}

func appendData(t *testing.T, b *buffer.Bolt, n int) []buffer.Record {
	t.Helper()
	recs := make([]buffer.Record, n)
	for i := range recs {
		recs[i] = buffer.Record{Lane: buffer.LaneData, Payload: []byte{byte(i)}}
	}
	out, err := b.Append(recs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func waitStats(t *testing.T, b *buffer.Bolt, what string, ok func(buffer.Stats) bool) buffer.Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := b.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s: %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBoltDeferredAckSharesTheNextCommit: with AckDelay, Ack returns at
// once, the records are neither in flight nor counted nor handed out
// again, and their deletion commits in the next Append's transaction: one
// commit, not two.
func TestBoltDeferredAckSharesTheNextCommit(t *testing.T) {
	b := openBolt(t, t.TempDir(), deferredOpts(time.Hour))
	appendData(t, b, 3)
	out, err := b.Begin(10)
	if err != nil || len(out) != 3 {
		t.Fatalf("Begin: %d, %v", len(out), err)
	}
	if err := b.Ack(out); err != nil {
		t.Fatal(err)
	}
	st := b.Stats()
	if ls := st.Lanes[buffer.LaneData]; st.Commits != 1 || ls.Inflight != 0 || ls.Depth != 0 || ls.Bytes != 0 || !ls.Oldest.IsZero() {
		t.Errorf("after a deferred ack: %d commits (want 1, the append), lane %+v (want nothing in flight, queued or waiting)", st.Commits, ls)
	}
	if again, _ := b.Begin(10); len(again) != 0 {
		t.Errorf("acked records handed out again before their deletion committed: %d", len(again))
	}
	if err := b.Ack(out); err == nil {
		t.Error("a second Ack of the same records accepted")
	}
	appendData(t, b, 1)
	st = b.Stats()
	if st.Commits != 2 || st.Lanes[buffer.LaneData].Depth != 1 {
		t.Errorf("after the next append: %d commits (want 2), depth %d (want 1)", st.Commits, st.Lanes[buffer.LaneData].Depth)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := buffer.OpenBolt(b.Path(), buffertest.Options())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if d := r.Stats().Lanes[buffer.LaneData].Depth; d != 1 {
		t.Errorf("reopened: depth %d, want 1 (the acked three deleted in the append's commit)", d)
	}
}

// TestBoltDeferredAckCommitsAfterTheDelay: with nothing else to commit,
// the deletion is durable AckDelay after the ack.
func TestBoltDeferredAckCommitsAfterTheDelay(t *testing.T) {
	b := openBolt(t, t.TempDir(), deferredOpts(30*time.Millisecond))
	appendData(t, b, 2)
	out, _ := b.Begin(10)
	if err := b.Ack(out); err != nil {
		t.Fatal(err)
	}
	waitStats(t, b, "the held ack committed (append, then it: 2 commits)", func(s buffer.Stats) bool { return s.Commits == 2 })
}

// TestBoltDeferredAcksAreBounded: a drain acks faster than any delay; the
// writer commits once 512 acked records wait (maxHeldAcks), not later.
func TestBoltDeferredAcksAreBounded(t *testing.T) {
	o := deferredOpts(time.Hour)
	o.MaxBytes = 1 << 20
	b := openBolt(t, t.TempDir(), o)
	appendData(t, b, 600)
	out, _ := b.Begin(1000)
	before := b.Stats().Commits
	for i := 0; i < 600; i += 100 {
		if err := b.Ack(out[i : i+100]); err != nil {
			t.Fatal(err)
		}
	}
	waitStats(t, b, "a commit once 512 acked records wait", func(s buffer.Stats) bool { return s.Commits > before })
}

// TestBoltDeferredAckCloseAndCrash: Close commits the held deletions; a
// crash before they commit leaves the records stored (they are sent
// again: at least once, never lost).
func TestBoltDeferredAckCloseAndCrash(t *testing.T) {
	dir := t.TempDir()
	b := openBolt(t, dir, deferredOpts(time.Hour))
	appendData(t, b, 4)
	out, _ := b.Begin(10)
	if err := b.Ack(out[:3]); err != nil {
		t.Fatal(err)
	}
	// The file as a crash now would leave it: the last commit is the append.
	crashed := filepath.Join(t.TempDir(), "outbox.db")
	copyFile(t, b.Path(), crashed)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want int
	}{{b.Path(), 1}, {crashed, 4}} {
		r, err := buffer.OpenBolt(c.path, buffertest.Options())
		if err != nil {
			t.Fatal(err)
		}
		if d := r.Stats().Lanes[buffer.LaneData].Depth; d != c.want {
			t.Errorf("%s: depth %d after reopening, want %d", c.path, d, c.want)
		}
		r.Close()
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
