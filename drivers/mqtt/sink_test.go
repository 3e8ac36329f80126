package mqtt_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"canary/drivers"
	"canary/drivers/mqtt"
	"canary/drivers/mqtt/mqtttest"
)

func TestPublishAcknowledged(t *testing.T) {
	b := mqtttest.StartBroker(t, mqtttest.BrokerOptions{})
	rec, err := b.Record("t/#")
	if err != nil {
		t.Fatal(err)
	}
	s := newSink(t, mqtt.Options{URL: b.URL()})
	connect(t, s)
	d := s.Publish(testCtx(t), drivers.Message{Topic: "t/data", Payload: []byte("hello")})
	if err := await(t, d); err != nil {
		t.Fatalf("delivery: %v", err)
	}
	if err := rec.WaitFor(testCtx(t), hasPayload("hello")); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Endpoint(), b.URL(); got != want {
		t.Errorf("Endpoint = %q, want %q", got, want)
	}
}

func TestPublishNotConnected(t *testing.T) {
	s := newSink(t, mqtt.Options{URL: "tcp://127.0.0.1:1"})
	d := s.Publish(testCtx(t), drivers.Message{Topic: "t", Payload: []byte("x")})
	if err := await(t, d); !errors.Is(err, drivers.ErrNotConnected) {
		t.Fatalf("err = %v, want ErrNotConnected", err)
	}
	select {
	case <-s.Lost():
	default:
		t.Fatal("Lost() of an unconnected sink is not closed")
	}
}

func TestWillPublishedWhenConnectionDrops(t *testing.T) {
	b := mqtttest.StartBroker(t, mqtttest.BrokerOptions{})
	will := &drivers.Message{Topic: "t/status", Payload: []byte(`{"state":"offline"}`), Retained: true}
	s := newSink(t, mqtt.Options{URL: b.URL(), ClientID: "gw-will", Will: will})
	connect(t, s)
	lost := s.Lost()
	if !b.DropClient("gw-will") {
		t.Fatal("client not connected at the broker")
	}
	waitClosed(t, lost, "Lost")
	waitRetained(t, b, "t/status", `{"state":"offline"}`)
}

func waitRetained(t *testing.T, b *mqtttest.Broker, topic, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m, ok := b.Retained(topic); ok {
			if string(m.Payload) != want {
				t.Fatalf("retained %q, want %q", m.Payload, want)
			}
			return
		}
	}
	t.Fatalf("no retained message on %s", topic)
}

func TestCloseSendsNoWill(t *testing.T) {
	b := mqtttest.StartBroker(t, mqtttest.BrokerOptions{})
	will := &drivers.Message{Topic: "t/status", Payload: []byte("offline"), Retained: true}
	s := newSink(t, mqtt.Options{URL: b.URL(), ClientID: "gw-close", Will: will})
	connect(t, s)
	lost := s.Lost()
	if err := s.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, lost, "Lost after Close")
	for deadline := time.Now().Add(5 * time.Second); b.Connected("gw-close"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("broker still sees the client after Close")
		}
	}
	if m, ok := b.Retained("t/status"); ok {
		t.Fatalf("will published after a clean Close: %q", m.Payload)
	}
	d := s.Publish(testCtx(t), drivers.Message{Topic: "t", Payload: []byte("x")})
	if err := await(t, d); !errors.Is(err, drivers.ErrNotConnected) {
		t.Fatalf("publish after Close: err = %v, want ErrNotConnected", err)
	}
}

