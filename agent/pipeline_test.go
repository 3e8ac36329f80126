package agent

import (
	"errors"
	"testing"
	"time"

	"canary/agent/wire"
	"canary/config"
	"canary/drivers"
)

func f64(v float64) *float64 { return &v }

func testPipeline(pts ...config.Point) *pipeline {
	cfg := &config.Config{Devices: []config.Device{{ID: "dev", Driver: "modbus",
		MaxInterval: config.Duration(time.Minute), Points: pts}}}
	return newPipeline(cfg, &idGen{boot: "b"})
}

var t0 = time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)

func scanOf(at time.Duration, err error, samples ...drivers.Sample) *drivers.Scan {
	for i := range samples {
		samples[i].TS = t0.Add(at)
	}
	return &drivers.Scan{Device: "dev", At: t0.Add(at), Err: err, Samples: samples}
}

func good(point string, v float64) drivers.Sample {
	return drivers.Sample{Point: point, Value: drivers.Float(v)}
}

func TestReportByException(t *testing.T) {
	p := testPipeline(config.Point{ID: "GT-101", Deadband: f64(0.5)})
	steps := []struct {
		at     time.Duration
		s      drivers.Sample
		report bool
		why    string
	}{
		{0, good("GT-101", 10), true, "first sample"},
		{time.Second, good("GT-101", 10.4), false, "inside deadband"},
		{2 * time.Second, good("GT-101", 10.6), true, "beyond deadband of last reported 10"},
		{3 * time.Second, drivers.Sample{Point: "GT-101", Quality: drivers.Bad, Reason: drivers.ReasonComm}, true, "quality change"},
		{4 * time.Second, drivers.Sample{Point: "GT-101", Quality: drivers.Bad, Reason: drivers.ReasonComm}, false, "same bad"},
		{5 * time.Second, good("GT-101", 10.6), true, "back to good"},
		{64 * time.Second, good("GT-101", 10.6), false, "59 s: heartbeat not due"},
		{65 * time.Second, good("GT-101", 10.6), true, "max_interval heartbeat"},
	}
	for _, st := range steps {
		out, _ := p.process(scanOf(st.at, nil, st.s), t0.Add(st.at))
		if got := len(out) == 1; got != st.report {
			t.Errorf("%s (t=%v): reported=%v, want %v", st.why, st.at, got, st.report)
		}
	}
}

func TestDeviceEventsOnTransitionsOnly(t *testing.T) {
	p := testPipeline(config.Point{ID: "a"})
	var states []string
	for i, err := range []error{nil, nil, errors.New("timeout"), errors.New("timeout"), nil} {
		_, evs := p.process(scanOf(time.Duration(i)*time.Second, err, good("a", 1)), t0)
		for _, e := range evs {
			if e.Type == wire.TypeDevice {
				states = append(states, e.State)
			}
		}
	}
	want := []string{"online", "offline", "online"}
	if len(states) != len(want) || states[0] != want[0] || states[1] != want[1] || states[2] != want[2] {
		t.Fatalf("device events %v, want %v", states, want)
	}
}

func TestAlarmHysteresisAndQuality(t *testing.T) {
	p := testPipeline(config.Point{ID: "GT-103", Gas: "combustible", Alarms: config.Alarms{Hysteresis: 2}})
	seq := []drivers.Sample{
		good("GT-103", 10), good("GT-103", 25), // active h at the limit
		good("GT-103", 24), // inside hysteresis: stays active
		{Point: "GT-103", Quality: drivers.Bad, Reason: drivers.ReasonComm}, // bad: no clear
		good("GT-103", 51), // hh active, h still active
		good("GT-103", 22), // both clear (22 < 25-2 and < 50-2)
	}
	var got []string
	var ts []int64
	for i, s := range seq {
		_, evs := p.process(scanOf(time.Duration(i)*time.Second, nil, s), t0)
		for _, e := range evs {
			if e.Type == wire.TypeAlarm {
				got = append(got, e.Level+":"+e.State)
				ts = append(ts, e.TS)
			}
		}
	}
	want := []string{"h:active", "h:quality_bad", "hh:active", "h:quality_good", "h:cleared", "hh:cleared"}
	if len(got) != len(want) {
		t.Fatalf("alarm events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("alarm events %v, want %v", got, want)
		}
	}
	if ts[0] != t0.Add(time.Second).UnixMilli() {
		t.Errorf("active event ts %d, want the sample's source time %d", ts[0], t0.Add(time.Second).UnixMilli())
	}
}

