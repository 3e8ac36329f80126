package mqtt_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"
)

// The agent builds paho with a patch (third_party/paho.mqtt.golang):
// a publish puts its packet together in a buffer kept for the next one
// instead of a new buffer as large as the payload, which was two thirds
// of the agent's garbage at 10,000 points. Sixty-four 64 KiB publishes
// (the agent's messages are about 30 KB) must allocate far less than the
// 4 MiB that new buffers would, and every byte must still reach the
// broker in well-formed PUBLISH packets.
func TestPublishReusesPacketBuffer(t *testing.T) {
	const n, size = 64, 64 << 10
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	payload := testPayload(size)
	var got atomic.Int64 // payload bytes the broker received, checked
	bad := make(chan error, 1)
	go fakeBroker(ln, payload, &got, bad)
	c := connectPaho(t, "tcp://"+ln.Addr().String(), "packetbuf")

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	publishN(t, c, payload, n)
	awaitPayload(t, &got, n*size, bad)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d publishes of %d bytes allocated %d bytes", n, size, alloc)
	if alloc > n*size/4 {
		t.Errorf("%d publishes of %d bytes allocated %d bytes: each packet is a new buffer", n, size, alloc)
	}
}

// fakeBroker accepts one client, answers its CONNECT and reads PUBLISH
// packets, counting the bytes of payloads that are want to the byte.
func fakeBroker(ln net.Listener, want []byte, got *atomic.Int64, bad chan<- error) {
	nc, err := ln.Accept()
	if err != nil {
		return
	}
	serveFake(nc, want, got, bad)
}

// serveFake is fakeBroker's side of one connection, until it ends.
func serveFake(nc net.Conn, want []byte, got *atomic.Int64, bad chan<- error) {
	defer nc.Close()
	buf := make([]byte, len(want)+64)
	for {
		var h [1]byte
		if _, err := io.ReadFull(nc, h[:]); err != nil {
			return
		}
		n, err := remainingLength(nc)
		if err == nil && n > len(buf) {
			err = fmt.Errorf("a %d-byte packet, more than a publish of %d", n, len(want))
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
			if !bytes.Equal(p, want) {
				bad <- fmt.Errorf("a publish of %d payload bytes that are not the %d sent", len(p), len(want))
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

// A publish whose Write fails partway (the link drops in the middle of
// a packet) hands its buffer back empty: the first packet on the next
// connection is that publish alone, not the remains of the failed one
// followed by it.
func TestPublishAfterFailedWrite(t *testing.T) {
	const size = 64 << 10
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	failed, second := testPayload(size), bytes.ToUpper(testPayload(size))
	var got atomic.Int64
	bad := make(chan error, 1)
	go func() {
		first, err := ln.Accept()
		if err != nil {
			return
		}
		serveFake(first, failed, new(atomic.Int64), make(chan error, 1)) // sees half a packet, then EOF
		fakeBroker(ln, second, &got, bad)
	}()
	var conns atomic.Int32
	lost := make(chan error, 1)
	opts := paho.NewClientOptions().AddBroker("tcp://" + ln.Addr().String()).SetClientID("halfwrite").
		SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			nc, err := net.Dial("tcp", u.Host)
			if err != nil || conns.Add(1) > 1 {
				return nc, err
			}
			return &halfWriter{Conn: nc}, nil
		})
	c := paho.NewClient(opts)
	defer c.Disconnect(0)
	for i, payload := range [][]byte{failed, second} {
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("connect %d: %v", i+1, tok.Error())
		}
		tok := c.Publish("t", 0, false, payload)
		if !tok.WaitTimeout(5 * time.Second) {
			t.Fatalf("publish %d did not complete", i+1)
		}
		if i == 0 {
			// paho notices the broken link and drops the connection.
			select {
			case err := <-lost:
				t.Logf("connection lost: %v", err)
			case <-time.After(5 * time.Second):
				t.Fatal("still connected after a write failed")
			}
		} else if tok.Error() != nil {
			t.Fatalf("publish on the new connection: %v", tok.Error())
		}
	}
	awaitPayload(t, &got, size, bad)
}

// awaitPayload waits up to 10 s for the fake broker to have received want
// payload bytes, all of them as sent, failing on the first error it reports.
func awaitPayload(t *testing.T, got *atomic.Int64, want int64, bad <-chan error) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); got.Load() < want; {
		select {
		case err := <-bad:
			t.Fatal(err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(end) {
			t.Fatalf("broker received %d payload bytes, want %d", got.Load(), want)
		}
	}
	if n := got.Load(); n != want {
		t.Fatalf("broker received %d payload bytes, want %d", n, want)
	}
}

// halfWriter is a link that drops in the middle of the first packet
// larger than 1 KiB: it writes half of it, then fails and closes.
type halfWriter struct {
	net.Conn
	failed atomic.Bool
}

func (h *halfWriter) Write(p []byte) (int, error) {
	if len(p) <= 1<<10 || h.failed.Swap(true) {
		return h.Conn.Write(p)
	}
	n, _ := h.Conn.Write(p[:len(p)/2])
	h.Conn.Close()
	return n, errors.New("halfWriter: link dropped mid-packet")
}

// Over WebSocket each packet stays one binary message, as upstream paho
// sends it: brokers and proxies that expect a packet a message (the spec
// says they must not, some do) see no change from the patch.
func TestWebSocketPublishIsOneMessage(t *testing.T) {
	const n, size = 8, 30 << 10 // the agent's messages are about 30 KB
	up := websocket.Upgrader{Subprotocols: []string{"mqtt"}}
	got := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			got <- err
			return
		}
		defer ws.Close()
		got <- readPackets(ws, n, size)
	}))
	defer srv.Close()
	publishN(t, connectPaho(t, "ws://"+srv.Listener.Addr().String(), "ws-frames"), testPayload(size), n)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not get the publishes")
	}
}

// readPackets answers a CONNECT and reads n PUBLISH packets of size
// payload bytes, each required to be exactly one WebSocket message.
func readPackets(ws *websocket.Conn, n, size int) error {
	for seen := 0; seen < n; {
		kind, msg, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		r := bytes.NewReader(msg[1:])
		rl, err := remainingLength(r)
		if err != nil {
			return err
		}
		head := len(msg) - r.Len() // fixed header: the type byte and the length's bytes
		if kind != websocket.BinaryMessage || head+rl != len(msg) {
			return fmt.Errorf("a message of %d bytes holding a packet of %d: not one packet a message", len(msg), head+rl)
		}
		switch msg[0] >> 4 {
		case 1: // CONNECT
			if err := ws.WriteMessage(websocket.BinaryMessage, []byte{0x20, 2, 0, 0}); err != nil {
				return err
			}
		case 3:
			if p := len(msg) - head - 2 - 1; p != size { // topic "t": length 2 + 1 byte
				return fmt.Errorf("a publish of %d payload bytes, want %d", p, size)
			}
			seen++
		}
	}
	return nil
}

func testPayload(size int) []byte { return bytes.Repeat([]byte("0123456789abcdef"), size/16) }

// connectPaho connects a bare paho client (no reconnects) to url; it
// disconnects at cleanup.
func connectPaho(t *testing.T, url, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).
		SetAutoReconnect(false).SetConnectRetry(false))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// publishN publishes payload n times on topic "t" at QoS 0, each written
// before the next.
func publishN(t *testing.T, c paho.Client, payload []byte, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if tok := c.Publish("t", 0, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
}
