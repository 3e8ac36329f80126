// Package bench holds the reproducible end-to-end benchmarks of the real
// canary binary (see RESULTS.md): an independent Modbus TCP server whose
// registers change, a real Mosquitto, a subscriber standing in for the
// platform, and `canary run` in between. They are benchmarks only: a
// plain `go test ./...` runs none of them, and -short skips them.
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 60m ./tests/bench/
//
// prints Go benchmark lines and, at the end, one table of every scenario
// run. CANARY_BENCH_WINDOW (default 10s, at least 30 intervals) is the
// measurement window of the steady scenarios, CANARY_BENCH_OUTAGE
// (default 5m) the broker outage.
package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"canary/drivers/modbus/modbustest"
	"canary/drivers/mqtt/mqtttest"
	"canary/drivers/opcua/opcuatest"
	"canary/tests/harness"
)

// warmup is how long a rig runs after its first sample before anything
// is measured: 3 s or 15 scans, whichever is longer. At 1 s scans the
// start-up's garbage (the config parse) is collected and handed back only
// after about 10 s (anonymous memory 13-15 MiB at 10,000 points until
// then, 11-12 after); at 100 ms within 2 s.
func warmup(iv time.Duration) time.Duration { return max(3*time.Second, 15*iv) }

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// rig is one scenario's world.
type rig struct {
	broker *mqtttest.Mosquitto
	srv    *modbustest.Server
	plat   *platform
	agent  *harness.Agent
	http   string
	points int
	iv     time.Duration
	// stopChanges stops the server's values changing; rig.stop calls it
	// before it stops the agent (see opcuatest.Server.Set).
	stopChanges func()
}

type rigOptions struct {
	persistent bool   // broker persistence and a persistent platform session (outages)
	extra      string // more points
	change     time.Duration
	inflight   int  // Modbus requests in flight (max_inflight); 0: the default, 1
	opcua      bool // the device is the gopcua server, not Modbus (r.srv stays nil)
}

