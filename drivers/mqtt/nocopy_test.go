package mqtt_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// The agent builds paho with a patch (third_party/paho.mqtt.golang):
// a publish writes its payload as it is instead of copying it into a
// packet buffer first, which was two thirds of the agent's garbage at
// 10,000 points. Sixteen 1 MiB publishes must allocate far less than the
// 16 MiB that copying them would, and every byte must still reach the
// broker in well-formed PUBLISH packets.
func TestPublishDoesNotCopyPayload(t *testing.T) {
	const n, size = 16, 1 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var got atomic.Int64 // payload bytes the broker received, checked
	bad := make(chan error, 1)
	go fakeBroker(ln, size, &got, bad)

	o := paho.NewClientOptions().AddBroker("tcp://" + ln.Addr().String()).SetClientID("nocopy").
		SetAutoReconnect(false).SetConnectRetry(false)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	payload := bytes.Repeat([]byte("0123456789abcdef"), size/16)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		if tok := c.Publish("t", 0, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < n*size && time.Now().Before(deadline) {
		select {
		case err := <-bad:
			t.Fatal(err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	runtime.ReadMemStats(&after)
	if got.Load() != n*size {
		t.Fatalf("broker received %d payload bytes, want %d", got.Load(), n*size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > n*size/4 {
		t.Errorf("%d publishes of %d bytes allocated %d bytes: the payload is copied", n, size, alloc)
	}
}

// fakeBroker accepts one client, answers its CONNECT and reads PUBLISH
// packets, counting payload bytes that are all size long and intact.
func fakeBroker(ln net.Listener, size int, got *atomic.Int64, bad chan<- error) {
	nc, err := ln.Accept()
	if err != nil {
		return
	}
	defer nc.Close()
	buf := make([]byte, size+64)
	for {
		var h [1]byte
		if _, err := io.ReadFull(nc, h[:]); err != nil {
			return
		}
		n, err := remainingLength(nc)
		if err == nil && n > len(buf) {
			err = fmt.Errorf("a %d-byte packet, more than a publish of %d", n, size)
		}
		if err != nil {
			bad <- err
			return
		}
		if _, err := io.ReadFull(nc, buf[:n]); err != nil {
			return
		}
		switch h[0] >> 4 {
		case 1: // CONNECT
			nc.Write([]byte{0x20, 2, 0, 0}) // CONNACK, accepted
		case 3: // PUBLISH, QoS 0: topic length, topic, payload
			tl := int(buf[0])<<8 | int(buf[1])
			p := buf[2+tl : n]
			if len(p) != size || p[0] != '0' || p[size-1] != 'f' {
				bad <- fmt.Errorf("a publish of %d payload bytes, not the %d sent or not intact", len(p), size)
				return
			}
			got.Add(int64(len(p)))
		}
	}
}

func remainingLength(r io.Reader) (int, error) {
	n, shift := 0, 0
	for i := 0; i < 4; i++ {
		var b [1]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, err
		}
		n |= int(b[0]&0x7f) << shift
		if b[0]&0x80 == 0 {
			return n, nil
		}
		shift += 7
	}
	return 0, io.ErrUnexpectedEOF
}
