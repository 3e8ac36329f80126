package agent

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"canary/agent/command"
	"canary/agent/wire"
	"canary/buffer"
	"canary/config"
	"canary/drivers"
)

// subSink is a fakeSink that keeps its subscriptions, so a test can play
// the platform sending on P/cmd.
type subSink struct {
	*fakeSink
	mu   sync.Mutex
	subs map[string]drivers.Handler
}

func (s *subSink) Subscribe(_ context.Context, topic string, h drivers.Handler) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = map[string]drivers.Handler{}
	}
	s.subs[topic] = h
	return nil
}

func (s *subSink) send(topic string, payload []byte) bool {
	s.mu.Lock()
	h := s.subs[topic]
	s.mu.Unlock()
	if h != nil {
		h(topic, payload)
	}
	return h != nil
}

// mgmtAgent is testAgent with a config hook and any sink.
func mgmtAgent(t *testing.T, src drivers.Source, sink drivers.Sink, edit func(*config.Config), opts Options) *Agent {
	t.Helper()
	cfg := testConfig(t)
	cfg.Devices = []config.Device{{ID: "dev", Driver: "fake", Interval: config.Duration(5 * time.Millisecond),
		Points: []config.Point{{ID: "p", Unit: "%LEL"}}}}
	if edit != nil {
		edit(&cfg)
	}
	opts.Registry = fakeRegistry(src)
	if opts.Outbox == nil {
		opts.Outbox = buffer.NewMemory(buffer.Options{MaxBytes: 1 << 20})
	}
	opts.NewSink = func(config.MQTT, *drivers.Message, *slog.Logger) (drivers.Sink, error) { return sink, nil }
	a, err := New(&cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestHealthRegistry(t *testing.T) {
	now := time.UnixMilli(1000)
	h := NewHealth(func() time.Time { return now })
	h.Set("b", SevWarning, "one")
	<-h.Changed()
	now = time.UnixMilli(2000)
	h.Set("b", SevWarning, "one") // no change: no signal, since kept
	select {
	case <-h.Changed():
		t.Fatal("unchanged Set signalled")
	default:
	}
	h.Set("b", SevWarning, "two")
	h.Set("a", SevError, "down")
	h.Set("dev:x", SevError, "x")
	h.ClearPrefix("dev", map[string]bool{})
	got := h.Warnings()
	if len(got) != 2 || got[0].Code != "a" || got[1].Code != "b" || got[1].Since != 1000 || got[1].Message != "two" {
		t.Fatalf("warnings %+v: want a (error) before b, b since 1000 with message two", got)
	}
	<-h.Changed()
	h.Clear("a")
	h.Clear("nothing")
	if ws := h.Warnings(); len(ws) != 1 {
		t.Errorf("after Clear: %+v", ws)
	}
}

// With the uplink down and a device offline, /healthz answers 503 and
// names both; status carries the same warnings.
func TestHealthzUnhealthyReasons(t *testing.T) {
	sink := &fakeSink{refuse: true}
	src := &fakeSource{}
	src.failing.Store(true)
	a := mgmtAgent(t, src, sink, nil, Options{})
	stop := runAgent(a, sink)
	defer stop()
	srv := httptest.NewServer(a.httpHandler())
	defer srv.Close()
	var body struct {
		OK       bool      `json:"ok"`
		Reasons  []string  `json:"reasons"`
		Warnings []Warning `json:"warnings"`
	}
	// Before the first connect attempt has failed, the uplink reason reads
	// "not connected yet"; wait for the attempt's own error.
	healthy := func() (code int, reasons []string) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body.Reasons = nil
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Reasons
	}
	want := []string{
		"uplink_down: uplink down: fake: connection refused",
		"device_offline:dev: device dev offline: fake: timeout",
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		code, reasons := healthy()
		joined := strings.Join(reasons, "\n")
		if code == http.StatusServiceUnavailable && len(reasons) == 2 &&
			strings.Contains(joined, want[0]) && strings.Contains(joined, want[1]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz %d, reasons %q; want 503 with %q", code, reasons, want)
		}
	}
	st := a.status("online")
	if len(st.Warnings) < 2 || st.Warnings[0].Severity != SevError || st.Warnings[0].Since == 0 {
		t.Errorf("status warnings %+v", st.Warnings)
	}
}

// Health changes republish the retained status (rate-limited), without
// waiting for the minute heartbeat.
func TestStatusRepublishedOnHealthChange(t *testing.T) {
	sink := &fakeSink{}
	src := &fakeSource{}
	a := mgmtAgent(t, src, sink, nil, Options{})
	stop := runAgent(a, sink)
	defer stop()
	waitFor(t, 5*time.Second, func() bool { return len(sink.events(t)) >= 2 })
	src.failing.Store(true)
	waitFor(t, 10*time.Second, func() bool {
		for _, m := range sink.messages() {
			var st Status
			if strings.HasSuffix(m.Topic, "/status") && json.Unmarshal(m.Payload, &st) == nil {
				for _, w := range st.Warnings {
					if w.Code == WarnDeviceOffline+":dev" {
						return true
					}
				}
			}
		}
		return false
	})
}

// /metrics is valid Prometheus text, read by Prometheus' own parser, and
// its numbers are the agent's.
func TestMetricsParseWithPrometheusParser(t *testing.T) {
	sink := &fakeSink{}
	box := &faultBox{Outbox: buffer.NewMemory(buffer.Options{MaxBytes: 1 << 20})}
	a := mgmtAgent(t, &fakeSource{}, sink, nil, Options{Outbox: box})
	stop := runAgent(a, sink)
	defer stop()
	waitFor(t, 5*time.Second, func() bool { return a.fwd.acked.Load() >= 3 })
	// A spell of full disk drops data; once the outbox writes again the
	// count stands still, so status and /metrics can be compared.
	box.fail(syscall.ENOSPC)
	waitFor(t, 5*time.Second, func() bool { return a.status("online").Outbox.DroppedDisk > 0 })
	box.fail(nil)
	waitFor(t, 5*time.Second, func() bool { return a.status("online").Outbox.WriteError == "" })
	droppedDisk := a.status("online").Outbox.DroppedDisk
	a.m.met.command("ping", "")
	a.m.met.command("", command.ReasonBadSignature)
	srv := httptest.NewServer(a.httpHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("prometheus parser: %v", err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Fatalf("no family %s", name)
		}
	next:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
		t.Fatalf("%s%v not found", name, labels)
		return 0
	}
	if v := value("canary_device_samples_read_total", map[string]string{"device": "dev"}); v < 1 {
		t.Errorf("samples read %v", v)
	}
	if v := value("canary_device_polls_total", map[string]string{"device": "dev"}); v < 1 {
		t.Errorf("polls %v", v)
	}
	if v := value("canary_publish_latency_seconds", nil); v < 3 {
		t.Errorf("publish latency count %v, want at least the 3 acked records", v)
	}
	if v := value("canary_commands_refused_total", map[string]string{"reason": "bad_signature"}); v != 1 {
		t.Errorf("refused %v", v)
	}
	if v := value("canary_commands_accepted_total", map[string]string{"cmd": "ping"}); v != 1 {
		t.Errorf("accepted %v", v)
	}
	for _, name := range []string{"canary_outbox_depth", "canary_outbox_bytes", "canary_outbox_oldest_age_seconds", "canary_outbox_dropped_total"} {
		value(name, map[string]string{"lane": "event"})
		value(name, map[string]string{"lane": "data"})
	}
	if v := value("canary_goroutines", nil); v < 5 { // sources, forwarder, writer, HTTP, management at least
		t.Errorf("canary_goroutines %v", v)
	}
	if v := value("canary_go_memory_bytes", nil); v < 1<<20 {
		t.Errorf("canary_go_memory_bytes %v", v)
	}
	if v := value("canary_outbox_dropped_disk_total", nil); v != float64(droppedDisk) {
		t.Errorf("canary_outbox_dropped_disk_total %v, status outbox.dropped_disk %d", v, droppedDisk)
	}
	if v := value("canary_outbox_dropped_total", map[string]string{"lane": "data"}); v != 0 {
		t.Errorf("canary_outbox_dropped_total{lane=data} %v: disk drops counted as budget evictions", v)
	}
	value("canary_uplink_connects_total", nil)
	value("canary_device_poll_latency_seconds", map[string]string{"device": "dev"})
}

// A label value with quotes, backslashes and newlines stays one valid
// sample.
func TestMetricsEscapeLabels(t *testing.T) {
	var b strings.Builder
	p := &promWriter{w: bufio.NewWriter(&b)}
	p.family("x", "gauge", "x")
	p.sample("x", 1, label{"device", "a\"b\\c\nd"})
	p.w.Flush()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := fams["x"].GetMetric()[0].GetLabel()[0].GetValue(); got != "a\"b\\c\nd" {
		t.Errorf("label round trip %q", got)
	}
}

// alarmSource emits values that rise past the alarm limit.
type alarmSource struct{ ts func() time.Time }

func (s alarmSource) Run(ctx context.Context, emit func(drivers.Scan)) error {
	for i := 0; ; i++ {
		ts := s.ts()
		emit(drivers.Scan{Device: "dev", At: ts, Latency: 3 * time.Millisecond,
			Samples: []drivers.Sample{{Point: "p", TS: ts, Value: drivers.Float(float64(10 + i))}}})
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func withAlarm(c *config.Config) {
	h := 20.0
	c.Devices[0].Points[0].Alarms.H = &h
}

// The status page, rendered by a real browser, shows the device, the
// point and the active alarm.
func TestStatusPageInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not installed (CI=true): .ci/run installs it")
		}
		t.Skip("chromium not installed: apt-get install chromium")
	}
	sink := &fakeSink{}
	a := mgmtAgent(t, alarmSource{ts: time.Now}, sink, withAlarm, Options{})
	stop := runAgent(a, sink)
	defer stop()
	waitFor(t, 5*time.Second, func() bool { return len(a.pipe.conditions()) > 0 })
	srv := httptest.NewServer(a.httpHandler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--dump-dom", srv.URL+"/")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	dom := string(out)
	for _, want := range []string{`<table id="devices">`, `<td>dev</td><td>online</td>`,
		`<table id="alarms">`, `<tr class="alarm"><td>p</td><td>h</td><td>20</td>`, "%LEL"} {
		if !strings.Contains(dom, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
}

// Samples stamped before the build time are reported uncertain /
// clock_unsynced, but their values still raise alarms.
func TestClockUnsyncedMarksSamplesKeepsAlarms(t *testing.T) {
	sink := &fakeSink{}
	base := time.Unix(0, 0)
	start := time.Now()
	src := alarmSource{ts: func() time.Time { return base.Add(time.Since(start)) }}
	a := mgmtAgent(t, src, sink, withAlarm, Options{BuildTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	stop := runAgent(a, sink)
	defer stop()
	var sawAlarm, sawMarked bool
	waitFor(t, 5*time.Second, func() bool {
		for _, m := range sink.messages() {
			dm, _ := wire.Decode(m.Payload)
			for _, s := range dm.Samples {
				if s.Quality == "good" {
					t.Fatalf("sample %+v stamped 1970 reported good", s)
				}
				sawMarked = sawMarked || (s.Quality == "uncertain" && s.Reason == "clock_unsynced" && s.Value != nil)
			}
			for _, e := range dm.Events {
				sawAlarm = sawAlarm || (e.Type == wire.TypeAlarm && e.State == "active")
			}
		}
		return sawAlarm && sawMarked
	})
	if !a.m.clk.unsynced(base) || a.m.clk.unsynced(time.Now()) {
		t.Error("unsynced: 1970 must be, now must not be")
	}
}

// A wall clock that moves against the monotonic clock is a jump: one
// event with the offset and a warning.
func TestClockJumpReported(t *testing.T) {
	sink := &fakeSink{}
	a := mgmtAgent(t, &fakeSource{}, sink, nil, Options{})
	wall := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var mono time.Duration = time.Second
	a.m.clk.wall = func() time.Time { return wall }
	a.m.clk.mono = func() time.Duration { return mono }
	a.m.evaluate()
	wall, mono = wall.Add(10*time.Second), mono+10*time.Second // in step
	a.m.evaluate()
	if a.m.health.Active(WarnClockJumped) {
		t.Fatal("jump reported for a clock in step")
	}
	wall, mono = wall.Add(time.Hour), mono+time.Second
	a.m.evaluate()
	if !a.m.health.Active(WarnClockJumped) {
		t.Fatal("no clock_jumped warning")
	}
	a.box.Close()
}

// Commands arrive on P/cmd through the uplink subscription and are
// answered on P/cmd/reply, refusals included.
func TestCommandsOverUplink(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sink := &subSink{fakeSink: &fakeSink{}}
	lv := new(slog.LevelVar)
	a := mgmtAgent(t, &fakeSource{}, sink, func(c *config.Config) {
		c.Platform.Commands = config.Commands{Enabled: true, PublicKeys: []string{command.FormatPublicKey(pub)}}
	}, Options{LogLevel: lv})
	stop := runAgent(a, sink.fakeSink)
	defer stop()
	topics := wire.NewTopics("canary", "s", "g")
	waitFor(t, 5*time.Second, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return sink.subs[topics.Cmd] != nil
	})
	sign := func(name, args string) []byte {
		var raw json.RawMessage
		if args != "" {
			raw = json.RawMessage(args)
		}
		b, _ := command.SignCommand(priv, command.NewCommand("s/g", name, raw, time.Now(), time.Minute))
		return b
	}
	send := func(payload []byte) cmdReply {
		t.Helper()
		n := len(replies(sink.fakeSink, topics))
		sink.send(topics.Cmd, payload)
		var got []cmdReply
		waitFor(t, 5*time.Second, func() bool { got = replies(sink.fakeSink, topics); return len(got) > n })
		return got[n]
	}
	if r := send(sign("ping", "")); !r.OK || r.Boot != a.boot || r.Site != "s" {
		t.Errorf("ping reply %+v", r)
	}
	if r := send(sign("log.level", `{"level":"debug"}`)); !r.OK || lv.Level() != slog.LevelDebug {
		t.Errorf("log.level reply %+v, level %v", r, lv.Level())
	}
	r := send(sign("config.get", ""))
	if y, _ := r.Result.(map[string]any)["yaml"].(string); !r.OK || !strings.Contains(y, "site:") {
		t.Errorf("config.get reply %+v", r)
	}
	if r := send([]byte("not json")); r.OK || r.Reason != command.ReasonMalformed {
		t.Errorf("malformed reply %+v", r)
	}
	if r := send(sign("restart", "")); r.OK || r.Reason != command.ReasonFailed {
		t.Errorf("restart without a Runner: %+v", r)
	}
	if !a.m.health.Active(WarnCommandsRejected) {
		t.Error("no commands_rejected warning after refusals")
	}
}

func replies(s *fakeSink, topics wire.Topics) []cmdReply {
	var out []cmdReply
	for _, m := range s.messages() {
		if m.Topic == topics.CmdReply {
			var r cmdReply
			_ = json.Unmarshal(m.Payload, &r)
			out = append(out, r)
		}
	}
	return out
}

// Without keys, or disabled, there is no subscription at all.
func TestCommandsOffWithoutKeys(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, cc := range []config.Commands{{}, {Enabled: false, PublicKeys: []string{command.FormatPublicKey(pub)}}} {
		a := mgmtAgent(t, &fakeSource{}, &fakeSink{}, func(c *config.Config) { c.Platform.Commands = cc }, Options{})
		if a.m.cmd != nil {
			t.Errorf("%+v: commands on", cc)
		}
		a.box.Close()
	}
}

// sd_notify: READY=1 once the agent runs, WATCHDOG=1 while its loops are
// alive, STOPPING=1 on shutdown, each one datagram.
func TestRunnerNotifiesSystemd(t *testing.T) {
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", "")
	sink := &fakeSink{}
	a := mgmtAgent(t, &fakeSource{}, sink, nil, Options{})
	cfg, opts := a.cfg, a.opts
	a.box.Close()
	opts.Outbox = nil
	cfg.Buffer.Path = filepath.Join(cfg.StateDir, "outbox.db")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewRunner(opts).Run(ctx, cfg) }()
	read := func() string {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 256)
		n, err := conn.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		return string(b[:n])
	}
	if got := read(); got != "READY=1" {
		t.Fatalf("first notification %q", got)
	}
	acking := make(chan struct{})
	defer close(acking)
	go func() {
		for {
			select {
			case <-acking:
				return
			case <-time.After(time.Millisecond):
				sink.ackSome()
			}
		}
	}()
	if got := read(); got != "WATCHDOG=1" {
		t.Fatalf("second notification %q", got)
	}
	cancel()
	for got := read(); got != "STOPPING=1"; got = read() {
		if got != "WATCHDOG=1" {
			t.Fatalf("unexpected %q", got)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The watchdog is withheld when a loop has gone silent.
func TestAliveDetectsSilentLoops(t *testing.T) {
	a := mgmtAgent(t, &fakeSource{}, &fakeSink{}, nil, Options{})
	defer a.box.Close()
	a.m.met.fwdBeat.Store(time.Now().UnixNano())
	a.m.met.devices["dev"].lastScan.Store(time.Now().UnixNano())
	if err := a.alive(); err != nil {
		t.Fatalf("fresh loops: %v", err)
	}
	a.m.met.devices["dev"].lastScan.Store(time.Now().Add(-time.Hour).UnixNano())
	if err := a.alive(); err == nil || !strings.Contains(err.Error(), "device dev") {
		t.Errorf("silent source: %v", err)
	}
	a.m.met.devices["dev"].lastScan.Store(time.Now().UnixNano())
	a.started = time.Now().Add(-time.Hour)
	a.m.met.fwdBeat.Store(time.Now().Add(-time.Hour).UnixNano())
	if err := a.alive(); err == nil || !strings.Contains(err.Error(), "forwarder") {
		t.Errorf("silent forwarder: %v", err)
	}
}
