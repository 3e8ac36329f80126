package mqtt_test

import (
	"log/slog"
	"testing"
	"time"

	"canary/drivers"
	"canary/drivers/mqtt"
	"canary/drivers/mqtt/mqtttest"
)

// Against a real Mosquitto. The sink goes through a Proxy so that its own
// link can be cut while the broker and the recorder (connected directly)
// stay up.

func TestMosquittoPublishAcknowledged(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	rec := dialRecorder(t, m.URL(), "t/#")
	s := newSink(t, mqtt.Options{URL: m.URL()})
	connect(t, s)
	if err := await(t, s.Publish(testCtx(t), drivers.Message{Topic: "t/data", Payload: []byte("hello")})); err != nil {
		t.Fatalf("delivery: %v", err)
	}
	if err := rec.WaitFor(testCtx(t), hasPayload("hello")); err != nil {
		t.Fatal(err)
	}
}

func dialRecorder(t *testing.T, url, filter string) *mqtttest.Recorder {
	t.Helper()
	rec, err := mqtttest.DialRecorder(testCtx(t), url, filter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	return rec
}

func TestMosquittoWillOnLinkCut(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	p := mqtttest.StartProxy(t, m.Addr())
	will := &drivers.Message{Topic: "t/status", Payload: []byte("offline"), Retained: true}
	s := newSink(t, mqtt.Options{URL: p.URL(), Will: will, Keepalive: 2 * time.Second})
	connect(t, s)
	lost := s.Lost()
	p.Cut()
	waitClosed(t, lost, "Lost after link cut")
	// A subscriber arriving afterwards gets the will as a retained message.
	rec := dialRecorder(t, m.URL(), "t/status")
	err := rec.WaitFor(testCtx(t), func(ms []mqtttest.Msg) bool {
		return len(ms) > 0 && string(ms[0].Payload) == "offline" && ms[0].Retained
	})
	if err != nil {
		t.Fatalf("no retained will: %v (got %v)", err, rec.Messages())
	}
}

func TestMosquittoCloseSendsNoWill(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	will := &drivers.Message{Topic: "t/status", Payload: []byte("offline"), Retained: true}
	s := newSink(t, mqtt.Options{URL: m.URL(), ClientID: "gw-close", Will: will})
	connect(t, s)
	if err := s.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// Reconnecting with the same client id, then publishing a marker, and
	// seeing the marker (and no will) shows the broker processed the old
	// session's end without publishing the will.
	rec := dialRecorder(t, m.URL(), "t/#")
	s2 := newSink(t, mqtt.Options{URL: m.URL(), ClientID: "gw-close"})
	connect(t, s2)
	if err := await(t, s2.Publish(testCtx(t), drivers.Message{Topic: "t/marker", Payload: []byte("marker")})); err != nil {
		t.Fatal(err)
	}
	if err := rec.WaitFor(testCtx(t), hasPayload("marker")); err != nil {
		t.Fatal(err)
	}
	if hasPayload("offline")(rec.Messages()) {
		t.Fatal("will published after a clean Close")
	}
}

func TestMosquittoLostOnKill(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	s := newSink(t, mqtt.Options{URL: m.URL()})
	connect(t, s)
	lost := s.Lost()
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, lost, "Lost after broker kill")
	if err := await(t, s.Publish(testCtx(t), drivers.Message{Topic: "t", Payload: []byte("x")})); err == nil {
		t.Fatal("publish after broker kill succeeded")
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	connect(t, s)
	if err := await(t, s.Publish(testCtx(t), drivers.Message{Topic: "t", Payload: []byte("y")})); err != nil {
		t.Fatalf("publish after restart: %v", err)
	}
}

func TestMosquittoBurstNoFalseSuccess(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	p := mqtttest.StartProxy(t, m.Addr())
	rec := dialRecorder(t, m.URL(), "t/burst")
	s := newSink(t, mqtt.Options{URL: p.URL(), Log: slog.New(slog.DiscardHandler)})
	connect(t, s)
	burst(t, s, rec, 1000, 200, p.Cut)
}
