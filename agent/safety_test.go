package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"canary/agent/clock"
	"canary/agent/wire"
	"canary/buffer"
	"canary/config"
	"canary/drivers"
)

// scripted emits the scans a test sends it.
type scripted struct{ scans chan drivers.Scan }

func (s *scripted) Run(ctx context.Context, emit func(drivers.Scan)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case sc := <-s.scans:
			emit(sc)
		}
	}
}

func safetyAgent(t *testing.T, dir string, clk clock.Clock, src drivers.Source, sink *fakeSink, pts ...config.Point) *Agent {
	t.Helper()
	cfg := config.Default()
	cfg.Site = config.Site{ID: "s", Gateway: "g"}
	cfg.Platform.MQTT.URL = "tcp://127.0.0.1:1"
	cfg.HTTP.Listen = ""
	cfg.StateDir = dir
	cfg.Devices = []config.Device{{ID: "dev", Driver: "fake", MaxInterval: config.Duration(time.Hour), Points: pts}}
	reg := &drivers.Registry{}
	reg.Register("fake", drivers.DriverFunc(func([]config.Device, drivers.Env) ([]drivers.Source, error) {
		return []drivers.Source{src}, nil
	}))
	a, err := New(&cfg, Options{Registry: reg, Clock: clk, Outbox: buffer.NewMemory(buffer.Options{}),
		NewSink: func(config.MQTT, *drivers.Message, *slog.Logger) (drivers.Sink, error) { return sink, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func findEvent(evs []wire.Event, typ, state string) *wire.Event {
	for i := range evs {
		if evs[i].Type == typ && evs[i].State == state {
			return &evs[i]
		}
	}
	return nil
}

// A bypass whose source goes quiet still becomes overdue: the agent's
// clock drives the check, and status lists it until the bypass ends.
func TestBypassOverdueDrivenByAgentClock(t *testing.T) {
	clk := clock.NewFake(t0)
	src := &scripted{scans: make(chan drivers.Scan)}
	sink := &fakeSink{}
	a := safetyAgent(t, t.TempDir(), clk, src, sink,
		config.Point{ID: "ESD.bypass", Kind: "bypass", MaxBypass: config.Duration(time.Hour)})
	stop := runAgent(a, sink)
	defer stop()
	src.scans <- drivers.Scan{Device: "dev", At: t0, Samples: []drivers.Sample{{Point: "ESD.bypass", TS: t0, Value: drivers.Bool(true)}}}
	waitFor(t, 5*time.Second, func() bool { return findEvent(sink.events(t), wire.TypeBypass, "on") != nil })

	for range 61 { // one minute at a time: every ticker gets its turn
		clk.Advance(time.Minute)
		time.Sleep(time.Millisecond)
	}
	waitFor(t, 5*time.Second, func() bool { return findEvent(sink.events(t), wire.TypeBypass, "overdue") != nil })
	ev := findEvent(sink.events(t), wire.TypeBypass, "overdue")
	if ev.TS != t0.Add(time.Hour).UnixMilli() || ev.Since != t0.UnixMilli() {
		t.Errorf("overdue ts %d since %d, want %d and %d", ev.TS, ev.Since, t0.Add(time.Hour).UnixMilli(), t0.UnixMilli())
	}
	st := a.status("online").Active
	if len(st.Bypasses) != 1 || !st.Bypasses[0].Overdue || st.Bypasses[0].Since != t0.UnixMilli() {
		t.Fatalf("status bypasses %+v, want ESD.bypass overdue since t0", st.Bypasses)
	}
	end := clk.Now()
	src.scans <- drivers.Scan{Device: "dev", At: end, Samples: []drivers.Sample{{Point: "ESD.bypass", TS: end, Value: drivers.Bool(false)}}}
	waitFor(t, 5*time.Second, func() bool { return findEvent(sink.events(t), wire.TypeBypass, "off") != nil })
	if n := len(a.status("online").Active.Bypasses); n != 0 {
		t.Errorf("status still lists %d bypasses after off", n)
	}
}

// The state file is JSON, replaced atomically, written only on a change,
// and read back by a new agent, whose status lists the alarm at once.
func TestStateFileSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, StateFile)
	gt := config.Point{ID: "GT-101", Gas: "combustible"}
	sink := &fakeSink{refuse: true}
	a := safetyAgent(t, dir, clock.NewFake(t0), &scripted{}, sink, gt)
	scan := func(at time.Duration, v float64) {
		ts := t0.Add(at)
		a.onScan(drivers.Scan{Device: "dev", At: ts, Samples: []drivers.Sample{{Point: "GT-101", TS: ts, Value: drivers.Float(v)}}})
	}
	scan(0, 3)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("state file written without a change: %v", err)
	}
	scan(time.Second, 30)
	var doc stateDoc
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &doc) != nil {
		t.Fatalf("state file: %v\n%s", err, b)
	}
	if len(doc.Active) != 1 || doc.Active[0].Level != "h" || doc.Active[0].Since != t0.Add(time.Second).UnixMilli() {
		t.Fatalf("state %+v", doc.Active)
	}
	os.Remove(path)
	scan(2*time.Second, 31) // no change: not rewritten
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("state file rewritten without a change")
	}
	scan(3*time.Second, 60) // hh too
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp*")); len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}
	a.box.Close()

	b2 := safetyAgent(t, dir, clock.NewFake(t0), &scripted{}, sink, gt)
	defer b2.box.Close()
	act := b2.status("offline").Active
	if len(act.Alarms) != 2 || act.Alarms[0].Level != "h" || act.Alarms[1].Level != "hh" {
		t.Fatalf("restarted agent's status alarms %+v, want h and hh", act.Alarms)
	}
}

// A damaged state file is reported and the agent starts with nothing
// active rather than refusing to run.
func TestStateFileDamaged(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := safetyAgent(t, dir, clock.NewFake(t0), &scripted{}, &fakeSink{refuse: true}, config.Point{ID: "GT", Gas: "combustible"})
	defer a.box.Close()
	if n := len(a.status("offline").Active.Alarms); n != 0 {
		t.Fatalf("%d alarms from a damaged file", n)
	}
}

// The per-sample hot path does not allocate when nothing changes.
func TestProcessAllocationFree(t *testing.T) {
	p := testPipeline(config.Point{ID: "GT", Gas: "combustible", Deadband: f64(100)},
		config.Point{ID: "GT.fault", Kind: "fault", Of: "GT"},
		config.Point{ID: "BP", Kind: "bypass", MaxBypass: config.Duration(time.Hour)})
	sc := scanOf(0, nil, good("GT", 3), bit("GT.fault", false), bit("BP", false))
	p.process(sc, t0)
	allocs := testing.AllocsPerRun(100, func() { p.process(sc, t0) })
	if allocs != 0 {
		t.Errorf("process allocates %.1f times per scan", allocs)
	}
}
