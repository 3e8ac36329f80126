package modbus

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"canary/agent/clock"
	"canary/config"
	"canary/drivers"
	"canary/drivers/modbus/modbustest"
)

// deadlines wraps connections and records the deadlines set on them.
type deadlines struct {
	mu    sync.Mutex
	conns []*deadlineConn
}

func (d *deadlines) wrap(nc net.Conn) net.Conn {
	c := &deadlineConn{Conn: nc, d: d}
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return c
}

// state returns how many deadlines were set in all, and the connections
// whose read or write deadline is still set.
func (d *deadlines) state() (sets, armed int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		sets += c.sets
		if !c.read.IsZero() || !c.write.IsZero() {
			armed++
		}
	}
	return sets, armed
}

type deadlineConn struct {
	net.Conn
	d           *deadlines
	sets        int
	read, write time.Time
}

func (c *deadlineConn) set(read, write bool, t time.Time) {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	c.sets++
	if read {
		c.read = t
	}
	if write {
		c.write = t
	}
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.set(true, true, t)
	return c.Conn.SetDeadline(t)
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.set(true, false, t)
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.set(false, true, t)
	return c.Conn.SetWriteDeadline(t)
}

// Between polls no connection keeps a deadline: one left set after the
// last reply fires when it expires, waking an idle agent once per device
// and poll for nothing (seen in strace as a wakeup half a second after
// every scan with a 500 ms timeout).
func TestDeadlinesClearedBetweenPolls(t *testing.T) {
	const timeout = 300 * time.Millisecond
	checkClear := func(t *testing.T, rec *deadlines, scan drivers.Scan) {
		t.Helper()
		if scan.Err != nil {
			t.Fatalf("poll failed: %v", scan.Err)
		}
		sets, armed := rec.state()
		if sets == 0 {
			t.Fatal("no deadline was ever set: the test watches the wrong connection")
		}
		if armed != 0 {
			t.Errorf("%d connections keep a deadline after the poll", armed)
		}
	}
	for _, inflight := range []int{1, 4} {
		t.Run(fmt.Sprintf("tcp/inflight=%d", inflight), func(t *testing.T) {
			srv := startServer(t)
			dev := device(srv, config.Point{ID: "a", Table: "holding", Address: 0},
				config.Point{ID: "b", Table: "holding", Address: 200})
			dev.Timeout, dev.MaxInflight = config.Duration(timeout), inflight
			clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			src, err := New(dev, drivers.Env{Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			rec := &deadlines{}
			inner := src.newConn
			src.newConn = func() conn {
				c := inner().(*tcpConn)
				c.t.wrap = rec.wrap
				return c
			}
			scans := runScanner(t, src)
			for range 3 {
				checkClear(t, rec, recv(t, scans)) // Run disarms before it emits
				clk.Advance(interval)
			}
		})
	}
	t.Run("rtu-over-tcp", func(t *testing.T) {
		_, addr := modbustest.StartRTUOverTCP(t)
		dev := rtuDevice("gt-1", "rtu-over-tcp", addr, 1, config.Point{ID: "gt-1.conc", Table: "holding", Address: 0})
		dev.Timeout = config.Duration(timeout)
		clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
		bus, err := NewBus([]config.Device{dev}, drivers.Env{Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		rec := &deadlines{}
		bus.newConn = func() conn {
			dial := dialTCP(addr, timeout)
			return newRTUConn(func(ctx context.Context) (link, error) {
				l, err := dial(ctx)
				if err != nil {
					return nil, err
				}
				tl := l.(*tcpLink)
				tl.nc = rec.wrap(tl.nc)
				return tl, nil
			}, timeout, 0, true)
		}
		scans := runScanner(t, bus)
		for range 3 {
			scan := recv(t, scans)
			// The bus disarms when it starts to wait for the next poll.
			for end := time.Now().Add(5 * time.Second); clk.Waiters() == 0; time.Sleep(time.Millisecond) {
				if time.Now().After(end) {
					t.Fatal("the bus never waited for its next poll")
				}
			}
			checkClear(t, rec, scan)
			clk.Advance(dev.Interval.D())
		}
	})
}
