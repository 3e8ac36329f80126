package modbus

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"canary/config"
	"canary/drivers"
)

// With several requests in flight, an independent server (which reads
// them from the stream one after another) gives exactly the samples one
// request at a time gives, in as many requests as the plan has.
func TestPipelinedMatchesOneAtATime(t *testing.T) {
	srv := startServer(t)
	var points []config.Point
	for i := 0; i < 2000; i++ {
		srv.SetHolding(1, uint16(i), uint16(i*7))
		srv.SetHolding(2, uint16(i), uint16(i*3))
		points = append(points, config.Point{ID: "a" + itoa(i), Address: i}, config.Point{ID: "b" + itoa(i), Address: i, UnitID: 2})
	}
	scan := func(inflight int) (drivers.Scan, uint64) {
		dev := device(srv, points...)
		dev.MaxInflight = inflight
		before := srv.Requests()
		r := run(t, dev)
		s := r.next(t)
		r.stop()
		return s, srv.Requests() - before
	}
	one, n1 := scan(1)
	many, n8 := scan(8)
	if one.Err != nil || many.Err != nil {
		t.Fatalf("errors: %v / %v", one.Err, many.Err)
	}
	if n1 != n8 || n1 != 2*16 { // 2,000 registers per unit are 16 reads of at most 125
		t.Errorf("requests: %d one at a time, %d pipelined, want 32 each", n1, n8)
	}
	for i := range one.Samples {
		a, b := one.Samples[i], many.Samples[i]
		if a.Point != b.Point || a.Value != b.Value || a.Quality != b.Quality {
			t.Fatalf("sample %d: %+v one at a time, %+v pipelined", i, a, b)
		}
	}
}

// An exception answers only its own request: the other unit's reads in
// the same window stay good.
func TestPipelinedException(t *testing.T) {
	srv := startServer(t)
	srv.SetHolding(2, 0, 9)
	dev := device(srv, config.Point{ID: "a", Address: 0}, config.Point{ID: "b", Address: 0, UnitID: 2})
	dev.MaxInflight = 4
	srv.SetException(1, 2)
	r := run(t, dev)
	got := values(r.next(t))
	if a := got["a"]; a.Quality != drivers.Bad || a.Reason != drivers.ReasonConfig {
		t.Errorf("a = %+v, want bad/config", a)
	}
	if b := got["b"]; b.Quality != drivers.Good || b.Value != drivers.Uint(9) {
		t.Errorf("b = %+v, want good 9", b)
	}
}

// scripted is a raw Modbus TCP server: it reads a window of requests and
// answers them as told (holding register i holds i+1000).
type scripted struct {
	ln      net.Listener
	answer  func(reqs [][]byte) [][]byte // replies to send, in order
	window  int
	accepts atomic.Int32
}

func startScripted(t *testing.T, window int, answer func(reqs [][]byte) [][]byte) *scripted {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{ln: ln, answer: answer, window: window}
	t.Cleanup(func() { ln.Close() })
	go s.serve()
	return s
}

func (s *scripted) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepts.Add(1)
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				reqs := make([][]byte, s.window)
				for i := range reqs {
					reqs[i] = make([]byte, 12)
					if _, err := io.ReadFull(br, reqs[i]); err != nil {
						return
					}
				}
				for _, rep := range s.answer(reqs) {
					if rep == nil {
						return // close the connection here
					}
					c.Write(rep)
				}
			}
		}()
	}
}

// reply builds the right answer to a read-holding request.
func reply(req []byte) []byte {
	addr, qty := binary.BigEndian.Uint16(req[8:]), binary.BigEndian.Uint16(req[10:])
	b := append([]byte(nil), req[:2]...)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(3+2*qty))
	b = append(b, req[6], 3, byte(2*qty))
	for i := uint16(0); i < qty; i++ {
		b = binary.BigEndian.AppendUint16(b, addr+i+1000)
	}
	return b
}

// farPoints are n points 200 registers apart: one read each.
func farPoints(n int) []config.Point {
	var ps []config.Point
	for i := 0; i < n; i++ {
		ps = append(ps, config.Point{ID: "p" + itoa(i), Address: 200 * i})
	}
	return ps
}

func scriptedDevice(s *scripted, n int) config.Device {
	return config.Device{ID: "plc", Driver: "modbus", Address: s.ln.Addr().String(), MaxInflight: n,
		Interval: config.Duration(interval), Timeout: config.Duration(300 * time.Millisecond), Points: farPoints(n)}
}

func checkRight(t *testing.T, s drivers.Scan) {
	t.Helper()
	if s.Err != nil {
		t.Fatalf("scan error %v", s.Err)
	}
	for i, x := range s.Samples {
		if want := drivers.Uint(uint64(200*i + 1000)); x.Value != want || x.Quality != drivers.Good {
			t.Errorf("%s = %+v, want %v: a reply given to the wrong request", x.Point, x, want)
		}
	}
}

// Replies in another order than the requests are matched by transaction id.
func TestPipelinedRepliesOutOfOrder(t *testing.T) {
	s := startScripted(t, 4, func(reqs [][]byte) [][]byte {
		return [][]byte{reply(reqs[3]), reply(reqs[1]), reply(reqs[0]), reply(reqs[2])}
	})
	r := run(t, scriptedDevice(s, 4))
	checkRight(t, r.next(t))
	checkRight(t, r.poll(t))
}

