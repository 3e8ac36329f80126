package mqtttest_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"canary/drivers/mqtt/mqtttest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestBrokerStopStartKeepsPortAndRecorder(t *testing.T) {
	b := mqtttest.StartBroker(t, mqtttest.BrokerOptions{})
	inline, err := b.Record("a/#")
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	remote, err := mqtttest.DialRecorder(ctx(t), b.URL(), "a/#")
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	b.Stop()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("broker still accepts connections after Stop")
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if b.Addr() != addr {
		t.Fatalf("port changed: %s -> %s", addr, b.Addr())
	}
	if err := b.Publish("a/b", []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	if err := inline.WaitFor(ctx(t), func(ms []mqtttest.Msg) bool { return len(ms) == 1 }); err != nil {
		t.Fatal(err)
	}
	// The remote recorder was dropped by Stop, so it must not see it.
	time.Sleep(100 * time.Millisecond)
	if n := len(remote.Messages()); n != 0 {
		t.Fatalf("remote recorder survived Stop: %d messages", n)
	}
}

func TestRecorderWaitForTimesOut(t *testing.T) {
	b := mqtttest.StartBroker(t, mqtttest.BrokerOptions{})
	r, err := b.Record("#")
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = r.WaitFor(c, func(ms []mqtttest.Msg) bool { return len(ms) > 0 })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestMosquittoRestartAndProxyCut(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	p := mqtttest.StartProxy(t, m.Addr())
	r, err := mqtttest.DialRecorder(ctx(t), p.URL(), "#")
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	p.Cut()
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := mqtttest.DialRecorder(ctx(t), m.URL(), "#"); err == nil {
		t.Fatal("connected to a stopped mosquitto")
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	r, err = mqtttest.DialRecorder(ctx(t), p.URL(), "#")
	if err != nil {
		t.Fatalf("after restart, through the proxy: %v", err)
	}
	r.Close()
}
