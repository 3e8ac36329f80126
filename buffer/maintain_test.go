package buffer_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"canary/buffer"
	"canary/buffer/buffertest"
)

func jsonBody(i int) []byte {
	var b strings.Builder
	b.WriteString(`"historical":true,"samples":[`)
	for p := range 20 {
		if p > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"point":"GT-%03d","ts":%d,"value":%d.%d,"quality":"good"}`, p, 1764388800000+int64(i)*1000, (i+p)%40, p%10)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// Compaction after a backlog drained shrinks the file, and records
// appended while it runs (they wait in the writer's queue) are all kept.
func TestBoltCompactKeepsConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	o := buffertest.Options()
	o.MaxBytes, o.CompactMinSize = 64<<20, -1
	b := openBolt(t, dir, o)
	for range 40 {
		recs := make([]buffer.Record, 100)
		for i := range recs {
			recs[i] = buffer.Record{Lane: buffer.LaneData, Payload: buffertest.Payload(i, 900)}
		}
		if _, err := b.Append(recs); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := b.Begin(1 << 30)
	if err := b.Ack(all[:len(all)-10]); err != nil {
		t.Fatal(err)
	}
	b.Nack(all[len(all)-10:])
	before := b.Stats().Bytes
	var wg sync.WaitGroup
	appended := make(chan buffer.Record, 200)
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				out, err := b.Append([]buffer.Record{{Lane: buffer.LaneEvent, Payload: []byte(fmt.Sprintf("e%d-%d", g, i))}})
				if err != nil {
					t.Error(err)
					return
				}
				appended <- out[0]
			}
		})
	}
	if err := b.Compact(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(appended)
	st := b.Stats()
	if st.Compactions != 1 || st.Bytes >= before/4 {
		t.Errorf("file %d bytes before, %d after %d compactions", before, st.Bytes, st.Compactions)
	}
	got, _ := b.Begin(1 << 30)
	if len(got) != 200+10 {
		t.Fatalf("%d records after compaction, want 210", len(got))
	}
	want := map[uint64]string{}
	for r := range appended {
		want[r.Seq] = string(r.Payload)
	}
	for _, r := range got {
		if r.Lane == buffer.LaneEvent && want[r.Seq] != string(r.Payload) {
			t.Errorf("event %d: %q, want %q", r.Seq, r.Payload, want[r.Seq])
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "outbox.db.compact")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary copy left behind: %v", err)
	}
}

// The writer compacts by itself once the file is over the floor and more
// than twice the live data, at most once per CompactInterval.
func TestBoltAutoCompact(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	var mu sync.Mutex
	o := buffertest.Options()
	o.MaxBytes, o.CompactMinSize, o.CompactInterval = 64<<20, 1<<20, time.Hour
	o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b := openBolt(t, fastDir(t), o) // tmpfs: the trigger is under test, not the disk
	fill := func() {
		for i := range 30 {
			recs := make([]buffer.Record, 100)
			for j := range recs {
				recs[j] = buffer.Record{Lane: buffer.LaneData, Payload: buffertest.Payload(i*100+j, 500)}
			}
			if _, err := b.Append(recs); err != nil {
				t.Fatal(err)
			}
		}
		all, _ := b.Begin(1 << 30)
		if err := b.Ack(all); err != nil {
			t.Fatal(err)
		}
	}
	fill()
	b.Append([]buffer.Record{{Lane: buffer.LaneData}}) // a commit after the drain: the trigger runs
	if n := b.Stats().Compactions; n != 0 {
		t.Errorf("compacted %d times within CompactInterval of open", n)
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	b.Append([]buffer.Record{{Lane: buffer.LaneData}})
	b.Append([]buffer.Record{{Lane: buffer.LaneData}}) // queued behind the compaction the first one triggered
	if st := b.Stats(); st.Compactions != 1 || st.Bytes > 1<<20 {
		t.Errorf("after the interval: %d compactions, file %d bytes", st.Compactions, st.Bytes)
	}
	fill()
	b.Append([]buffer.Record{{Lane: buffer.LaneData}})
	if n := b.Stats().Compactions; n != 1 {
		t.Errorf("compacted again within the interval: %d", n)
	}
}

// Retained records are kept after Ack, go first when space is needed
// (before anything unsent, with no gap record) and expire by age.
func TestBoltRetain(t *testing.T) {
	now := buffertest.Epoch
	var mu sync.Mutex
	o := buffertest.Options()
	o.Retain = 24 * time.Hour
	o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	dir := t.TempDir()
	b := openBolt(t, dir, o)
	app := func(n int) {
		for i := range n {
			if _, err := b.Append([]buffer.Record{{Lane: buffer.LaneData, Payload: buffertest.Payload(i, buffertest.RecordSize)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	app(4)
	out, _ := b.Begin(4)
	if err := b.Ack(out); err != nil {
		t.Fatal(err)
	}
	st := b.Stats()
	if st.Retained.Records != 4 || st.Lanes[buffer.LaneData].Depth != 0 || !st.Retained.Oldest.Equal(buffertest.Epoch) {
		t.Fatalf("after ack: retained %+v, depth %d", st.Retained, st.Lanes[buffer.LaneData].Depth)
	}
	b.Close()
	b = openBolt(t, dir, o)
	if n := b.Stats().Retained.Records; n != 4 {
		t.Fatalf("%d retained after reopen, want 4", n)
	}
	app(5) // 9 KiB wanted of 8: retained records make room, unsent ones stay
	st = b.Stats()
	if st.Lanes[buffer.LaneData].Depth != 5 || st.Lanes[buffer.LaneData].Dropped != 0 || st.Lanes[buffer.LaneEvent].Depth != 0 {
		t.Errorf("unsent records touched while retained ones were left: %+v", st.Lanes)
	}
	if st.Retained.Records >= 4 {
		t.Errorf("retained records not evicted first: %+v", st.Retained)
	}
	mu.Lock()
	now = now.Add(25 * time.Hour)
	mu.Unlock()
	app(1)
	if st := b.Stats(); st.Retained.Records != 0 {
		t.Errorf("retained records older than Retain kept: %+v", st.Retained)
	}
}

func TestOpenOrResetMovesGarbageAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	garbage := make([]byte, 8192)
	for i := range garbage {
		garbage[i] = byte(i * 13)
	}
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	b, reset, err := buffer.OpenOrReset(path, buffertest.Options())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { b.Close() }()
	if reset == nil || !errors.Is(reset.Cause, buffer.ErrCorrupt) || !strings.HasPrefix(filepath.Base(reset.MovedTo), "outbox.db.corrupt-") {
		t.Fatalf("reset = %+v", reset)
	}
	kept, err := os.ReadFile(reset.MovedTo)
	if err != nil || string(kept) != string(garbage) {
		t.Errorf("damaged file not kept as is: %v", err)
	}
	got, err := b.Append([]buffer.Record{{Lane: buffer.LaneData, Payload: []byte("x")}, {Lane: buffer.LaneEvent, Payload: []byte("e")}})
	if err != nil {
		t.Fatalf("fresh outbox: %v", err)
	}
	// The lost file's seqs are unknown: the fresh one starts above any
	// it can have held (the time in ms), so the platform sees no repeat.
	floor := uint64(buffertest.Options().Now().UnixMilli())
	for _, r := range got {
		if r.Seq < floor {
			t.Errorf("%s seq %d after a reset, want at least %d", r.Lane, r.Seq, floor)
		}
	}
	b.Close()
	b, err = buffer.OpenBolt(path, buffertest.Options()) // the floor is persisted, not re-derived
	if err != nil {
		t.Fatal(err)
	}
	if next := b.Stats().Lanes[buffer.LaneData].NextSeq; next != got[0].Seq+1 {
		t.Errorf("after reopen next seq %d, want %d", next, got[0].Seq+1)
	}
}

func TestOpenOrResetKeepsGoodAndLocked(t *testing.T) {
	dir := t.TempDir()
	b := openBolt(t, dir, buffertest.Options())
	b.Append([]buffer.Record{{Lane: buffer.LaneData, Payload: []byte("x")}})
	if _, _, err := buffer.OpenOrReset(b.Path(), buffertest.Options()); !errors.Is(err, buffer.ErrLocked) {
		t.Errorf("locked file: %v, want ErrLocked", err)
	}
	b.Close()
	b2, reset, err := buffer.OpenOrReset(b.Path(), buffertest.Options())
	if err != nil || reset != nil {
		t.Fatalf("good file: reset %+v, err %v", reset, err)
	}
	defer b2.Close()
	if d := b2.Stats().Lanes[buffer.LaneData].Depth; d != 1 {
		t.Errorf("depth %d after reopening a good file", d)
	}
}