// A reply to no request in flight (a stray, or a peer out of step) fails
// the window and closes the connection; nothing is misattributed, and the
// next poll, on a new connection, is right again.
func TestPipelinedStrayReply(t *testing.T) {
	var stray atomic.Bool
	stray.Store(true)
	s := startScripted(t, 4, func(reqs [][]byte) [][]byte {
		out := [][]byte{reply(reqs[0])}
		if stray.Swap(false) {
			bogus := reply(reqs[1])
			bogus[0] ^= 0x55 // a transaction id nobody asked for
			out = append(out, bogus)
		}
		return append(out, reply(reqs[1]), reply(reqs[2]), reply(reqs[3]))
	})
	r := run(t, scriptedDevice(s, 4))
	sc := r.next(t)
	if !errors.Is(sc.Err, ErrBadReply) {
		t.Fatalf("err = %v, want ErrBadReply", sc.Err)
	}
	got := values(sc)
	if got["p0"].Quality != drivers.Good || got["p0"].Value != drivers.Uint(1000) {
		t.Errorf("p0, answered before the stray: %+v", got["p0"])
	}
	for _, id := range []string{"p1", "p2", "p3"} {
		if got[id].Quality != drivers.Bad || got[id].Value.Kind() != drivers.KindNone {
			t.Errorf("%s after the stray: %+v, want bad without value", id, got[id])
		}
	}
	checkRight(t, r.poll(t))
	if n := s.accepts.Load(); n != 2 {
		t.Errorf("%d connections, want 2: the stray must close the first", n)
	}
}

// A peer that answers only part of the window: the rest time out, the
// connection is closed, and the late replies of that window can never be
// read as the next poll's.
func TestPipelinedTimeout(t *testing.T) {
	var first atomic.Bool
	first.Store(true)
	s := startScripted(t, 4, func(reqs [][]byte) [][]byte {
		if first.Swap(false) {
			return [][]byte{reply(reqs[0])} // the others never come on this connection
		}
		return [][]byte{reply(reqs[0]), reply(reqs[1]), reply(reqs[2]), reply(reqs[3])}
	})
	r := run(t, scriptedDevice(s, 4))
	sc := r.next(t)
	if !errors.Is(sc.Err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", sc.Err)
	}
	if got := values(sc); got["p0"].Quality != drivers.Good || got["p3"].Reason != drivers.ReasonComm {
		t.Errorf("partial window: %+v", got)
	}
	checkRight(t, r.poll(t))
}

// Whatever a peer sends, the pipelined reader never panics, and what it
// accepts has the data the request asked for.
func FuzzPipelinedReplies(f *testing.F) {
	reqs := []*request{{unit: 1, table: tHolding, addr: 0, qty: 2}, {unit: 1, table: tHolding, addr: 10, qty: 1}}
	c := newTCPConn("fuzz", time.Second)
	adus, _ := c.encodeAll(reqs)
	var good []byte
	for _, a := range adus {
		good = append(good, reply(a)...)
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Fuzz(func(t *testing.T, in []byte) {
		c := newTCPConn("fuzz", time.Second)
		c.t.nc, c.t.br = nopConn{}, bufio.NewReader(bytes.NewReader(in))
		out := make([]result, len(reqs))
		c.readMany(context.Background(), reqs, out)
		for i, r := range out {
			if r.err == nil && len(r.data) != 2*int(reqs[i].qty) {
				t.Fatalf("request %d: %d data bytes accepted for %d registers", i, len(r.data), reqs[i].qty)
			}
		}
	})
}

// nopConn is a net.Conn that swallows writes (reads come from the bufio
// reader the test sets).
type nopConn struct{ net.Conn }

func (nopConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (nopConn) Write(b []byte) (int, error)      { return len(b), nil }
func (nopConn) Close() error                     { return nil }
func (nopConn) SetDeadline(time.Time) error      { return nil }
func (nopConn) SetReadDeadline(time.Time) error  { return nil }
func (nopConn) SetWriteDeadline(time.Time) error { return nil }

func itoa(i int) string { return strconv.Itoa(i) }

// A peer that closes the connection in the middle of a window: what was
// answered stays good, the rest is bad/comm without a value, and the next
// poll reconnects and reads everything.
func TestPipelinedPeerCloses(t *testing.T) {
	var first atomic.Bool
	first.Store(true)
	s := startScripted(t, 4, func(reqs [][]byte) [][]byte {
		if first.Swap(false) {
			return [][]byte{reply(reqs[0]), nil} // nil: close the connection
		}
		return [][]byte{reply(reqs[0]), reply(reqs[1]), reply(reqs[2]), reply(reqs[3])}
	})
	r := run(t, scriptedDevice(s, 4))
	sc := r.next(t)
	if sc.Err == nil || errors.Is(sc.Err, ErrTimeout) {
		t.Fatalf("err = %v, want the connection's end, not a timeout", sc.Err)
	}
	got := values(sc)
	if got["p0"].Quality != drivers.Good {
		t.Errorf("p0, answered before the close: %+v", got["p0"])
	}
	for _, id := range []string{"p1", "p2", "p3"} {
		if got[id].Quality != drivers.Bad || got[id].Reason != drivers.ReasonComm || got[id].Value.Kind() != drivers.KindNone {
			t.Errorf("%s after the close: %+v, want bad/comm without value", id, got[id])
		}
	}
	checkRight(t, r.poll(t))
}
