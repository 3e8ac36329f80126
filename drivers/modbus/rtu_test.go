package modbus

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"canary/agent/clock"
	"canary/config"
	"canary/drivers"
	"canary/drivers/modbus/modbustest"
)

// rtuPeer is an independent RTU slave reached over one transport.
type rtuPeer struct {
	name      string
	transport string
	start     func(t testing.TB) (*modbustest.RTU, string)
}

var rtuPeers = []rtuPeer{
	{"pty", "rtu", modbustest.StartRTUOnPty},
	{"tcp", "rtu-over-tcp", modbustest.StartRTUOverTCP},
}

func rtuDevice(id, transport, addr string, unit int, points ...config.Point) config.Device {
	return config.Device{ID: id, Driver: "modbus", Transport: transport, Address: addr, UnitID: unit,
		Serial:   config.Serial{Baud: 9600, Parity: "N", DataBits: 8, StopBits: 1},
		Interval: config.Duration(interval), Timeout: config.Duration(150 * time.Millisecond), Points: points}
}

// runBus runs a Bus of devs on a fake clock, collecting scans.
func runBus(t *testing.T, env drivers.Env, devs ...config.Device) chan drivers.Scan {
	t.Helper()
	b, err := NewBus(devs, env)
	if err != nil {
		t.Fatal(err)
	}
	return runScanner(t, b)
}

