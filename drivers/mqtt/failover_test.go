package mqtt_test

import (
	"strings"
	"testing"
	"time"

	"canary/drivers"
	"canary/drivers/mqtt"
	"canary/drivers/mqtt/mqtttest"
)

// A cluster of two real Mosquitto brokers: the sink uses the first; when
// that one stops, reconnect attempts move on to the second, Endpoint says
// which one is in use, and publishing works there.
func TestFailoverBetweenTwoMosquittos(t *testing.T) {
	m1 := mqtttest.StartMosquitto(t)
	m2 := mqtttest.StartMosquitto(t)
	rec := dialRecorder(t, m2.URL(), "t/#")
	s := newSink(t, mqtt.Options{URLs: []string{m1.URL(), m2.URL()}, ConnectTimeout: 2 * time.Second})
	connect(t, s)
	if got := s.Endpoint(); got != m1.URL() {
		t.Fatalf("first endpoint %s, want %s", got, m1.URL())
	}
	lost := s.Lost()
	if err := m1.Stop(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, lost, "Lost after the broker in use stopped")
	deadline := time.Now().Add(15 * time.Second)
	for s.Connect(testCtx(t)) != nil {
		if time.Now().After(deadline) {
			t.Fatal("no failover to the second broker")
		}
		time.Sleep(100 * time.Millisecond) // the agent's back-off
	}
	if got := s.Endpoint(); got != m2.URL() {
		t.Fatalf("endpoint after failover %s, want %s", got, m2.URL())
	}
	if err := await(t, s.Publish(testCtx(t), drivers.Message{Topic: "t/data", Payload: []byte("on m2")})); err != nil {
		t.Fatal(err)
	}
	if err := rec.WaitFor(testCtx(t), hasPayload("on m2")); err != nil {
		t.Fatal(err)
	}
}

// A failed attempt moves to the next node; a single broker stays put.
func TestFailoverRotatesOnConnectFailure(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	dead := "tcp://127.0.0.1:1"
	s := newSink(t, mqtt.Options{URLs: []string{dead, m.URL()}, ConnectTimeout: time.Second})
	if err := s.Connect(testCtx(t)); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("connect to the dead node: %v", err)
	}
	if s.Endpoint() != m.URL() {
		t.Fatalf("endpoint %s after a failure, want the next node", s.Endpoint())
	}
	connect(t, s)
}

func TestURLsMustNotMixTLSAndPlaintext(t *testing.T) {
	_, err := mqtt.New(mqtt.Options{URLs: []string{"tcp://a:1883", "tls://b:8883"}})
	if err == nil || !strings.Contains(err.Error(), "mix") {
		t.Fatalf("err %v", err)
	}
}
