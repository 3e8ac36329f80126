package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"canary/agent/clock"
	"canary/config"
	"canary/drivers"
	"canary/drivers/modbus/modbustest"
)

const interval = time.Second

// startServer starts a simulated device that must never see a write.
func startServer(t *testing.T) *modbustest.Server {
	srv := modbustest.Start(t)
	t.Cleanup(func() {
		if n := srv.Writes(); n != 0 {
			t.Errorf("the driver sent %d write requests", n)
		}
	})
	return srv
}

// running is a Source under test on a fake clock.
type running struct {
	clk   *clock.Fake
	scans chan drivers.Scan
	stop  context.CancelFunc
	done  chan error
}

func device(srv *modbustest.Server, points ...config.Point) config.Device {
	return config.Device{ID: "gas-rack-1", Driver: "modbus", Address: srv.Addr(),
		Interval: config.Duration(interval), Timeout: config.Duration(300 * time.Millisecond), Points: points}
}

func run(t *testing.T, dev config.Device) *running {
	t.Helper()
	r := &running{clk: clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)),
		scans: make(chan drivers.Scan, 16), done: make(chan error, 1)}
	src, err := New(dev, drivers.Env{Clock: r.clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() {
		r.done <- src.Run(ctx, func(s drivers.Scan) {
			s.Samples = append([]drivers.Sample(nil), s.Samples...) // the source reuses them
			r.scans <- s
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

// next waits (bounded) for the next scan.
func (r *running) next(t *testing.T) drivers.Scan {
	t.Helper()
	select {
	case s := <-r.scans:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no scan within 5s")
	}
	return drivers.Scan{}
}

// poll triggers the next poll by advancing the fake clock.
func (r *running) poll(t *testing.T) drivers.Scan {
	t.Helper()
	r.clk.Advance(interval)
	return r.next(t)
}

func values(s drivers.Scan) map[string]drivers.Sample {
	m := map[string]drivers.Sample{}
	for _, x := range s.Samples {
		m[x.Point] = x
	}
	return m
}

func assertAll(t *testing.T, s drivers.Scan, n int, q drivers.Quality, reason drivers.Reason) {
	t.Helper()
	if len(s.Samples) != n {
		t.Fatalf("%d samples, want %d", len(s.Samples), n)
	}
	for _, x := range s.Samples {
		if x.Quality != q || x.Reason != reason {
			t.Errorf("%s: %v/%q, want %v/%q", x.Point, x.Quality, x.Reason, q, reason)
		}
		if q == drivers.Bad && x.Value.Kind() != drivers.KindNone {
			t.Errorf("%s: bad sample carries value %v", x.Point, x.Value)
		}
	}
}

// TestEveryTypeAndOrder writes each type in each order into the simulated
// device with its own encoder and reads it back through the whole path.
func TestEveryTypeAndOrder(t *testing.T) {
	srv := startServer(t)
	type tc struct {
		typ  string
		be   []byte
		want drivers.Value
	}
	cases := []tc{
		{"int16", binary.BigEndian.AppendUint16(nil, 0xFF85), drivers.Int(-123)},
		{"uint16", binary.BigEndian.AppendUint16(nil, 0xABCD), drivers.Uint(0xABCD)},
		{"int32", binary.BigEndian.AppendUint32(nil, uint32(0xFFFE1DC0)), drivers.Int(-123456)},
		{"uint32", binary.BigEndian.AppendUint32(nil, 0xDEADBEEF), drivers.Uint(0xDEADBEEF)},
		{"int64", binary.BigEndian.AppendUint64(nil, uint64(math.MaxUint64-41)), drivers.Int(-42)},
		{"uint64", binary.BigEndian.AppendUint64(nil, 0x0102030405060708), drivers.Uint(0x0102030405060708)},
		{"float32", binary.BigEndian.AppendUint32(nil, math.Float32bits(23.25)), drivers.Float(23.25)},
		{"float64", binary.BigEndian.AppendUint64(nil, math.Float64bits(-19.5e-3)), drivers.Float(-19.5e-3)},
	}
	var points []config.Point
	want := map[string]drivers.Value{}
	addr := 0
	for _, ord := range orders {
		for _, c := range cases {
			id := fmt.Sprintf("%s-%s", c.typ, ord)
			srv.SetBytes(modbustest.Holding, 1, uint16(addr), c.be, ord)
			points = append(points, config.Point{ID: id, Address: addr, Type: c.typ, Order: ord})
			want[id] = c.want
			addr += len(c.be)/2 + 3
		}
	}
	srv.SetInput(1, 10, 0x0005)
	srv.SetHolding(1, 900, 0x4348, 0x3400) // "CH4\0"
	srv.SetCoil(1, 3, true)
	srv.SetDiscrete(1, 2000, true)
	srv.SetFloat32(modbustest.Input, 1, 20, 42.5, "CDAB")
	points = append(points,
		config.Point{ID: "bit2", Table: "input", Address: 10, Type: "bit", Bit: 2},
		config.Point{ID: "bool-reg", Table: "input", Address: 10, Type: "bool", Invert: true},
		config.Point{ID: "gas", Address: 900, Type: "string", Length: 2},
		config.Point{ID: "coil3", Table: "coil", Address: 3},
		config.Point{ID: "coil4", Table: "coil", Address: 4, Type: "bool"},
		config.Point{ID: "di2000", Table: "discrete", Address: 2000, Invert: true},
		config.Point{ID: "f-input", Table: "input", Address: 20, Type: "float32", Order: "CDAB", Scale: 2},
	)
	want["bit2"] = drivers.Bool(true)
	want["bool-reg"] = drivers.Bool(false)
	want["gas"] = drivers.String("CH4")
	want["coil3"] = drivers.Bool(true)
	want["coil4"] = drivers.Bool(false)
	want["di2000"] = drivers.Bool(false)
	want["f-input"] = drivers.Float(85)

	r := run(t, device(srv, points...))
	s := r.next(t)
	if s.Err != nil {
		t.Fatal(s.Err)
	}
	assertAll(t, s, len(points), drivers.Good, drivers.ReasonNone)
	got := values(s)
	for id, w := range want {
		if v := got[id].Value; v != w {
			t.Errorf("%s: got %v, want %v", id, v, w)
		}
	}
	if s.Device != "gas-rack-1" || !s.At.Equal(r.clk.Now()) || got["gas"].TS.IsZero() {
		t.Errorf("scan header %q at %v, sample TS %v", s.Device, s.At, got["gas"].TS)
	}
}

func TestPlanRequestsOnTheWire(t *testing.T) {
	srv := startServer(t)
	dev := device(srv,
		config.Point{ID: "a", Address: 0}, config.Point{ID: "b", Address: 5, Type: "float32"},
		config.Point{ID: "c", Address: 17}, // gap of 10 after b: bridged
		config.Point{ID: "d", Address: 28}, // gap of 10... from 18: bridged
		config.Point{ID: "e", Address: 40}, // gap of 11: a new request
		config.Point{ID: "f", Table: "coil", Address: 0}, config.Point{ID: "g", Table: "coil", Address: 1000},
	)
	before := srv.Requests() // before Run: the first poll starts at once
	r := run(t, dev)
	r.next(t)
	if n := srv.Requests() - before; n != 4 {
		t.Errorf("%d requests per poll, want 4 (holding 0-28, holding 40, two coil reads)", n)
	}
}

func TestServerStoppedAndRestarted(t *testing.T) {
	srv := startServer(t)
	srv.SetHolding(1, 0, 7)
	points := []config.Point{{ID: "a", Address: 0}, {ID: "b", Address: 300}, {ID: "c", Table: "coil"}}
	r := run(t, device(srv, points...))
	assertAll(t, r.next(t), 3, drivers.Good, drivers.ReasonNone)

	srv.Stop()
	s := r.poll(t)
	assertAll(t, s, 3, drivers.Bad, drivers.ReasonComm)
	if s.Err == nil {
		t.Error("no Err with the server down")
	}
	s = r.poll(t) // still down: no reconnect loop, just one attempt per poll
	assertAll(t, s, 3, drivers.Bad, drivers.ReasonComm)

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	s = r.poll(t)
	assertAll(t, s, 3, drivers.Good, drivers.ReasonNone)
	if s.Err != nil || values(s)["a"].Value != drivers.Uint(7) {
		t.Errorf("after restart: err %v, a = %v", s.Err, values(s)["a"].Value)
	}
}

// TestLateReply checks that a reply arriving after the timeout is never
// taken for the answer to a later request.
func TestLateReply(t *testing.T) {
	srv := startServer(t)
	srv.SetHolding(1, 0, 1)
	r := run(t, device(srv, config.Point{ID: "a", Address: 0}))
	r.next(t)

	srv.SetDelay(600 * time.Millisecond) // timeout is 300ms
	s := r.poll(t)
	assertAll(t, s, 1, drivers.Bad, drivers.ReasonComm)
	if !errors.Is(s.Err, ErrTimeout) {
		t.Errorf("Err = %v, want ErrTimeout", s.Err)
	}
	if want := "modbus: gas-rack-1 unit 1: timeout"; s.Err.Error() != want {
		t.Errorf("Err = %q, want %q", s.Err, want)
	}
	srv.SetHolding(1, 0, 2)
	srv.SetDelay(0)
	for i := 0; i < 3; i++ {
		s = r.poll(t)
		if s.Err != nil || values(s)["a"].Value != drivers.Uint(2) {
			t.Fatalf("poll %d after delay: err %v, a = %v", i, s.Err, values(s)["a"].Value)
		}
	}
}

func TestExceptions(t *testing.T) {
	srv := startServer(t)
	dev := device(srv, config.Point{ID: "a", Address: 0}, config.Point{ID: "z", Address: 0, UnitID: 2})
	r := run(t, dev)
	r.next(t)
	for _, c := range []struct {
		code   byte
		reason drivers.Reason
		err    bool
	}{
		{2, drivers.ReasonConfig, false}, {1, drivers.ReasonConfig, false}, {3, drivers.ReasonConfig, false},
		{6, drivers.ReasonComm, false}, {5, drivers.ReasonComm, false}, // busy, acknowledge: alive, ask again
		{0x0A, drivers.ReasonComm, true}, {0x0B, drivers.ReasonComm, true},
		{4, drivers.ReasonComm, true},
	} {
		srv.SetException(1, c.code)
		s := r.poll(t)
		got := values(s)
		if a := got["a"]; a.Quality != drivers.Bad || a.Reason != c.reason || a.Value.Kind() != drivers.KindNone {
			t.Errorf("exception %d: a = %+v, want bad/%s", c.code, a, c.reason)
		}
		if z := got["z"]; z.Quality != drivers.Good {
			t.Errorf("exception %d on unit 1 spoiled unit 2: %+v", c.code, z)
		}
		if (s.Err != nil) != c.err {
			t.Errorf("exception %d: Err = %v", c.code, s.Err)
		}
	}
	srv.SetException(1, 0)
	assertAll(t, r.poll(t), 2, drivers.Good, drivers.ReasonNone)
}

// TestDeadUnit: one unit of a device stops answering; the others stay good.
func TestDeadUnit(t *testing.T) {
	srv := startServer(t)
	srv.SetHolding(2, 0, 9)
	dev := device(srv, config.Point{ID: "a", Address: 0}, config.Point{ID: "a2", Address: 50},
		config.Point{ID: "b", Address: 0, UnitID: 2})
	r := run(t, dev)
	r.next(t)
	srv.SetUnitDead(1, true)
	before := srv.Requests()
	s := r.poll(t)
	got := values(s)
	if got["a"].Reason != drivers.ReasonComm || got["a2"].Reason != drivers.ReasonComm || got["b"].Value != drivers.Uint(9) {
		t.Errorf("dead unit 1: %+v", got)
	}
	if n := srv.Requests() - before; n != 2 {
		t.Errorf("%d requests, want 2: no second wait on a unit that timed out", n)
	}
	srv.SetUnitDead(1, false)
	assertAll(t, r.poll(t), 3, drivers.Good, drivers.ReasonNone)
}

// TestCancelDuringRead: a cancelled context ends a read blocked on a
// silent peer at once, not after the device timeout.
func TestCancelDuringRead(t *testing.T) {
	srv := startServer(t)
	srv.SetUnitDead(1, true)
	dev := device(srv, config.Point{ID: "a"})
	dev.Timeout = config.Duration(time.Minute)
	src, err := New(dev, drivers.Env{Clock: clock.NewFake(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, func(drivers.Scan) { t.Error("emitted a scan cut short by cancel") }) }()
	waitFor(t, func() bool { return srv.Requests() > 0 })
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run still blocked 2s after cancel")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run took %v to return", d)
	}
}

func TestConnReadCancelled(t *testing.T) {
	srv := startServer(t)
	c := newTCPConn(srv.Addr(), time.Minute)
	defer c.close()
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.connect(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	start := time.Now()
	_, err := c.read(ctx, &request{unit: 1, table: tHolding, qty: 1})
	if !errors.Is(err, ErrCanceled) || time.Since(start) > time.Second {
		t.Errorf("read with a cancelled ctx: %v after %v", err, time.Since(start))
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOpen(t *testing.T) {
	env := drivers.Env{}
	for _, c := range []struct {
		dev  config.Device
		want error
	}{
		{config.Device{ID: "d", Address: "x:502"}, nil},
		{config.Device{ID: "d", Transport: "rtu", Address: "/dev/ttyS0"}, nil},
		{config.Device{ID: "d", Transport: "rtu-over-tcp", Address: "x:502"}, nil},
		{config.Device{ID: "d", Transport: "udp", Address: "x:502"}, ErrConfig},
		{config.Device{ID: "d"}, ErrConfig},
		{config.Device{ID: "d", Address: "x:502", Points: []config.Point{{ID: "p", Type: "float16"}}}, ErrConfig},
	} {
		srcs, err := Driver{}.Open([]config.Device{c.dev}, env)
		if !errors.Is(err, c.want) || (err == nil && len(srcs) != 1) {
			t.Errorf("%+v: %v, want %v", c.dev, err, c.want)
		}
	}
	var _ drivers.Driver = Driver{}
	// Devices on one line share one Source (one owner of the bus).
	line := func(id string, unit int, baud int) config.Device {
		return config.Device{ID: id, Transport: "rtu", Address: "/dev/ttyS1", UnitID: unit, Serial: config.Serial{Baud: baud}}
	}
	srcs, err := Driver{}.Open([]config.Device{line("a", 1, 9600), line("b", 2, 9600),
		{ID: "c", Address: "x:502"}}, env)
	if err != nil || len(srcs) != 2 {
		t.Errorf("two devices on one line and one TCP device: %d sources, %v; want 2", len(srcs), err)
	}
	if _, err := (Driver{}).Open([]config.Device{line("a", 1, 9600), line("b", 2, 19200)}, env); !errors.Is(err, ErrConfig) {
		t.Errorf("two baud rates on one line: %v, want ErrConfig", err)
	}
}