// runScanner runs s (a Source or a Bus) until the test ends and returns
// its scans, each with its own copy of the samples.
func runScanner(t *testing.T, s drivers.Source) chan drivers.Scan {
	scans := make(chan drivers.Scan, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(s drivers.Scan) {
			s.Samples = append([]drivers.Sample(nil), s.Samples...)
			scans <- s
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return scans
}

func recv(t *testing.T, c chan drivers.Scan) drivers.Scan {
	t.Helper()
	select {
	case s := <-c:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no scan within 5s")
	}
	return drivers.Scan{}
}

// TestRTU reads two units on one line through each RTU transport from an
// independent slave: values, byte orders, and exceptions mapped to
// quality reasons.
func TestRTU(t *testing.T) {
	for _, p := range rtuPeers {
		t.Run(p.name, func(t *testing.T) {
			srv, addr := p.start(t)
			srv.SetFloat32(modbustest.Holding, 1, 0, 12.5, "CDAB")
			srv.SetInput(2, 10, 0x8001)
			clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			scans := runBus(t, drivers.Env{Clock: clk},
				rtuDevice("d1", p.transport, addr, 1, config.Point{ID: "gas", Type: "float32", Order: "CDAB"}),
				rtuDevice("d2", p.transport, addr, 2, config.Point{ID: "st", Table: "input", Address: 10, Type: "int16"}))
			got := map[string]drivers.Sample{}
			for range 2 {
				s := recv(t, scans)
				if s.Err != nil {
					t.Fatalf("%s: %v", s.Device, s.Err)
				}
				for _, x := range s.Samples {
					got[x.Point] = x
				}
			}
			if got["gas"].Value != drivers.Float(12.5) || got["st"].Value != drivers.Int(-32767) {
				t.Fatalf("values: %+v", got)
			}
			for _, c := range []struct {
				code   byte
				reason drivers.Reason
				err    bool
			}{{2, drivers.ReasonConfig, false}, {0x0B, drivers.ReasonComm, true}, {6, drivers.ReasonComm, true}} {
				srv.SetException(1, c.code)
				advance(t, clk, interval)
				s1, s2 := recv(t, scans), recv(t, scans)
				if s1.Device != "d1" {
					s1, s2 = s2, s1
				}
				if x := s1.Samples[0]; x.Quality != drivers.Bad || x.Reason != c.reason || (s1.Err != nil) != c.err {
					t.Errorf("exception %d: %+v err %v, want bad/%s", c.code, x, s1.Err, c.reason)
				}
				if s2.Samples[0].Quality != drivers.Good {
					t.Errorf("exception on unit 1 spoiled unit 2: %+v", s2.Samples[0])
				}
			}
			if srv.Writes() != 0 {
				t.Errorf("%d writes", srv.Writes())
			}
		})
	}
}

// TestRTULateReply: the slave answers after the timeout. The late frame
// must never be taken for the answer to a later request (here, to another
// unit with the same register layout), and reads recover once the slave
// is prompt again.
func TestRTULateReply(t *testing.T) {
	for _, p := range rtuPeers {
		t.Run(p.name, func(t *testing.T) {
			srv, addr := p.start(t)
			srv.SetHolding(1, 0, 111)
			srv.SetHolding(2, 0, 222)
			clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			scans := runBus(t, drivers.Env{Clock: clk},
				rtuDevice("d1", p.transport, addr, 1, config.Point{ID: "a"}),
				rtuDevice("d2", p.transport, addr, 2, config.Point{ID: "b"}))
			want := map[string]drivers.Value{"a": drivers.Uint(111), "b": drivers.Uint(222)}
			check := func(s drivers.Scan) {
				for _, x := range s.Samples {
					if x.Quality == drivers.Good && x.Value != want[x.Point] {
						t.Fatalf("%s read %v, want %v: a reply was misattributed", x.Point, x.Value, want[x.Point])
					}
				}
			}
			check(recv(t, scans))
			check(recv(t, scans))
			srv.SetDelay(250 * time.Millisecond) // timeout 150ms: lands in the next request's wait
			bad := 0
			for range 3 {
				advance(t, clk, 4*time.Minute) // past any back-off
				for range 2 {
					s := recv(t, scans)
					check(s)
					if s.Err != nil {
						bad++
					}
				}
			}
			if bad == 0 {
				t.Fatal("no poll failed while the slave was late")
			}
			srv.SetDelay(0)
			good := 0
			for i := 0; i < 12 && good < 2; i++ {
				advance(t, clk, 6*time.Minute)
				s := recv(t, scans)
				check(s)
				if s.Err == nil {
					good++
				}
			}
			if good < 2 {
				t.Fatal("reads did not recover after the slave was prompt again")
			}
		})
	}
}

// fakeLink replays chunks of bytes, one per recv.
type fakeLink struct {
	chunks [][]byte
	sent   [][]byte
}

func (l *fakeLink) recv(ctx context.Context, b []byte, deadline time.Time) (int, error) {
	if len(l.chunks) == 0 {
		return 0, ErrTimeout
	}
	n := copy(b, l.chunks[0])
	l.chunks = l.chunks[1:]
	return n, nil
}
func (l *fakeLink) send(b []byte) error { l.sent = append(l.sent, b); return nil }
func (l *fakeLink) drain() int          { return 0 }
func (l *fakeLink) close()              {}

func rtuFrame(b ...byte) []byte {
	c := crc16(b)
	return append(b, byte(c), byte(c>>8))
}

// TestRTURejectsStrayFrames: frames for another unit, with another
// function code, a wrong byte count or a bad CRC, and noise, ahead of the
// real reply, are all skipped; the real reply is returned.
func TestRTURejectsStrayFrames(t *testing.T) {
	corrupt := rtuFrame(1, 3, 2, 0, 9)
	corrupt[3] ^= 1
	l := &fakeLink{chunks: [][]byte{
		{0xff, 0x00},                  // noise
		rtuFrame(2, 3, 2, 0, 7),       // another unit
		rtuFrame(1, 4, 2, 0, 7),       // another function
		rtuFrame(1, 3, 4, 0, 7, 0, 8), // another quantity
		corrupt,
		append(rtuFrame(1, 3, 2, 0x12, 0x34)[:3], 0), // a torn frame…
		rtuFrame(1, 3, 2, 0x00, 0x2a),                // …then the real reply
	}}
	c := newRTUConn(func(context.Context) (link, error) { return l, nil }, time.Second, 0, false)
	data, err := c.read(context.Background(), &request{unit: 1, table: tHolding, addr: 0, qty: 1})
	if err != nil || len(data) != 2 || data[1] != 0x2a {
		t.Fatalf("read = % x, %v", data, err)
	}
	if c.stray != 3 {
		t.Errorf("stray = %d, want the 3 well-formed wrong frames counted", c.stray)
	}
}

// TestRTUCancelled: a cancelled context ends a read of a silent slave.
func TestRTUCancelled(t *testing.T) {
	srv, addr := modbustest.StartRTUOverTCP(t)
	srv.SetUnitDead(1, true)
	c := newRTUConn(dialTCP(addr, time.Minute), time.Minute, 0, true)
	defer c.close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := c.read(ctx, &request{unit: 1, table: tHolding, qty: 1})
	if !errors.Is(err, ErrCanceled) || time.Since(start) > 2*time.Second {
		t.Errorf("read with a cancelled ctx: %v after %v", err, time.Since(start))
	}
}

func TestCharTime(t *testing.T) {
	got := charTime(config.Serial{Baud: 9600, Parity: "N", DataBits: 8, StopBits: 1})
	if math.Abs(float64(got-1041666*time.Nanosecond)) > 1000 {
		t.Errorf("9600 8N1: %v per character, want 1.0417ms", got)
	}
	if got := charTime(config.Serial{Baud: 19200, Parity: "E", DataBits: 8, StopBits: 1}); got != 11*time.Second/19200 {
		t.Errorf("19200 8E1: %v", got)
	}
}

// advance moves the fake clock once the bus waits on it, so the advance
// cannot slip in between the bus reading the time and starting its wait.
func advance(t *testing.T, clk *clock.Fake, d time.Duration) {
	t.Helper()
	waitFor(t, func() bool { return clk.Waiters() > 0 })
	clk.Advance(d)
}
