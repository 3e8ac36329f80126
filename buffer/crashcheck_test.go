package buffer_test

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"canary/buffer"
	"canary/buffer/buffertest"
)

// TestCrash kills a writer at random moments and checks the outbox after
// each kill. The same file carries over from one kill to the next, so
// recovery from recovery is covered too.
func TestCrash(t *testing.T) { crashTest(t, false) }

// TestCrashDeferredAcks: the same with deferred acks (Options.AckDelay, as
// the agent runs): a record whose Ack returned may survive a kill (it is
// sent again), but nothing else changes: no loss, no damage, no seq reused.
func TestCrashDeferredAcks(t *testing.T) { crashTest(t, true) }

func crashTest(t *testing.T, deferred bool) {
	iters := crashIters()
	seed := uint64(time.Now().UnixNano())
	t.Logf("%d iterations, seed %d", iters, seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	path := filepath.Join(t.TempDir(), "outbox.db")
	st := newCrashState()
	st.deferred = deferred
	var during map[string]int = map[string]int{}
	for i := range iters {
		lines, err := runCrashChild(t, path, uint64(i+1), rng, deferred)
		if err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		during[killedDuring(lines)]++
		if err := st.absorb(lines); err != nil {
			t.Fatalf("iteration %d: log: %v", i, err)
		}
		if err := st.verify(path, uint64(i+1)); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
	}
	t.Logf("%d appends and %d acks logged, %d gaps seen", len(st.appended), len(st.acked), len(st.gaps))
	if deferred {
		t.Logf("%d acked records survived a kill before their deletion committed", st.survived)
	}
	t.Logf("kills by what was unfinished: %v", during)
}

// killedDuring names what the log shows unfinished at the kill: a
// compaction, an Ack, or neither (append and eviction run all the time).
func killedDuring(lines []string) string {
	compacting, acking := false, 0
	for _, ln := range lines {
		switch {
		case ln == "c":
			compacting = true
		case ln == "C":
			compacting = false
		case strings.HasPrefix(ln, "P "):
			acking++
		case strings.HasPrefix(ln, "K "):
			acking--
		}
	}
	switch {
	case len(lines) == 0:
		return "open"
	case compacting:
		return "compaction"
	case acking > 0:
		return "ack"
	}
	return "append/evict"
}

// crashCommand re-executes the test binary. Under qemu-user without
// binfmt_misc the kernel cannot run an ARM binary, so it goes through
// qemu-arm-static explicitly.
func crashCommand(args ...string) *exec.Cmd {
	if runtime.GOARCH == "arm" {
		if q, err := exec.LookPath("qemu-arm-static"); err == nil && os.Getenv("CANARY_CRASH_NO_QEMU") == "" {
			return exec.Command(q, append([]string{os.Args[0]}, args...)...)
		}
	}
	return exec.Command(os.Args[0], args...)
}

// runCrashChild starts a writer, kills it after 0-150 ms (counted from its
// start or from its open, alternately) and returns its log.
func runCrashChild(t *testing.T, path string, iter uint64, rng *rand.Rand, deferred bool) ([]string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := crashCommand("-test.run=^TestCrashWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path, fmt.Sprintf("%s=%d", crashIterEnv, iter))
	if deferred {
		cmd.Env = append(cmd.Env, crashAckDelayEnv+"=1")
	}
	cmd.ExtraFiles = []*os.File{w}
	var stderr limitedBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		w.Close()
		skipUnlessCI(t, "buffer: cannot re-exec the test binary for the crash test (%v); it needs binfmt_misc or qemu-arm-static on PATH", err)
	}
	w.Close()
	ready := make(chan struct{})
	logc := make(chan []string, 1)
	go func() { logc <- readCrashLog(r, ready) }()
	if iter%2 == 0 {
		select {
		case <-ready:
		case <-time.After(20 * time.Second):
		}
	}
	time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond) // the one sleep: a random kill moment
	cmd.Process.Signal(syscall.SIGKILL)
	werr := cmd.Wait()
	lines := <-logc
	var ee *exec.ExitError
	if errors.As(werr, &ee) && ee.ExitCode() >= 0 { // exited by itself: the writer failed
		return nil, fmt.Errorf("writer exited: %v: %s", werr, stderr.String())
	}
	return lines, nil
}

func readCrashLog(r io.Reader, ready chan struct{}) []string {
	var lines []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if sc.Text() == "R" {
			close(ready)
		}
		lines = append(lines, sc.Text())
	}
	return lines
}

