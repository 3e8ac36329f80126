// Package bench holds reproducible end-to-end benchmarks of the real canary
// binary. They are benchmarks only: a plain `go test ./...` runs none of
// them, and -short skips them. See RESULTS.md for how to run them and the
// figures of the last run.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"canary/agent/wire"
	"canary/drivers/modbus/modbustest"
	"canary/drivers/mqtt/mqtttest"
)

const (
	warmup  = 3 * time.Second
	measure = 10 * time.Second
	clkTck  = 100 // USER_HZ on Linux
)

// BenchmarkSpine runs the real binary between a Modbus server whose
// registers all change every 50 ms and a real Mosquitto, and measures a
// fixed 10 s window after a 3 s warm-up. It ignores b.N: each
// sub-benchmark runs once and reports its figures with ReportMetric.
func BenchmarkSpine(b *testing.B) {
	if testing.Short() {
		b.Skip("spine benchmark: skipped with -short")
	}
	bin := buildCanary(b)
	for _, c := range []struct {
		points    int
		intervals []time.Duration
	}{
		{200, []time.Duration{100 * time.Millisecond}},
		{2000, []time.Duration{100 * time.Millisecond, time.Second}},
	} {
		b.Run(fmt.Sprintf("points=%d", c.points), func(b *testing.B) {
			for _, iv := range c.intervals {
				b.Run(fmt.Sprintf("interval=%v", iv), func(b *testing.B) {
					runSpine(b, bin, c.points, iv)
				})
			}
		})
	}
}