func TestAlarmEvaluatedWhenSampleSuppressed(t *testing.T) {
	p := testPipeline(config.Point{ID: "x", Deadband: f64(100), Alarms: config.Alarms{H: f64(5)}})
	p.process(scanOf(0, nil, good("x", 1)), t0)
	out, evs := p.process(scanOf(time.Second, nil, good("x", 6)), t0)
	if len(out) != 0 {
		t.Fatalf("sample inside deadband was reported")
	}
	if len(evs) != 1 || evs[0].State != "active" {
		t.Fatalf("alarm not raised on a suppressed sample: %+v", evs)
	}
}

// A scan is matched to its device's points by position, then by id; a
// sample naming a point of another device, or none, is dropped and
// leaves that point's state alone.
func TestScanSamplesMatchOnlyTheirDevice(t *testing.T) {
	cfg := &config.Config{Devices: []config.Device{
		{ID: "dev", Points: []config.Point{{ID: "a"}, {ID: "b"}}},
		{ID: "other", Points: []config.Point{{ID: "x"}}},
	}}
	p := newPipeline(cfg, &idGen{boot: "b"})
	out, _ := p.process(scanOf(0, nil, good("b", 2), good("x", 9), good("nope", 1), good("a", 1)), t0)
	var got []string
	for _, s := range out {
		got = append(got, s.Point)
	}
	if len(got) != 2 || got[0] != "b" || got[1] != "a" {
		t.Errorf("reported %v, want [b a] (out of order, foreign and unknown points dropped)", got)
	}
	if x := p.points["x"]; x.reported || x.current.ts != 0 {
		t.Errorf("a scan of dev changed point x of another device: %+v", x)
	}
}

// TestProcessLeavesTheSourcesSamples: the pipeline reports samples by
// reference, so whatever it changes (a fault bit making a detector bad, a
// clock before the floor) goes into a copy; the source's samples, which
// the source may keep between polls, are as it read them.
func TestProcessLeavesTheSourcesSamples(t *testing.T) {
	p := testPipeline(config.Point{ID: "GT-F", Kind: "fault", Of: "GT-1"}, config.Point{ID: "GT-1"},
		config.Point{ID: "GT-2"})
	sc := scanOf(0, nil, drivers.Sample{Point: "GT-F", Value: drivers.Bool(true)}, good("GT-1", 42), good("GT-2", 7))
	out, _ := p.process(sc, t0)
	if len(out) != 3 {
		t.Fatalf("reported %d samples, want 3", len(out))
	}
	if s := out[1]; s.Point != "GT-1" || s.Quality != drivers.Bad || s.Reason != drivers.ReasonSensorFault || s.Value != (drivers.Value{}) {
		t.Errorf("detector in fault reported %+v, want bad/sensor_fault with no value", *s)
	}
	if s := sc.Samples[1]; s.Quality != drivers.Good || s.Value != drivers.Float(42) {
		t.Errorf("the source's sample was changed: %+v", s)
	}
	if out[0] != &sc.Samples[0] || out[2] != &sc.Samples[2] {
		t.Error("unchanged samples were copied, not reported by reference")
	}
}

// TestClockFloorMarksBeforeReportByException: a good sample stamped
// before the clock floor is reported uncertain/clock_unsynced with its
// value, and once the clock is right the same value is reported good at
// once (a quality change), though it is inside the deadband.
func TestClockFloorMarksBeforeReportByException(t *testing.T) {
	p := testPipeline(config.Point{ID: "GT-1", Deadband: f64(5)})
	p.clockFloor = t0.Add(time.Hour)
	sc := scanOf(0, nil, good("GT-1", 10))
	out, _ := p.process(sc, t0)
	if len(out) != 1 || out[0].Quality != drivers.Uncertain || out[0].Reason != drivers.ReasonClockUnsynced || out[0].Value != drivers.Float(10) {
		t.Fatalf("before the floor: reported %v, want one uncertain/clock_unsynced sample of 10", out)
	}
	if sc.Samples[0].Quality != drivers.Good {
		t.Errorf("the source's sample was marked: %+v", sc.Samples[0])
	}
	if out, _ := p.process(scanOf(time.Second, nil, good("GT-1", 11)), t0); len(out) != 0 {
		t.Errorf("inside the deadband, still unsynced: reported %d", len(out))
	}
	out, _ = p.process(scanOf(2*time.Hour, nil, good("GT-1", 11)), t0)
	if len(out) != 1 || out[0].Quality != drivers.Good {
		t.Errorf("after the clock was set: reported %v, want the good sample at once", out)
	}
}