// startRig starts the server (points holding registers counting up
// every change period, so every scan reports every point), Mosquitto,
// the platform and the agent with default settings but for the scan.
func startRig(b *testing.B, points int, iv time.Duration, o rigOptions) *rig {
	bin := harness.Binary(b)
	r := &rig{points: points, iv: iv, http: harness.FreeAddr(b)}
	r.broker = mqtttest.StartMosquitto(b, mqtttest.MosquittoOptions{Persistence: o.persistent, Quiet: true})
	if o.change == 0 {
		o.change = min(iv/2, 50*time.Millisecond)
	}
	rack := harness.Rack{Dir: b.TempDir(), BrokerURL: r.broker.URL(), Points: points,
		Interval: iv, LogLevel: "warn", DefaultReconnect: true, HTTP: r.http, Extra: o.extra, ModbusInflight: o.inflight}
	if o.opcua {
		srv := opcuatest.Start(b, opcuatest.Options{Vars: harness.OPCUAVars(points)})
		r.stopChanges = harness.CountUpOPCUA(srv, points, o.change)
		rack.OPCUAEndpoint = srv.URL
	} else {
		r.srv = modbustest.Start(b)
		r.stopChanges = harness.CountUp(r.srv, points, o.change)
		rack.ModbusAddr = r.srv.Addr()
	}
	b.Cleanup(r.stopChanges)
	r.plat = newPlatform(b, r.broker.URL(), o.persistent)
	r.agent = harness.StartAgent(b, bin, rack.WriteConfig(b))
	deadline := time.Now().Add(30 * time.Second)
	for r.plat.samples() == 0 {
		if time.Now().After(deadline) {
			b.Fatalf("no sample within 30 s of starting the agent\n%s", r.agent.StderrTail(4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(warmup(iv))
	return r
}

// usage is what the agent used over a stretch of time.
type usage struct {
	elapsed time.Duration
	cpuSec  float64
	rss     []harness.Mem
	rssAvg  float64
	rssMax  float64
	anonMax float64
	fileMax float64
	peak    float64 // VmHWM: the most VmRSS has been since the start
}

// watch samples the agent's CPU and memory every 250 ms until done
// returns true (checked at each sample) or limit passes.
func (r *rig) watch(b *testing.B, limit time.Duration, done func() bool) usage {
	pid := r.agent.Pid()
	cpu0, err := harness.CPUTime(pid)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var u usage
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	end := time.NewTimer(limit) // CPU is counted over exactly the window
	defer end.Stop()
watch:
	for done == nil || !done() {
		select {
		case <-tick.C:
		case <-end.C:
			break watch
		}
		if m, err := harness.ReadMem(pid); err == nil {
			u.rss = append(u.rss, m)
		}
	}
	cpu1, err := harness.CPUTime(pid)
	if err != nil {
		b.Fatal(err)
	}
	u.elapsed = time.Since(start)
	u.cpuSec = (cpu1 - cpu0).Seconds()
	for _, m := range u.rss {
		u.rssAvg += m.RSS / float64(len(u.rss))
		u.rssMax, u.anonMax, u.fileMax = max(u.rssMax, m.RSS), max(u.anonMax, m.Anon), max(u.fileMax, m.File)
		u.peak = max(u.peak, m.Peak)
	}
	return u
}

// saveSmaps copies the agent's /proc/PID/smaps to CANARY_SMAPS, when
// set, at the end of a steady window: which mappings the RSS is.
func saveSmaps(b *testing.B, pid int) {
	path := os.Getenv("CANARY_SMAPS")
	if path == "" {
		return
	}
	d, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err == nil {
		err = os.WriteFile(path, d, 0o644)
	}
	if err != nil {
		b.Errorf("CANARY_SMAPS: %v", err)
	}
}

func (r *rig) stop(b *testing.B) {
	r.stopChanges()
	if err := r.agent.Stop(30 * time.Second); err != nil {
		b.Error(err)
	}
}

func httpGet(url string) ([]byte, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 1<<24))
}

// BenchmarkSteady scans N points at an interval with every value
// changing, and measures a fixed window (CANARY_BENCH_WINDOW, and at
// least 30 intervals: a scan cut by either end of the window then moves
// the figures by 3 % at most) after the warm-up. It ignores b.N.
func BenchmarkSteady(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark: skipped with -short")
	}
	for _, c := range []struct {
		points   int
		iv       time.Duration
		inflight int
	}{
		{1000, time.Second, 1}, {1000, 100 * time.Millisecond, 1}, {2000, 100 * time.Millisecond, 1},
		{10000, time.Second, 1}, {10000, 100 * time.Millisecond, 1}, {10000, 20 * time.Millisecond, 1},
		// the same with 8 Modbus requests in flight (the server pipelines)
		{10000, time.Second, 8}, {10000, 100 * time.Millisecond, 8}, {10000, 20 * time.Millisecond, 8},
	} {
		b.Run(fmt.Sprintf("points=%d/interval=%v/inflight=%d", c.points, c.iv, c.inflight), func(b *testing.B) {
			steady(b, c.points, c.iv, c.inflight)
		})
	}
}

// BenchmarkOPCUA is BenchmarkSteady over OPC UA: the gopcua server in
// this process with every variable changing, the agent subscribed to
// them all in one session with the interval as the publishing interval.
// The latency is from the server's source time of a change, so it
// includes up to one publishing interval. It ignores b.N.
func BenchmarkOPCUA(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark: skipped with -short")
	}
	for _, c := range []struct {
		points int
		iv     time.Duration
	}{{1000, time.Second}, {1000, 100 * time.Millisecond}, {5000, time.Second}, {5000, 100 * time.Millisecond}} {
		b.Run(fmt.Sprintf("points=%d/interval=%v", c.points, c.iv), func(b *testing.B) {
			measureSteady(b, "opcua", startRig(b, c.points, c.iv, rigOptions{opcua: true}), "")
		})
	}
}

func steady(b *testing.B, points int, iv time.Duration, inflight int) {
	note := ""
	if inflight > 1 {
		note = fmt.Sprintf("; max_inflight %d", inflight)
	}
	measureSteady(b, "steady", startRig(b, points, iv, rigOptions{inflight: inflight}), note)
}

// measureSteady measures r over one window and reports a row named
// scenario, with note added to the row's notes.
func measureSteady(b *testing.B, scenario string, r *rig, note string) {
	points, iv := r.points, r.iv
	win := max(envDuration("CANARY_BENCH_WINDOW", 10*time.Second), 30*iv)
	b.ResetTimer()
	c0 := agentMetric(r.http, "canary_outbox_commits_total")
	r.plat.openWindow(time.Now())
	u := r.watch(b, win, nil)
	w := r.plat.closeWindow()
	commits := -1.0 // not readable
	if c1 := agentMetric(r.http, "canary_outbox_commits_total"); c0 >= 0 && c1 >= 0 {
		commits = (c1 - c0) / win.Seconds()
	}
	gor := agentGoroutines(r.http)
	saveSmaps(b, r.agent.Pid())
	b.StopTimer()
	r.stop(b)
	lost, dups := r.plat.integrity()
	if w.samples == 0 {
		b.Fatalf("no sample delivered in the window\n%s", r.agent.StderrTail(4000))
	}
	row := newRow(scenario, points, iv, u, w)
	row.lost, row.dups = lost, dups
	row.note = fmt.Sprintf("%d goroutines; %.0f outbox commits/s; start-up peak %.1f MiB", gor, commits, u.peak) + note
	b.ReportMetric(float64(gor), "goroutines")
	b.ReportMetric(commits, "commits/s")
	row.report(b)
}