func runSpine(b *testing.B, bin string, points int, interval time.Duration) {
	broker := mqtttest.StartMosquitto(b)
	srv := modbustest.Start(b)
	stopChanger := changeEvery50ms(srv, points)
	defer stopChanger()

	sub := newSubscriber(b, broker.URL())
	dir := b.TempDir()
	cfg := writeConfig(b, dir, srv.Addr(), broker.URL(), points, interval)
	a := startAgent(b, bin, cfg, dir)

	// Warm-up: wait for the first sample, then 3 s more.
	deadline := time.Now().Add(15 * time.Second)
	for sub.total() == 0 {
		if time.Now().After(deadline) {
			b.Fatalf("no sample delivered within 15 s of starting the agent\n%s", a.stderrTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(warmup)

	b.ResetTimer()
	cpu0, err := cpuTicks(a.pid())
	if err != nil {
		b.Fatal(err)
	}
	req0 := srv.Requests()
	start := time.Now()
	sub.startWindow(start)
	var rss []float64
	tick := time.NewTicker(250 * time.Millisecond)
	for time.Since(start) < measure {
		<-tick.C
		if r, err := rssMiB(a.pid()); err == nil {
			rss = append(rss, r)
		}
	}
	tick.Stop()
	cpu1, err := cpuTicks(a.pid())
	if err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	lat, n, msgs := sub.endWindow()
	req1 := srv.Requests()
	b.StopTimer()

	a.stop(b)

	if n == 0 {
		b.Fatalf("no sample delivered in the measurement window\n%s", a.stderrTail())
	}
	cpuSec := float64(cpu1-cpu0) / clkTck
	sec := elapsed.Seconds()
	slices.Sort(lat)
	b.ReportMetric(0, "ns/op") // a fixed wall window: ns/op means nothing
	b.ReportMetric(float64(n)/sec, "samples/s")
	b.ReportMetric(float64(points)/interval.Seconds(), "expected-samples/s")
	b.ReportMetric(float64(msgs)/sec, "data-msgs/s")
	b.ReportMetric(float64(req1-req0)/sec, "modbus-reads/s")
	b.ReportMetric(cpuSec/(float64(n)/1e6), "cpu-s/Msample")
	if cpuSec > 0 {
		b.ReportMetric(float64(n)/cpuSec, "samples/cpu-s")
	}
	b.ReportMetric(cpuSec/sec*100, "cpu-%")
	if len(rss) > 0 {
		var sum float64
		for _, r := range rss {
			sum += r
		}
		b.ReportMetric(sum/float64(len(rss)), "rss-avg-MiB")
		b.ReportMetric(slices.Max(rss), "rss-max-MiB")
	}
	b.ReportMetric(pct(lat, 0.50), "p50-ms")
	b.ReportMetric(pct(lat, 0.90), "p90-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1]), "max-ms")
	b.Logf("latency ms: p10 %v p50 %v p90 %v p95 %v p99 %v p99.9 %v max %v; %d samples in %d data messages",
		pct(lat, .10), pct(lat, .50), pct(lat, .90), pct(lat, .95), pct(lat, .99), pct(lat, .999), lat[len(lat)-1], n, msgs)
}

// pct is the q-quantile of sorted (nearest rank).
func pct(sorted []int64, q float64) float64 {
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i])
}

// changeEvery50ms makes every register of points change every 50 ms:
// register i holds k+i at step k.
func changeEvery50ms(srv *modbustest.Server, points int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		vals := make([]uint16, points)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for k := uint16(1); ; k++ {
			for i := range vals {
				vals[i] = k + uint16(i)
			}
			srv.SetHolding(1, 0, vals...)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

func writeConfig(b *testing.B, dir, modbusAddr, brokerURL string, points int, interval time.Duration) string {
	var s strings.Builder
	fmt.Fprintf(&s, `version: 1
site: {id: bench-site, gateway: gw-01}
platform:
  mqtt: {url: %q, max_inflight: 256, reconnect_min: 200ms, reconnect_max: 1s}
buffer: {path: %q, max_bytes: 256MiB}
state_dir: %q
http: {listen: ""}
log: {level: warn}
devices:
  - id: rack
    driver: modbus
    transport: tcp
    address: %q
    interval: %v
    timeout: 500ms
    deadband: 0
    max_interval: 10s
    points:
`, brokerURL, filepath.Join(dir, "outbox.db"), dir, modbusAddr, interval)
	for i := 0; i < points; i++ {
		fmt.Fprintf(&s, "      - {id: P%04d, table: holding, address: %d, type: uint16}\n", i, i)
	}
	path := filepath.Join(dir, "canary.yaml")
	if err := os.WriteFile(path, []byte(s.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// subscriber is the platform: it counts the samples delivered on the data
// topic and their read→deliver latency. The paho callback only stamps the
// arrival time and queues the payload; decoding happens on another
// goroutine so it does not delay the next arrival's stamp.
type subscriber struct {
	c     paho.Client
	queue chan arrival
	done  chan struct{}

	mu      sync.Mutex
	all     int64
	inWin   bool
	winFrom time.Time
	winTo   time.Time // zero while the window is open
	n       int64
	msgs    int64
	lat     []int64
}

type arrival struct {
	at      time.Time
	payload []byte
}

func newSubscriber(b *testing.B, url string) *subscriber {
	s := &subscriber{queue: make(chan arrival, 1<<16), done: make(chan struct{})}
	o := paho.NewClientOptions().AddBroker(url).SetClientID("bench-platform").SetCleanSession(true).
		SetAutoReconnect(true).SetOrderMatters(true)
	o.SetOnConnectHandler(func(c paho.Client) {
		c.Subscribe("canary/#", 1, s.onMessage)
	})
	s.c = paho.NewClient(o)
	tok := s.c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscriber connect: %v", tok.Error())
	}
	go s.decode()
	b.Cleanup(func() {
		s.c.Disconnect(100)
		close(s.queue)
		<-s.done
	})
	return s
}

func (s *subscriber) onMessage(_ paho.Client, m paho.Message) {
	if !strings.HasSuffix(m.Topic(), "/data") {
		return
	}
	s.queue <- arrival{at: time.Now(), payload: m.Payload()}
}

func (s *subscriber) decode() {
	defer close(s.done)
	for a := range s.queue {
		m, err := wire.Decode(a.payload)
		if err != nil {
			continue
		}
		at := a.at.UnixMilli()
		s.mu.Lock()
		s.all += int64(len(m.Samples))
		if s.inWin && !a.at.Before(s.winFrom) && (s.winTo.IsZero() || a.at.Before(s.winTo)) {
			s.n += int64(len(m.Samples))
			s.msgs++
			for _, x := range m.Samples {
				s.lat = append(s.lat, at-x.TS)
			}
		}
		s.mu.Unlock()
	}
}

func (s *subscriber) total() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all
}

func (s *subscriber) startWindow(from time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inWin, s.winFrom, s.winTo, s.n, s.msgs, s.lat = true, from, time.Time{}, 0, 0, s.lat[:0]
}

// endWindow closes the window at the current time. Arrivals stamped
// before then but still queued for decoding are counted: it waits for the
// queue to drain.
func (s *subscriber) endWindow() (lat []int64, samples, msgs int64) {
	s.mu.Lock()
	s.winTo = time.Now()
	s.mu.Unlock()
	for i := 0; i < 500 && len(s.queue) > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the item being decoded
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inWin = false
	return s.lat, s.n, s.msgs
}

// agent is a running canary process.
type agent struct {
	cmd    *exec.Cmd
	stderr *os.File
	done   chan struct{}
}

func startAgent(b *testing.B, bin, cfg, dir string) *agent {
	f, err := os.Create(filepath.Join(dir, "agent.stderr"))
	if err != nil {
		b.Fatal(err)
	}
	a := &agent{cmd: exec.Command(bin, "run", "-c", cfg), stderr: f, done: make(chan struct{})}
	a.cmd.Stderr = f
	if err := a.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	b.Cleanup(func() {
		_ = a.cmd.Process.Kill()
		<-a.done
		f.Close()
	})
	return a
}

func (a *agent) pid() int { return a.cmd.Process.Pid }

func (a *agent) stop(b *testing.B) {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		b.Errorf("agent did not stop within 20 s of SIGTERM\n%s", a.stderrTail())
	}
}

func (a *agent) stderrTail() string {
	out, _ := os.ReadFile(a.stderr.Name())
	if len(out) > 4000 {
		out = out[len(out)-4000:]
	}
	return "agent stderr:\n" + string(out)
}

// cpuTicks is utime+stime of pid in clock ticks (/proc/PID/stat fields 14
// and 15).
func cpuTicks(pid int) (uint64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// comm (field 2) may hold spaces: fields restart after its ')'.
	i := bytes.LastIndexByte(raw, ')')
	f := strings.Fields(string(raw[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(f[14-3], 10, 64)
	st, err2 := strconv.ParseUint(f[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %v %v", pid, err1, err2)
	}
	return ut + st, nil
}

// rssMiB is VmRSS of pid in MiB.
func rssMiB(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// moduleRoot is the canary module root, two levels above this package.
func moduleRoot(b *testing.B) string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		b.Fatalf("module root not found at %s: %v", root, err)
	}
	return root
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// buildCanary builds the real binary once per run of the test binary.
func buildCanary(b *testing.B) string {
	root := moduleRoot(b)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "canary-bench-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "canary")
		cmd := exec.Command("go", "build", "-trimpath", "-o", binPath, ".")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binPath
}
