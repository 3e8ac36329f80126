package modbus

import (
	"fmt"
	"testing"
	"time"

	"canary/agent/clock"
	"canary/config"
	"canary/drivers"
	"canary/drivers/modbus/modbustest"
)

// TestBusOneDeadUnit: 8 detectors on one bus, 10 registers each; unit 5
// stops answering for 2 s. Tolerance: every other unit's polls start at
// most interval + 1.5 timeouts + 100 ms apart (the bus may be busy with
// the dead unit's probe read when a poll falls due: one timeout, and on a
// serial line the flush of half a timeout after it), and each gets at
// least 90% of the polls its interval allows. The dead unit goes offline
// (Err set, points Bad/comm, never a value) and online again within its
// back-off cap after it returns.
func TestBusOneDeadUnit(t *testing.T) {
	type peer struct {
		name, transport string
		start           func(t *testing.T) (dead func(bool), addr string)
	}
	peers := []peer{
		{"tcp", "tcp", func(t *testing.T) (func(bool), string) {
			s := startServer(t)
			return func(d bool) { s.SetUnitDead(5, d) }, s.Addr()
		}},
		{"rtu-pty", "rtu", func(t *testing.T) (func(bool), string) {
			s, addr := modbustest.StartRTUOnPty(t)
			return func(d bool) { s.SetUnitDead(5, d) }, addr
		}},
		{"rtu-over-tcp", "rtu-over-tcp", func(t *testing.T) (func(bool), string) {
			s, addr := modbustest.StartRTUOverTCP(t)
			return func(d bool) { s.SetUnitDead(5, d) }, addr
		}},
	}
	const (
		iv      = 200 * time.Millisecond
		timeout = 100 * time.Millisecond
		run     = 3 * time.Second
		deadFor = 2 * time.Second
	)
	for _, p := range peers {
		t.Run(p.name, func(t *testing.T) {
			setDead, addr := p.start(t)
			var devs []config.Device
			for u := 1; u <= 8; u++ {
				d := rtuDevice(fmt.Sprintf("gt-%d", u), p.transport, addr, u,
					config.Point{ID: fmt.Sprintf("gt-%d.conc", u), Table: "holding", Address: 0},
					config.Point{ID: fmt.Sprintf("gt-%d.last", u), Table: "holding", Address: 9})
				d.Interval, d.Timeout, d.BackoffMax = config.Duration(iv), config.Duration(timeout), config.Duration(800*time.Millisecond)
				devs = append(devs, d)
			}
			setDead(true)
			start := time.Now()
			scans := runBus(t, drivers.Env{Clock: clock.Real{}}, devs...)
			revived := false
			at := map[string][]time.Time{}
			var deadScans []drivers.Scan
			for time.Since(start) < run {
				if !revived && time.Since(start) > deadFor {
					setDead(false)
					revived = true
				}
				s := recv(t, scans)
				if s.Device == "gt-5" {
					deadScans = append(deadScans, s)
					continue
				}
				if s.Err != nil {
					t.Errorf("%s: %v", s.Device, s.Err)
				}
				at[s.Device] = append(at[s.Device], s.At)
			}
			want := int(run/iv) * 9 / 10
			for u := 1; u <= 8; u++ {
				id := fmt.Sprintf("gt-%d", u)
				if u == 5 {
					continue
				}
				ts := at[id]
				if len(ts) < want {
					t.Errorf("%s: %d polls in %v, want at least %d", id, len(ts), run, want)
				}
				for i := 1; i < len(ts); i++ {
					// One timeout of the dead unit may fall between two polls,
					// plus scheduling: 150 ms covers a loaded 2-core CI host
					// under -race (a pty poll gap of 450.1 ms was seen with
					// 100). A bus that waits out the dead unit three times
					// between two polls (500 ms and the others' frames) still
					// fails, as it did with 100 ms of slack.
					if gap := ts[i].Sub(ts[i-1]); gap > iv+timeout*3/2+150*time.Millisecond {
						t.Errorf("%s: %v between polls %d and %d (interval %v)", id, gap, i-1, i, iv)
					}
				}
			}
			checkDeadThenBack(t, deadScans, start.Add(deadFor))
		})
	}
}

func checkDeadThenBack(t *testing.T, scans []drivers.Scan, revive time.Time) {
	t.Helper()
	if len(scans) == 0 || scans[0].Err == nil {
		t.Fatal("the dead unit was not reported failing")
	}
	probes := 0
	for _, s := range scans {
		if s.Err != nil {
			for _, x := range s.Samples {
				if x.Quality != drivers.Bad || x.Reason != drivers.ReasonComm || x.Value.Kind() != drivers.KindNone {
					t.Errorf("dead unit sample %+v", x)
				}
			}
			if s.At.Before(revive) {
				probes++
			}
		}
	}
	last := scans[len(scans)-1]
	if last.Err != nil {
		t.Errorf("the unit was not back online 1 s after it returned: %v", last.Err)
	}
	t.Logf("dead unit: %d scans while dead (Bad/comm at its interval, bus probed on back-off)", probes)
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		fails int
		want  time.Duration
	}{{1, 2 * time.Second}, {2, 4 * time.Second}, {8, 256 * time.Second}, {9, 5 * time.Minute}, {60, 5 * time.Minute}} {
		if got := backoff(time.Second, c.fails, DefaultBackoffMax); got != c.want {
			t.Errorf("backoff after %d failures = %v, want %v", c.fails, got, c.want)
		}
	}
}

// TestBusBackoffProbes drives the schedule with the fake clock: a dead
// unit is asked only when its back-off ends, while a live unit on the
// same bus is asked every interval.
func TestBusBackoffProbes(t *testing.T) {
	srv := startServer(t)
	srv.SetUnitDead(2, true)
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	d1 := device(srv, config.Point{ID: "a"})
	d1.ID = "live"
	d2 := device(srv, config.Point{ID: "b", UnitID: 2})
	d2.ID, d2.Timeout = "dead", config.Duration(50*time.Millisecond)
	scans := runBus(t, drivers.Env{Clock: clk}, d1, d2)
	recv(t, scans)
	recv(t, scans)
	asked := 0
	for i := 1; i <= 16; i++ {
		before := srv.Requests()
		advance(t, clk, interval)
		s1, s2 := recv(t, scans), recv(t, scans)
		if s1.Device != "live" {
			s1, s2 = s2, s1
		}
		if s1.Err != nil || s2.Err == nil {
			t.Fatalf("tick %d: live err %v, dead err %v", i, s1.Err, s2.Err)
		}
		if srv.Requests()-before == 2 {
			asked++
			t.Logf("dead unit probed at tick %d", i)
		}
	}
	// Failures at t=0, then probes at 2 s, 2+4 = 6 s, 6+8 = 14 s.
	if asked != 3 {
		t.Errorf("dead unit probed %d times in 16 intervals, want 3 (back-off 2, 4, 8 s)", asked)
	}
}
