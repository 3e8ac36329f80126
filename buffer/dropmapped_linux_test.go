//go:build linux

package buffer_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"canary/buffer"
	"canary/tests/harness"
)

// rssFile is the process's resident file-backed memory (RssFile), in
// bytes. Under qemu-user it is the emulator's, which holds the guest's
// mappings, so the figure still moves with them.
func rssFile(t *testing.T) int64 {
	t.Helper()
	m, err := harness.ReadMem(os.Getpid())
	if err != nil {
		t.Skipf("no resident memory figures: %v", err)
	}
	return int64(m.File * (1 << 20))
}

// Reading a backlog maps the outbox file into the agent's RSS page by page;
// after the next commit (at most once a second, by the outbox's clock) the
// outbox hands those pages back to the kernel, and the records it still
// holds read back intact.
func TestBoltDropsMappedPagesAfterReading(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC).UnixNano())
	opts := buffer.Options{Now: func() time.Time { return time.Unix(0, now.Load()) }}
	b := openBolt(t, t.TempDir(), opts)
	b.SetDropAfterReadForTest(1 << 40) // the commit's drop alone (the reads' own is tested below)

	const records, size = 4000, 4096 // 16 MB: well above the noise of other file pages
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[uint64][]byte{}
	for i := 0; i < records; i += 100 {
		batch := make([]buffer.Record, 100)
		for j := range batch {
			p := make([]byte, size)
			for k := range p {
				p[k] = byte(rng.Uint32())
			}
			batch[j] = buffer.Record{Lane: buffer.LaneData, Payload: p}
		}
		out, err := b.Append(batch)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out {
			want[r.Seq] = r.Payload
		}
	}
	before := rssFile(t)
	all, err := b.Begin(records)
	if err != nil || len(all) != records {
		t.Fatalf("Begin: %d records, %v", len(all), err)
	}
	read := rssFile(t)
	if read-before < records*size/2 {
		t.Skipf("reading %d MB mapped only %d KB more: this kernel does not show mapped pages in RssFile", records*size>>20, (read-before)>>10)
	}

	now.Add(int64(time.Second))
	if err := b.Ack(all[:records/2]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for rssFile(t) > read-records*size/2 {
		if time.Now().After(deadline) {
			t.Fatalf("RssFile %d KB before reading, %d KB after, %d KB 5 s after the next commit: the mapped pages were kept",
				before>>10, read>>10, rssFile(t)>>10)
		}
		time.Sleep(10 * time.Millisecond)
	}

	b.Nack(all[records/2:])
	// Reads drop what they mapped by volume, without waiting for the
	// writer's drop (the clock stands still: it makes none): a drain
	// reads faster than that comes.
	b.SetDropAfterReadForTest(1 << 20)
	low := rssFile(t)
	n := 0
	for n < records/2 { // as the forwarder drains: a window, its PUBACKs, the next
		got, err := b.Begin(64)
		if err != nil || len(got) == 0 {
			t.Fatalf("Begin after dropping pages: %d records, %v", len(got), err)
		}
		for _, r := range got {
			if !bytes.Equal(r.Payload, want[r.Seq]) {
				t.Fatalf("record %d changed after its pages were dropped", r.Seq)
			}
		}
		if err := b.Ack(got); err != nil {
			t.Fatal(err)
		}
		n += len(got)
	}
	if n != records/2 {
		t.Fatalf("read %d records after dropping pages, want %d", n, records/2)
	}
	if grew := rssFile(t) - low; grew > 4<<20 {
		t.Fatalf("reading %d MB with no drop by the writer left %d KB more mapped; want at most 4 MB (1 MB read between drops, and the pages around them)", records*size/2>>20, grew>>10)
	}
}