type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b) < 4096 {
		l.b = append(l.b, p[:min(len(p), 4096-len(l.b))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

type crashKey struct {
	lane buffer.Lane
	seq  uint64
}

// crashState is everything the writers reported over all iterations.
type crashState struct {
	appended map[crashKey]uint64 // -> payload id, every Append ever returned
	live     map[crashKey]uint64 // appended and not yet seen gone
	acked    map[crashKey]bool
	tried    map[crashKey]bool // Ack called, maybe committed
	gaps     []buffer.Gap      // sorted by lane, then FromSeq, when sorted is true
	sorted   bool
	maxSeq   [2]uint64
	deferred bool // the writer deferred its acks: an acked record may survive a kill
	survived int  // acked records found after a kill (deferred only)
}

func newCrashState() *crashState {
	return &crashState{appended: map[crashKey]uint64{}, live: map[crashKey]uint64{}, acked: map[crashKey]bool{}, tried: map[crashKey]bool{}}
}

func (s *crashState) absorb(lines []string) error {
	for _, ln := range lines {
		var lane buffer.Lane
		var a, b uint64
		switch {
		case ln == "R", ln == "c", ln == "C":
		case scan(ln, "A %d %d %d", &lane, &a, &b):
			k := crashKey{lane, a}
			if old, ok := s.appended[k]; ok && old != b {
				return fmt.Errorf("%s seq %d returned twice, for ids %d and %d", lane, a, old, b)
			}
			s.appended[k] = b
			s.live[k] = b
			s.maxSeq[lane] = max(s.maxSeq[lane], a)
		case scan(ln, "G %d %d %d", &lane, &a, &b):
			s.addGap(buffer.Gap{Lane: lane, FromSeq: a, ToSeq: b})
		case scan(ln, "P %d %d", &lane, &a):
			s.tried[crashKey{lane, a}] = true
		case scan(ln, "K %d %d", &lane, &a):
			s.acked[crashKey{lane, a}] = true
		default:
			return fmt.Errorf("bad line %q", ln)
		}
	}
	return nil
}

func scan(line, format string, args ...any) bool {
	n, err := fmt.Sscanf(line, format, args...)
	return err == nil && n == len(args)
}

func (s *crashState) addGap(g buffer.Gap) {
	s.gaps = append(s.gaps, g)
	s.sorted = false
}

// covered says whether a gap covers k. Eviction runs take disjoint seq
// ranges, so the last gap starting at or before k is the only candidate.
func (s *crashState) covered(k crashKey) bool {
	if !s.sorted {
		slices.SortFunc(s.gaps, func(a, b buffer.Gap) int {
			return cmp.Or(cmp.Compare(a.Lane, b.Lane), cmp.Compare(a.FromSeq, b.FromSeq))
		})
		s.sorted = true
	}
	i, _ := slices.BinarySearchFunc(s.gaps, k, func(g buffer.Gap, k crashKey) int {
		return cmp.Or(cmp.Compare(g.Lane, k.lane), cmp.Compare(g.FromSeq, k.seq+1))
	})
	return i > 0 && s.gaps[i-1].Lane == k.lane && s.gaps[i-1].ToSeq >= k.seq
}

// verify checks the file after a kill, then appends one record itself to
// prove seqs continue past everything ever seen.
func (s *crashState) verify(path string, iter uint64) error {
	if err := buffer.Check(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	b, err := buffer.OpenBolt(path, crashOpts())
	if err != nil {
		return err
	}
	defer b.Close()
	recs, err := b.Begin(1 << 30)
	if err != nil {
		return err
	}
	present, err := s.scanPresent(recs)
	if err != nil {
		return err
	}
	if err := s.checkLogged(present); err != nil {
		return err
	}
	return s.appendNext(b, iter)
}

// scanPresent checks order and content of what is stored and learns the
// gaps it holds.
func (s *crashState) scanPresent(recs []buffer.Record) (map[crashKey]uint64, error) {
	present := map[crashKey]uint64{}
	var last [2]uint64
	for _, r := range recs {
		k := crashKey{r.Lane, r.Seq}
		if r.Seq <= last[r.Lane] {
			return nil, fmt.Errorf("%s seq %d after %d", r.Lane, r.Seq, last[r.Lane])
		}
		last[r.Lane] = r.Seq
		s.maxSeq[r.Lane] = max(s.maxSeq[r.Lane], r.Seq)
		if g, err := buffertest.DecodeGap(r.Payload); err == nil && r.Lane == buffer.LaneEvent {
			s.addGap(g)
			continue
		}
		id, err := payloadID(r.Payload)
		if err != nil {
			return nil, fmt.Errorf("%s seq %d: %w", r.Lane, r.Seq, err)
		}
		present[k] = id
	}
	return present, nil
}

// checkLogged checks every record not yet seen gone; once gone it stays
// gone (its seq is never reused), so it is not checked again.
func (s *crashState) checkLogged(present map[crashKey]uint64) error {
	for k, id := range s.live {
		got, ok := present[k]
		if !ok {
			delete(s.live, k)
		}
		switch {
		case ok && got != id:
			return fmt.Errorf("%s seq %d holds id %d, Append returned it for id %d", k.lane, k.seq, got, id)
		case ok && s.acked[k] && !s.deferred:
			return fmt.Errorf("%s seq %d still stored after its Ack returned", k.lane, k.seq)
		case ok && s.acked[k]:
			s.survived++
			delete(s.acked, k) // pending again: the next writer acks it anew
		case !ok && !s.tried[k] && !s.covered(k):
			return fmt.Errorf("%s seq %d (id %d) lost: not acked, no gap covers it", k.lane, k.seq, id)
		}
	}
	return nil
}

func (s *crashState) appendNext(b *buffer.Bolt, iter uint64) error {
	for _, l := range buffer.Lanes {
		if next := b.Stats().Lanes[l].NextSeq; next <= s.maxSeq[l] {
			return fmt.Errorf("%s next seq %d, but %d was seen", l, next, s.maxSeq[l])
		}
	}
	id := iter*1_000_000 + 999_999
	out, err := b.Append([]buffer.Record{{Lane: buffer.LaneData, Payload: crashPayload(id)}})
	if err != nil {
		return err
	}
	return s.absorb([]string{fmt.Sprintf("A %d %d %d", out[0].Lane, out[0].Seq, id)})
}
