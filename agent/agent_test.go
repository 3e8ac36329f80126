package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"canary/agent/wire"
	"canary/buffer"
	"canary/config"
	"canary/drivers"
)

// fakeSource emits one scan per tick with a value that grows, and fails
// while failing is set.
type fakeSource struct {
	failing atomic.Bool
	panics  atomic.Int32 // panic this many times first
}

func (s *fakeSource) Run(ctx context.Context, emit func(drivers.Scan)) error {
	if s.panics.Add(-1) >= 0 {
		panic("fake source: boom")
	}
	for i := 0; ; i++ {
		now := time.Now()
		sc := drivers.Scan{Device: "dev", At: now, Samples: []drivers.Sample{{Point: "p", TS: now, Value: drivers.Float(float64(i))}}}
		if s.failing.Load() {
			sc.Err = errors.New("fake: timeout")
			sc.Samples[0] = drivers.Sample{Point: "p", TS: now, Quality: drivers.Bad, Reason: drivers.ReasonComm}
		}
		emit(sc)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func testAgent(t *testing.T, src drivers.Source, sink *fakeSink) *Agent {
	cfg := testConfig(t)
	cfg.Devices = []config.Device{{ID: "dev", Driver: "fake", Points: []config.Point{{ID: "p"}}}}
	a, err := New(&cfg, testOptions(fakeRegistry(src), sink))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// testConfig is where every agent test starts: a site, a broker nobody
// listens at with a quick back-off, no HTTP, state in a temp dir.
func testConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.Site = config.Site{ID: "s", Gateway: "g"}
	cfg.Platform.MQTT.URL = "tcp://127.0.0.1:1"
	cfg.Platform.MQTT.ReconnectMin = config.Duration(5 * time.Millisecond)
	cfg.Platform.MQTT.ReconnectMax = config.Duration(20 * time.Millisecond)
	cfg.HTTP.Listen = ""
	cfg.StateDir = t.TempDir()
	return cfg
}

// fakeRegistry serves src as driver "fake".
func fakeRegistry(src drivers.Source) *drivers.Registry {
	reg := &drivers.Registry{}
	reg.Register("fake", drivers.DriverFunc(func([]config.Device, drivers.Env) ([]drivers.Source, error) {
		return []drivers.Source{src}, nil
	}))
	return reg
}

// testOptions: reg, a memory outbox and sink as the uplink.
func testOptions(reg *drivers.Registry, sink drivers.Sink) Options {
	return Options{Registry: reg, Outbox: buffer.NewMemory(buffer.Options{}),
		NewSink: func(config.MQTT, *drivers.Message, *slog.Logger) (drivers.Sink, error) { return sink, nil }}
}

func runAgent(a *Agent, sink *fakeSink) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	acking := make(chan struct{})
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
	return func() { cancel(); <-done; close(acking) }
}

func (s *fakeSink) events(t *testing.T) []wire.Event {
	var out []wire.Event
	for _, m := range s.messages() {
		if strings.HasSuffix(m.Topic, "/event") {
			dm, err := wire.Decode(m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, dm.Events...)
		}
	}
	return out
}

// A clean stop says so twice: a `stopping` event and a retained status
// with state offline, published before the clean disconnect (which
// suppresses the broker's will).
func TestAgentLifecycleEventsAndOfflineStatus(t *testing.T) {
	sink := &fakeSink{}
	a := testAgent(t, &fakeSource{}, sink)
	stop := runAgent(a, sink)
	waitFor(t, 5*time.Second, func() bool { return len(sink.events(t)) >= 2 })
	stop()

	var states []string
	for _, e := range sink.events(t) {
		states = append(states, e.Type+":"+e.State)
	}
	joined := strings.Join(states, " ")
	for _, want := range []string{"agent:started", "device:online", "agent:stopping"} {
		if !strings.Contains(joined, want) {
			t.Errorf("events %v lack %s", states, want)
		}
	}
	msgs := sink.messages()
	last := msgs[len(msgs)-1]
	var st Status
	if err := json.Unmarshal(last.Payload, &st); err != nil || !strings.HasSuffix(last.Topic, "/status") {
		t.Fatalf("last message %s %s is not a status", last.Topic, last.Payload)
	}
	if st.State != "offline" || !last.Retained {
		t.Errorf("last status state %q retained %v, want offline and retained", st.State, last.Retained)
	}
}

// A source that panics is restarted; its device still comes online.
func TestAgentRestartsPanickingSource(t *testing.T) {
	sink := &fakeSink{}
	src := &fakeSource{}
	src.panics.Store(1)
	a := testAgent(t, src, sink)
	a.superviseMin = time.Millisecond
	stop := runAgent(a, sink)
	defer stop()
	waitFor(t, 5*time.Second, func() bool {
		for _, e := range sink.events(t) {
			if e.Type == wire.TypeDevice && e.State == "online" {
				return true
			}
		}
		return false
	})
}

// A device that stops answering yields one offline event with the error,
// and its samples are bad/comm, never a number.
func TestAgentDeviceOfflineSamplesBad(t *testing.T) {
	sink := &fakeSink{}
	src := &fakeSource{}
	a := testAgent(t, src, sink)
	stop := runAgent(a, sink)
	defer stop()
	waitFor(t, 5*time.Second, func() bool { return len(sink.events(t)) >= 2 })
	src.failing.Store(true)
	waitFor(t, 5*time.Second, func() bool {
		for _, e := range sink.events(t) {
			if e.State == "offline" && e.Error == "fake: timeout" {
				return true
			}
		}
		return false
	})
	waitFor(t, 5*time.Second, func() bool {
		for _, m := range sink.messages() {
			dm, _ := wire.Decode(m.Payload)
			for _, s := range dm.Samples {
				if s.Quality == "bad" {
					if s.Value != nil || s.Reason != "comm" {
						t.Fatalf("bad sample %+v carries a value or no reason", s)
					}
					return true
				}
			}
		}
		return false
	})
}