func TestLostOnBrokerStopAndReconnect(t *testing.T) {
	b := mqtttest.StartBroker(t, mqtttest.BrokerOptions{})
	rec, err := b.Record("t/#")
	if err != nil {
		t.Fatal(err)
	}
	s := newSink(t, mqtt.Options{URL: b.URL()})
	connect(t, s)
	lost := s.Lost()
	b.Stop()
	waitClosed(t, lost, "Lost after broker stop")
	d := s.Publish(testCtx(t), drivers.Message{Topic: "t/x", Payload: []byte("during")})
	if err := await(t, d); !errors.Is(err, drivers.ErrNotConnected) {
		t.Fatalf("publish during outage: err = %v, want ErrNotConnected", err)
	}
	if err := s.Connect(testCtx(t)); err == nil {
		t.Fatal("Connect succeeded while the broker is down")
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	connect(t, s)
	if err := await(t, s.Publish(testCtx(t), drivers.Message{Topic: "t/x", Payload: []byte("after")})); err != nil {
		t.Fatalf("publish after reconnect: %v", err)
	}
	if err := rec.WaitFor(testCtx(t), hasPayload("after")); err != nil {
		t.Fatal(err)
	}
	if hasPayload("during")(rec.Messages()) {
		t.Fatal("the broker got a message that was published during the outage")
	}
}

// TestBurstNoFalseSuccess is the key property: with the connection cut in
// the middle of 1000 publishes, every Delivery that reported success is at
// the broker (an inline recorder, which survives the outage).
func TestBurstNoFalseSuccess(t *testing.T) {
	b := mqtttest.StartBroker(t, mqtttest.BrokerOptions{})
	rec, err := b.Record("t/burst")
	if err != nil {
		t.Fatal(err)
	}
	s := newSink(t, mqtt.Options{URL: b.URL(), Log: slog.New(slog.DiscardHandler)})
	connect(t, s)
	burst(t, s, rec, 1000, 200, b.Stop)
}

func TestSubscribe(t *testing.T) {
	b := mqtttest.StartBroker(t, mqtttest.BrokerOptions{})
	s := newSink(t, mqtt.Options{URL: b.URL()})
	connect(t, s)
	got := make(chan string, 1)
	err := s.Subscribe(testCtx(t), "t/cmd", func(topic string, p []byte) { got <- topic + "=" + string(p) })
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("t/cmd", []byte("ping"), false); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if g != "t/cmd=ping" {
			t.Fatalf("handler got %q", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler not called")
	}
}

func TestAuth(t *testing.T) {
	const pass = "s3cr3t-Pa55"
	b := mqtttest.StartBroker(t, mqtttest.BrokerOptions{Username: "canary", Password: pass})
	t.Run("ok", func(t *testing.T) {
		s := newSink(t, mqtt.Options{URL: b.URL(), Username: "canary", Password: pass})
		connect(t, s)
	})
	t.Run("refused", func(t *testing.T) {
		var logs syncBuffer
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s := newSink(t, mqtt.Options{URL: b.URL(), Username: "canary", Password: pass + "-wrong", Log: log})
		err := s.Connect(testCtx(t))
		if err == nil {
			t.Fatal("Connect with a wrong password succeeded")
		}
		if !errors.Is(err, drivers.ErrRefused) {
			t.Errorf("a wrong password is a refusal, not a network failure: %v", err)
		}
		if strings.Contains(err.Error(), pass) || strings.Contains(logs.String(), pass) {
			t.Fatalf("password leaked: err=%v logs=%s", err, logs.String())
		}
		if !strings.Contains(logs.String(), "connect failed") {
			t.Fatalf("failure not logged: %s", logs.String())
		}
	})
	t.Run("url credentials", func(t *testing.T) {
		var logs syncBuffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		s := newSink(t, mqtt.Options{URL: "tcp://canary:" + pass + "@" + b.Addr(), Log: log})
		connect(t, s)
		if strings.Contains(s.Endpoint(), pass) || strings.Contains(logs.String(), pass) {
			t.Fatalf("password leaked: endpoint=%s logs=%s", s.Endpoint(), logs.String())
		}
	})
}

func TestConnectHonoursContext(t *testing.T) {
	// A peer that accepts TCP and never answers CONNECT.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln, func(net.Conn) {})
	s := newSink(t, mqtt.Options{URL: "tcp://" + ln.Addr().String(), ConnectTimeout: 10 * time.Second})

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Connect(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: err = %v", err)
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	start := time.Now()
	if err := s.Connect(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Connect took %v despite a 200ms deadline", d)
	}
}
