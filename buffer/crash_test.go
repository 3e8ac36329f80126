package buffer_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"canary/buffer"
	"canary/buffer/buffertest"
)

// The crash test re-executes this test binary as a writer (TestCrashWriter
// with crashEnv set), SIGKILLs it at a random moment and checks what is on
// disk against what the writer reported through a pipe: each line is
// written only after the call it reports returned, so the log is a lower
// bound on what must have survived.
//
// Log lines:
//
//	R                    opened
//	A lane seq id        Append returned this record
//	G lane from to       a gap record seen by Begin, logged before its Ack
//	P lane seq           about to Ack this record: it may be gone from now on
//	K lane seq           Ack returned for this record: it must be gone
//	                     (with deferred acks it may survive a kill)
//	c                    about to compact
//	C                    compaction returned
//
// The writer runs with retention on (Ack moves records) and a small budget
// (Append evicts retained records, then data), and every other iteration
// compacts back to back, so kills land during append, ack, eviction and
// compaction.
const (
	crashEnv     = "CANARY_CRASH_WRITER" // db path; set only in the child
	crashIterEnv = "CANARY_CRASH_ITER"
	// crashAckDelayEnv set: the writer defers its acks by crashAckDelay,
	// within the kill window, so kills land before and after they commit.
	crashAckDelayEnv = "CANARY_CRASH_ACK_DELAY"
	crashAckDelay    = 50 * time.Millisecond
	crashBudget      = 64 << 10
)

func crashOpts() buffer.Options {
	o := buffertest.Options()
	o.MaxBytes = crashBudget
	o.Now = time.Now
	o.Retain = time.Hour
	o.Compress = true
	o.CompactMinSize = -1 // compactions come from the compactor goroutine
	if os.Getenv(crashAckDelayEnv) != "" {
		o.AckDelay = crashAckDelay
	}
	return o
}

func crashIters() int {
	if s := os.Getenv("CANARY_CRASH_ITERS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
		return 200
	}
	switch {
	case os.Getenv("CI") == "true":
		return 200
	case testing.Short():
		return 10
	}
	return 25
}

// crashPayload is self-verifying: an 8-byte id, then bytes derived from it.
func crashPayload(id uint64) []byte {
	p := binary.BigEndian.AppendUint64(nil, id)
	for j := range 20 + id%580 {
		p = append(p, byte(id*31+j))
	}
	return p
}

func payloadID(p []byte) (uint64, error) {
	if len(p) < 8 {
		return 0, fmt.Errorf("payload of %d bytes", len(p))
	}
	id := binary.BigEndian.Uint64(p)
	if string(p) != string(crashPayload(id)) {
		return id, fmt.Errorf("payload of id %d damaged", id)
	}
	return id, nil
}

// TestCrashWriter is the child side; it does nothing in a normal run.
func TestCrashWriter(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("helper process for TestCrash")
	}
	time.AfterFunc(30*time.Second, func() { os.Exit(3) }) // never outlive a lost parent
	iter, _ := strconv.ParseUint(os.Getenv(crashIterEnv), 10, 64)
	if err := runCrashWriter(path, iter, &crashLog{f: os.NewFile(3, "crashlog")}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

type crashLog struct {
	mu sync.Mutex
	f  *os.File
}

// write sends lines in one write; a pipe write under PIPE_BUF is atomic,
// so a kill never leaves half a line.
func (l *crashLog) write(lines []string) {
	for len(lines) > 0 {
		n := min(len(lines), 64)
		l.mu.Lock()
		l.f.WriteString(strings.Join(lines[:n], "\n") + "\n")
		l.mu.Unlock()
		lines = lines[n:]
	}
}

func runCrashWriter(path string, iter uint64, log *crashLog) error {
	b, err := buffer.OpenBolt(path, crashOpts())
	if err != nil {
		return err
	}
	log.write([]string{"R"})
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for g := range uint64(3) {
		wg.Go(func() { errs <- crashAppender(b, log, iter*1_000_000+g*100_000) })
	}
	wg.Go(func() { errs <- crashAcker(b, log, iter) })
	wg.Go(func() { errs <- crashCompactor(b, log, iter) })
	return <-errs
}

// crashCompactor compacts back to back on even iterations and every few
// milliseconds on odd ones.
func crashCompactor(b *buffer.Bolt, log *crashLog, iter uint64) error {
	for {
		if iter%2 == 1 {
			time.Sleep(5 * time.Millisecond)
		}
		log.write([]string{"c"})
		if err := b.Compact(); err != nil {
			return err
		}
		log.write([]string{"C"})
	}
}

func crashAppender(b *buffer.Bolt, log *crashLog, id uint64) error {
	for {
		recs := make([]buffer.Record, 1+id%4)
		for i := range recs {
			id++
			lane := buffer.LaneData
			if id%20 == 0 {
				lane = buffer.LaneEvent
			}
			recs[i] = buffer.Record{Lane: lane, Payload: crashPayload(id)}
		}
		out, err := b.Append(recs)
		if err != nil {
			return err
		}
		lines := make([]string, len(out))
		for i, r := range out {
			lines[i] = fmt.Sprintf("A %d %d %d", r.Lane, r.Seq, binary.BigEndian.Uint64(r.Payload))
		}
		log.write(lines)
	}
}

// crashAcker acks every event and about half of the data it begins and
// nacks the rest, so the outbox fills up and the budget has to evict.
func crashAcker(b *buffer.Bolt, log *crashLog, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	for {
		recs, err := b.Begin(8)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			<-b.Notify()
			continue
		}
		var ack, nack []buffer.Record
		var tried, acked []string
		for _, r := range recs {
			// Events always go, so the event lane never needs eviction
			// and every gap record stays visible to the checker.
			if r.Lane == buffer.LaneData && rng.IntN(2) == 0 {
				nack = append(nack, r)
				continue
			}
			if g, err := buffertest.DecodeGap(r.Payload); err == nil && r.Lane == buffer.LaneEvent {
				tried = append(tried, fmt.Sprintf("G %d %d %d", g.Lane, g.FromSeq, g.ToSeq))
			}
			tried = append(tried, fmt.Sprintf("P %d %d", r.Lane, r.Seq))
			ack = append(ack, r)
			acked = append(acked, fmt.Sprintf("K %d %d", r.Lane, r.Seq))
		}
		log.write(tried)
		if err := b.Ack(ack); err != nil {
			return err
		}
		log.write(acked)
		b.Nack(nack)
	}
}
