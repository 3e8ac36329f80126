package tests

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"canary/agent"
	"canary/agent/wire"
	"canary/buffer"
	"canary/config"
	"canary/drivers"
	"canary/drivers/mqtt"
	"canary/drivers/mqtt/mqtttest"
)

// scriptSource emits the scans the test sends it, on the agent's source
// goroutine, as a real driver would.
type scriptSource struct{ scans chan drivers.Scan }

func (s *scriptSource) Run(ctx context.Context, emit func(drivers.Scan)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case sc := <-s.scans:
			emit(sc)
		}
	}
}

// During an uplink outage an alarm starts and clears, and another starts
// and stays. After the reconnect the platform gets both events of the
// first, in order, with their source timestamps and flagged historical,
// before any of the data backlog; and the birth status lists the alarm
// that is still active.
func TestOutageAlarmEventsBeforeDataBacklog(t *testing.T) {
	broker := mqtttest.StartBroker(t, mqtttest.BrokerOptions{})
	rec, err := broker.Record("canary/#")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Site = config.Site{ID: "plant", Gateway: "gw"}
	m := &cfg.Platform.MQTT
	m.URL, m.ClientID, m.TopicPrefix = broker.URL(), "plant-gw", "canary"
	m.ReconnectMin, m.ReconnectMax = config.Duration(50*time.Millisecond), config.Duration(200*time.Millisecond)
	cfg.HTTP.Listen = ""
	cfg.StateDir = t.TempDir()
	cfg.Devices = []config.Device{{ID: "rack", Driver: "script", MaxInterval: config.Duration(time.Hour), Points: []config.Point{
		{ID: "GT-101", Kind: "analog", Gas: "combustible"},
		{ID: "GT-102", Kind: "analog", Gas: "combustible"},
	}}}
	src := &scriptSource{scans: make(chan drivers.Scan)}
	reg := &drivers.Registry{}
	reg.Register("script", drivers.DriverFunc(func([]config.Device, drivers.Env) ([]drivers.Source, error) {
		return []drivers.Source{src}, nil
	}))
	a, err := agent.New(&cfg, agent.Options{Registry: reg, Outbox: buffer.NewMemory(buffer.Options{}),
		NewSink: func(c config.MQTT, will *drivers.Message, log *slog.Logger) (drivers.Sink, error) {
			return mqtt.FromConfig(c, will, log)
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	base := time.Now().Truncate(time.Millisecond)
	send := func(i int, v101, v102 float64) {
		ts := base.Add(time.Duration(i) * 100 * time.Millisecond)
		src.scans <- drivers.Scan{Device: "rack", At: ts, Samples: []drivers.Sample{
			{Point: "GT-101", TS: ts, Value: drivers.Float(v101)}, {Point: "GT-102", TS: ts, Value: drivers.Float(v102)}}}
	}
	send(0, 3, 2)
	if err := rec.WaitFor(wctx, func(ms []mqtttest.Msg) bool { return countData(t, ms) >= 1 }); err != nil {
		t.Fatalf("live data: %v", err)
	}

	broker.Stop() // the outage: mochi publishes the agent's will
	if err := rec.WaitFor(wctx, func(ms []mqtttest.Msg) bool { return hasWill(ms) }); err != nil {
		t.Fatal(err)
	}
	// What is queued from here must be historical: wait until the agent
	// has seen the cut (its health check runs every 2 s; "not connected
	// yet" would be from before the first connect).
	cut := func() bool {
		for _, w := range a.Health().Warnings() {
			if w.Code == agent.WarnUplinkDown && !strings.Contains(w.Message, "not connected yet") {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(10 * time.Second); !cut(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not notice the broker stopping within 10s")
		}
	}
	outage := len(rec.Messages())
	values := []float64{4, 30, 31, 32, 20, 10, 5, 4, 4.5, 3}
	for i, v := range values {
		send(i+1, v, 2+float64(i)*7) // GT-102 climbs to 65: h and hh, and stays
	}
	send(len(values)+1, 3, 65) // unchanged (not reported): only proves the last scan was taken
	time.Sleep(100 * time.Millisecond)
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	if err := rec.WaitFor(wctx, func(ms []mqtttest.Msg) bool { return countData(t, ms[outage:]) >= len(values) }); err != nil {
		t.Fatalf("backlog not delivered: %v", err)
	}

	after := rec.Messages()[outage:]
	firstData, active, cleared := -1, -1, -1
	var act, clr wire.Event
	for i, msg := range after {
		if strings.HasSuffix(msg.Topic, "/data") && firstData < 0 {
			firstData = i
		}
		if !strings.HasSuffix(msg.Topic, "/event") {
			continue
		}
		dm := decode(t, msg.Payload)
		for _, e := range dm.Events {
			if e.Type != wire.TypeAlarm || e.Point != "GT-101" {
				continue
			}
			if !dm.Historical {
				t.Errorf("alarm event %s %s queued during the outage is not historical", e.Point, e.State)
			}
			switch e.State {
			case "active":
				active, act = i, e
			case "cleared":
				cleared, clr = i, e
			}
		}
	}
	if active < 0 || cleared < 0 || firstData < 0 {
		t.Fatalf("after reconnect: active at %d, cleared at %d, first data at %d", active, cleared, firstData)
	}
	if !(active <= cleared && cleared < firstData) {
		t.Errorf("order after reconnect: active %d, cleared %d, first data %d; want events first", active, cleared, firstData)
	}
	if want := base.Add(200 * time.Millisecond).UnixMilli(); act.TS != want || act.Level != "h" || *act.Value != 30 {
		t.Errorf("active %+v, want level h value 30 at source ts %d", act, want)
	}
	if want := base.Add(500 * time.Millisecond).UnixMilli(); clr.TS != want || *clr.Value != 20 {
		t.Errorf("cleared %+v, want value 20 at source ts %d", clr, want)
	}

	st := retainedStatus(t, broker)
	var levels []string
	for _, c := range st.Active.Alarms {
		levels = append(levels, c.Point+":"+c.Level)
	}
	if strings.Join(levels, " ") != "GT-102:h GT-102:hh" {
		t.Errorf("birth status active alarms %v, want GT-102 h and hh", levels)
	}
}

func decode(t *testing.T, b []byte) wire.Message {
	t.Helper()
	m, err := wire.Decode(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

func countData(t *testing.T, ms []mqtttest.Msg) int {
	n := 0
	for _, m := range ms {
		if strings.HasSuffix(m.Topic, "/data") {
			n++
		}
	}
	return n
}

func hasWill(ms []mqtttest.Msg) bool {
	for _, m := range ms {
		if strings.HasSuffix(m.Topic, "/status") && strings.Contains(string(m.Payload), `"connection lost"`) {
			return true
		}
	}
	return false
}

func retainedStatus(t *testing.T, b *mqtttest.Broker) agent.Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var st agent.Status
		if m, ok := b.Retained("canary/plant/gw/status"); ok && json.Unmarshal(m.Payload, &st) == nil && st.State == "online" {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatal("no retained online status")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
