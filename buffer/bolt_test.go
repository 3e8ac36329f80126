package buffer_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"canary/buffer"
	"canary/buffer/buffertest"
)

// openBolt opens dir/outbox.db and, when the test ends, closes it and runs
// the consistency checker on the file.
func openBolt(t *testing.T, dir string, opts buffer.Options) *buffer.Bolt {
	t.Helper()
	path := filepath.Join(dir, "outbox.db")
	b, err := buffer.OpenBolt(path, opts)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil && !errors.Is(err, buffer.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
		if err := buffer.Check(path); err != nil {
			t.Errorf("consistency check: %v", err)
		}
	})
	return b
}

func TestBoltConformance(t *testing.T) {
	buffertest.Run(t, func(t *testing.T, dir string) buffer.Outbox {
		return openBolt(t, dir, buffertest.Options())
	}, true)
}

// The suite again with compression on: its payloads are incompressible,
// so it checks that compression is transparent, not that it pays.
func TestBoltConformanceCompressed(t *testing.T) {
	buffertest.Run(t, func(t *testing.T, dir string) buffer.Outbox {
		o := buffertest.Options()
		o.Compress = true
		return openBolt(t, dir, o)
	}, true)
}

func TestBoltCorrupt(t *testing.T) {
	garbage := make([]byte, 4*4096)
	for i := range garbage {
		garbage[i] = byte(i * 31)
	}
	for name, content := range map[string][]byte{
		"garbage":   garbage,
		"truncated": garbage[:10],
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := buffer.OpenBolt(path, buffertest.Options())
			if err == nil {
				b.Close()
			}
			if !errors.Is(err, buffer.ErrCorrupt) {
				t.Errorf("OpenBolt on %s file: %v, want ErrCorrupt", name, err)
			}
		})
	}
}

func TestBoltCorruptValue(t *testing.T) {
	dir := t.TempDir()
	b := openBolt(t, dir, buffertest.Options())
	if _, err := b.Append([]buffer.Record{{Lane: buffer.LaneData, Payload: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := buffer.CorruptValueForTest(b.Path()); err != nil {
		t.Fatal(err)
	}
	if _, err := buffer.OpenBolt(b.Path(), buffertest.Options()); !errors.Is(err, buffer.ErrCorrupt) {
		t.Errorf("OpenBolt with a bad value: %v, want ErrCorrupt", err)
	}
	if err := buffer.Check(b.Path()); !errors.Is(err, buffer.ErrCorrupt) {
		t.Errorf("Check with a bad value: %v, want ErrCorrupt", err)
	}
	// Repair it so the cleanup check passes.
	if err := os.Remove(b.Path()); err != nil {
		t.Fatal(err)
	}
	openBolt(t, dir, buffertest.Options()).Close()
}

func TestBoltLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the lock timeout")
	}
	dir := t.TempDir()
	b := openBolt(t, dir, buffertest.Options())
	_, err := buffer.OpenBolt(b.Path(), buffertest.Options())
	if !errors.Is(err, buffer.ErrLocked) {
		t.Errorf("second OpenBolt: %v, want ErrLocked", err)
	}
}

// TestBoltCountsCommits: Stats.Commits counts durable transactions, one
// for each Append and Ack that commits on its own, none for a failed one.
func TestBoltCountsCommits(t *testing.T) {
	b := openBolt(t, t.TempDir(), buffertest.Options())
	if n := b.Stats().Commits; n != 0 {
		t.Fatalf("%d commits after open, want 0", n)
	}
	recs, err := b.Append([]buffer.Record{{Lane: buffer.LaneData, Payload: []byte("a")}, {Lane: buffer.LaneData, Payload: []byte("b")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append([]buffer.Record{{Lane: buffer.LaneEvent, Payload: []byte("c")}}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Begin(10)
	if err != nil || len(got) != 3 {
		t.Fatalf("Begin: %d records, %v", len(got), err)
	}
	if err := b.Ack(got); err != nil {
		t.Fatal(err)
	}
	if n := b.Stats().Commits; n != 3 {
		t.Errorf("%d commits after two appends and one ack, want 3", n)
	}
	if err := b.Ack(recs); err == nil { // acked already: refused, nothing committed
		t.Error("second ack of the same records accepted")
	}
	if n := b.Stats().Commits; n != 3 {
		t.Errorf("%d commits after a refused ack, want 3", n)
	}
}

// The suite again with deferred acks: what the suite checks after an Ack
// holds once the deletion has committed, which Close and the next Append
// force, and AckDelay bounds.
func TestBoltConformanceDeferredAcks(t *testing.T) {
	buffertest.Run(t, func(t *testing.T, dir string) buffer.Outbox {
		o := buffertest.Options()
		o.AckDelay = 20 * time.Millisecond
		return openBolt(t, dir, o)
	}, true)
}
