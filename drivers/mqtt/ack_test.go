package mqtt_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"canary/drivers"
	"canary/drivers/mqtt"
)

// silentBroker accepts CONNECT with a CONNACK and then never acknowledges
// anything: the link is up but no PUBACK ever comes.
func silentBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln, func(c net.Conn) {
		buf := make([]byte, 2) // CONNECT fixed header; payload is short
		if _, err := io.ReadAtLeast(c, buf, 2); err != nil {
			return
		}
		io.CopyN(io.Discard, c, int64(buf[1]))
		c.Write([]byte{0x20, 0x02, 0x00, 0x00}) // CONNACK accepted
		io.Copy(io.Discard, c)
	})
	return "tcp://" + ln.Addr().String()
}

func TestNoPubackIsAnError(t *testing.T) {
	s := newSink(t, mqtt.Options{URL: silentBroker(t), ClientID: "c", AckTimeout: 200 * time.Millisecond})
	connect(t, s)
	err := await(t, s.Publish(testCtx(t), drivers.Message{Topic: "t", Payload: []byte("x")}))
	if !errors.Is(err, mqtt.ErrAckTimeout) {
		t.Fatalf("err = %v, want ErrAckTimeout", err)
	}
}

func TestPublishCancelledContext(t *testing.T) {
	s := newSink(t, mqtt.Options{URL: silentBroker(t), ClientID: "c", MaxInflight: 1})
	connect(t, s)
	first := s.Publish(testCtx(t), drivers.Message{Topic: "t", Payload: []byte("holds the only slot")})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := await(t, s.Publish(ctx, drivers.Message{Topic: "t", Payload: []byte("x")}))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Publish blocked %v past its context", d)
	}
	select {
	case <-first.Done():
		t.Fatalf("first delivery done without a PUBACK: %v", first.Err())
	default:
	}
}

// serve runs handle for every connection on ln until the test ends, then
// closes ln and every connection.
func serve(t *testing.T, ln net.Listener, handle func(net.Conn)) {
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go handle(c)
		}
	}()
}
