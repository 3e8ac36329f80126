package buffer

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestDeferredAckFailure: when the commit holding a deferred ack fails,
// the next Ack reports it and the records go back to pending, so they are
// sent and acked again instead of staying unsendable. The failure is the
// writer's own (broken, as after a failed reopen), set before the Flush
// that carries it to the writer.
func TestDeferredAckFailure(t *testing.T) {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "outbox.db"), Options{MaxBytes: 1 << 20, AckDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		b.broken = nil // the writer has exited: Close waited for it
		b.db.Close()
	}()
	defer b.Close()
	if _, err := b.Append([]Record{{Lane: LaneData, Payload: []byte("a")}, {Lane: LaneData, Payload: []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	out, err := b.Begin(10)
	if err != nil || len(out) != 2 {
		t.Fatalf("Begin: %d, %v", len(out), err)
	}
	if err := b.Ack(out); err != nil {
		t.Fatal(err)
	}
	injected := errors.New("injected I/O error")
	b.broken = injected // ordered before the writer reads it by the Flush request's send
	if err := b.Flush(); !errors.Is(err, injected) {
		t.Fatalf("Flush: %v, want the injected error", err)
	}
	again, err := b.Begin(10)
	if err != nil || len(again) != 2 {
		t.Fatalf("after the failed deletion Begin gave %d records (%v), want both again", len(again), err)
	}
	if d := b.Stats().Lanes[LaneData].Depth; d != 2 {
		t.Errorf("depth %d, want 2", d)
	}
	if err := b.Ack(again); !errors.Is(err, injected) {
		t.Errorf("next Ack: %v, want the injected error reported", err)
	}
}
