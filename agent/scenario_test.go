package agent

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"canary/agent/wire"
	"canary/config"
	"canary/drivers"
)

// A scenario is a timed sequence of scans through the pipeline and the
// exact events (and, when asked, reported samples) that must come out.
// Times are offsets from t0 and print as +Ns; ts is the source time.
type scenario struct {
	name    string
	devices []config.Device
	steps   []step
	data    bool // also list reported samples as "data" lines
	want    []string
}

// step is one scan of a device, a restart of the agent (state saved and
// reloaded), or a bypass check against the agent clock.
type step struct {
	at      time.Duration
	dev     string // default "dev"
	err     error
	samples []drivers.Sample
	restart bool
	check   bool
}

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func scan(at float64, samples ...drivers.Sample) step { return step{at: sec(at), samples: samples} }

func scanOn(dev string, at float64, samples ...drivers.Sample) step {
	return step{at: sec(at), dev: dev, samples: samples}
}

func val(point string, v float64) drivers.Sample { return good(point, v) }

func bit(point string, on bool) drivers.Sample {
	return drivers.Sample{Point: point, Value: drivers.Bool(on)}
}

func badS(point string, r drivers.Reason) drivers.Sample {
	return drivers.Sample{Point: point, Quality: drivers.Bad, Reason: r}
}

func dev(id string, pts ...config.Point) config.Device {
	return config.Device{ID: id, Driver: "modbus", MaxInterval: config.Duration(time.Hour), Points: pts}
}

func (sc scenario) run(t *testing.T) []string {
	t.Helper()
	cfg := &config.Config{Devices: sc.devices}
	ids := &idGen{boot: "b"}
	path := filepath.Join(t.TempDir(), StateFile)
	p := newPipeline(cfg, ids)
	if err := p.openState(path); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range sc.steps {
		now := t0.Add(st.at)
		switch {
		case st.restart:
			got = append(got, rel(now)+" restart")
			p = newPipeline(cfg, ids)
			if err := p.openState(path); err != nil {
				t.Fatal(err)
			}
			continue
		case st.check:
			got = append(got, evLines(p.overdue(now))...)
		default:
			d := st.dev
			if d == "" {
				d = "dev"
			}
			samples := append([]drivers.Sample(nil), st.samples...)
			for i := range samples {
				samples[i].TS = now
			}
			out, evs := p.process(&drivers.Scan{Device: d, At: now, Err: st.err, Samples: samples}, now)
			got = append(got, evLines(evs)...)
			for _, s := range out {
				if s.Quality == drivers.Bad && s.Value.Kind() != drivers.KindNone {
					t.Errorf("%s: %s reported bad/%s with value %s: a bad sample carries no value",
						rel(now), s.Point, s.Reason, s.Value)
				}
				if sc.data {
					got = append(got, dataLine(s))
				}
			}
		}
		if err := p.save(now); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func rel(ts time.Time) string {
	return "+" + strconv.FormatFloat(ts.Sub(t0).Seconds(), 'f', -1, 64) + "s"
}

func evLines(evs []wire.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Type == wire.TypeDevice {
			continue // covered by TestDeviceEventsOnTransitionsOnly
		}
		out = append(out, evLine(e))
	}
	return out
}

func evLine(e wire.Event) string {
	f := []string{rel(time.UnixMilli(e.TS)), e.Type, e.Point, e.State}
	add := func(k, v string) {
		if v != "" {
			f = append(f, k+"="+v)
		}
	}
	add("level", e.Level)
	if e.Value != nil {
		add("v", strconv.FormatFloat(*e.Value, 'g', -1, 64))
	}
	if e.Limit != nil {
		add("lim", strconv.FormatFloat(*e.Limit, 'g', -1, 64))
	}
	if e.Since != 0 {
		add("since", rel(time.UnixMilli(e.Since)))
	}
	add("q", e.Quality)
	add("reason", e.Reason)
	add("of", e.Of)
	add("detail", e.Detail)
	return strings.Join(f, " ")
}

func dataLine(s *drivers.Sample) string {
	q := s.Quality.String()
	if s.Reason != drivers.ReasonNone {
		q += "/" + s.Reason.String()
	}
	return fmt.Sprintf("%s data %s %s %s", rel(s.TS), s.Point, s.Value, q)
}

func TestScenarios(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			if diff := gocmp.Diff(sc.want, sc.run(t)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func scenarios() []scenario {
	gt := func(a config.Alarms) config.Point { return config.Point{ID: "GT", Kind: "analog", Alarms: a} }
	return []scenario{
		{
			name:    "hysteresis-high",
			devices: []config.Device{dev("dev", gt(config.Alarms{H: f64(25), Hysteresis: 2}))},
			steps:   []step{scan(0, val("GT", 10)), scan(1, val("GT", 25)), scan(2, val("GT", 24)), scan(3, val("GT", 23.5)), scan(4, val("GT", 23)), scan(5, val("GT", 24.9))},
			want: []string{
				"+1s alarm GT active level=h v=25 lim=25 since=+1s",
				"+4s alarm GT cleared level=h v=23 lim=25 since=+1s",
			},
		},
		{
			name: "oxygen-preset-low-and-high",
			devices: []config.Device{dev("dev", config.Point{ID: "O2", Kind: "analog", Gas: "oxygen",
				Alarms: config.Alarms{Hysteresis: 1}})},
			steps: []step{scan(0, val("O2", 20.9)), scan(1, val("O2", 19.5)), scan(2, val("O2", 20.4)), scan(3, val("O2", 20.5)), scan(4, val("O2", 23.5))},
			want: []string{
				"+1s alarm O2 active level=l v=19.5 lim=19.5 since=+1s",
				"+3s alarm O2 cleared level=l v=20.5 lim=19.5 since=+1s",
				"+4s alarm O2 active level=h v=23.5 lim=23.5 since=+4s",
			},
		},
		{
			name: "toxic-preset-from-oel-and-override",
			devices: []config.Device{dev("dev",
				config.Point{ID: "H2S", Kind: "analog", Gas: "toxic", OEL: f64(10)},
				config.Point{ID: "CO", Kind: "analog", Gas: "combustible", Alarms: config.Alarms{H: f64(10)}})},
			steps: []step{scan(0, val("H2S", 10), val("CO", 10)), scan(1, val("H2S", 20), val("CO", 50))},
			want: []string{
				"+0s alarm H2S active level=h v=10 lim=10 since=+0s",
				"+0s alarm CO active level=h v=10 lim=10 since=+0s",
				"+1s alarm H2S active level=hh v=20 lim=20 since=+1s",
			},
		},
		{
			name: "on-delay-and-off-delay",
			devices: []config.Device{dev("dev", gt(config.Alarms{H: f64(25),
				OnDelay: config.Duration(5 * time.Second), OffDelay: config.Duration(10 * time.Second)}))},
			steps: []step{
				scan(0, val("GT", 30)), scan(2, val("GT", 20)), // dip restarts the on-delay
				scan(3, val("GT", 30)), scan(7, val("GT", 31)), scan(8, val("GT", 32)), // 5 s since +3s
				scan(9, val("GT", 10)), scan(12, val("GT", 30)), // back up cancels the off-delay
				scan(13, val("GT", 10)), scan(22, val("GT", 11)), scan(23, val("GT", 12)),
			},
			want: []string{
				"+8s alarm GT active level=h v=32 lim=25 since=+8s",
				"+23s alarm GT cleared level=h v=12 lim=25 since=+8s",
			},
		},
		{
			name:    "bad-quality-during-alarm",
			devices: []config.Device{dev("dev", gt(config.Alarms{H: f64(25), HH: f64(50)}))},
			data:    true,
			steps: []step{
				scan(0, val("GT", 30)),
				scan(1, badS("GT", drivers.ReasonComm)), // the alarm stays, its value is unknown
				scan(2, drivers.Sample{Point: "GT", Value: drivers.Float(99), Quality: drivers.Bad, Reason: drivers.ReasonOutOfRange}), // once only; a bad sample's number is dropped
				{at: sec(3), err: errors.New("timeout"), samples: []drivers.Sample{badS("GT", drivers.ReasonComm)}},
				scan(4, drivers.Sample{Point: "GT", Value: drivers.Float(80), Quality: drivers.Uncertain, Reason: drivers.ReasonOutOfRange}), // raises nothing
				scan(5, val("GT", 31)), // good again, still active
				scan(6, badS("GT", drivers.ReasonComm)),
				scan(7, val("GT", 5)), // the first good value below clears: no quality_good
			},
			want: []string{
				"+0s alarm GT active level=h v=30 lim=25 since=+0s",
				"+0s data GT 30 good",
				"+1s alarm GT quality_bad level=h lim=25 since=+0s q=bad reason=comm",
				"+1s data GT null bad/comm",
				"+2s data GT null bad/out_of_range",
				"+3s data GT null bad/comm",
				"+4s data GT 80 uncertain/out_of_range",
				"+5s alarm GT quality_good level=h v=31 lim=25 since=+0s",
				"+5s data GT 31 good",
				"+6s alarm GT quality_bad level=h lim=25 since=+0s q=bad reason=comm",
				"+6s data GT null bad/comm",
				"+7s alarm GT cleared level=h v=5 lim=25 since=+0s",
				"+7s data GT 5 good",
			},
		},
		{
			name: "fault-bit-same-scan-and-maintenance-from-other-device",
			devices: []config.Device{
				dev("dev", config.Point{ID: "GT", Kind: "analog", Gas: "combustible"},
					// listed after GT on purpose: fault bits are applied first
					config.Point{ID: "GT.fault", Kind: "fault", Of: "GT"}),
				dev("aux", config.Point{ID: "GT.maint", Kind: "maintenance", Of: "GT"}),
			},
			data: true,
			steps: []step{
				scan(0, val("GT", 3), bit("GT.fault", false)),
				scan(1, val("GT", 60), bit("GT.fault", true)),  // a faulty detector's 60 raises nothing
				scan(2, val("GT", 60), bit("GT.fault", false)), // fault gone, 60 is real
				scanOn("aux", 3, bit("GT.maint", true)),
				scan(4, val("GT", 60), bit("GT.fault", false)), // maintenance: uncertain, alarm keeps
				scan(5, val("GT", 2), bit("GT.fault", false)),  // not cleared from uncertain
				scanOn("aux", 6, bit("GT.maint", false)),
				scan(7, val("GT", 2), bit("GT.fault", false)),
			},
			want: []string{
				"+0s data GT 3 good",
				"+0s data GT.fault false good",
				"+1s fault GT.fault on since=+1s reason=sensor_fault of=GT",
				"+1s data GT null bad/sensor_fault", // the faulty detector's 60 is not sent
				"+1s data GT.fault true good",
				"+2s fault GT.fault off since=+1s reason=sensor_fault of=GT",
				"+2s alarm GT active level=h v=60 lim=25 since=+2s",
				"+2s alarm GT active level=hh v=60 lim=50 since=+2s",
				"+2s data GT 60 good",
				"+2s data GT.fault false good",
				"+3s fault GT.maint on since=+3s reason=maintenance of=GT",
				"+3s data GT.maint true good",
				"+4s alarm GT quality_bad level=h lim=25 since=+2s q=uncertain reason=maintenance",
				"+4s alarm GT quality_bad level=hh lim=50 since=+2s q=uncertain reason=maintenance",
				"+4s data GT 60 uncertain/maintenance",
				"+5s data GT 2 uncertain/maintenance",
				"+6s fault GT.maint off since=+3s reason=maintenance of=GT",
				"+6s data GT.maint false good",
				"+7s alarm GT cleared level=h v=2 lim=25 since=+2s",
				"+7s alarm GT cleared level=hh v=2 lim=50 since=+2s",
				"+7s data GT 2 good",
			},
		},
		{
			name: "interlock-and-bypass-overdue",
			devices: []config.Device{dev("dev",
				config.Point{ID: "ESD.trip", Kind: "interlock"},
				config.Point{ID: "ESD.bypass", Kind: "bypass", MaxBypass: config.Duration(time.Hour)})},
			steps: []step{
				scan(0, bit("ESD.trip", false), bit("ESD.bypass", false)),
				scan(10, bit("ESD.trip", true), bit("ESD.bypass", true)),
				scan(20, badS("ESD.trip", drivers.ReasonComm), badS("ESD.bypass", drivers.ReasonComm)), // unknown: keeps last
				scan(30, bit("ESD.trip", false)),
				{at: sec(3609), check: true}, // 59m59s: not yet
				{at: sec(3611), check: true}, // the link is dead: the clock raises it
				{at: sec(3700), check: true}, // once
				scan(7200, bit("ESD.bypass", true)),
				scan(7210, bit("ESD.bypass", false)),
			},
			want: []string{
				"+10s interlock ESD.trip tripped since=+10s",
				"+10s bypass ESD.bypass on since=+10s",
				"+30s interlock ESD.trip healthy since=+10s",
				"+3610s bypass ESD.bypass overdue since=+10s detail=max_bypass 1h0m0s",
				"+7210s bypass ESD.bypass off since=+10s",
			},
		},
		{
			name: "bypass-overdue-from-sample-time-in-backfill",
			devices: []config.Device{dev("dev",
				config.Point{ID: "BP", Kind: "bypass", MaxBypass: config.Duration(time.Minute)})},
			steps: []step{scan(0, bit("BP", true)), scan(59, bit("BP", true)), scan(61, bit("BP", true)), scan(62, bit("BP", false))},
			want: []string{
				"+0s bypass BP on since=+0s",
				"+60s bypass BP overdue since=+0s detail=max_bypass 1m0s",
				"+62s bypass BP off since=+0s",
			},
		},
		{
			name: "restart-in-the-middle-of-an-active-alarm",
			devices: []config.Device{dev("dev", gt(config.Alarms{H: f64(25)}),
				config.Point{ID: "BP", Kind: "bypass", MaxBypass: config.Duration(time.Minute)},
				config.Point{ID: "GT.fault", Kind: "fault", Of: "GT"})},
			steps: []step{
				scan(0, val("GT", 30), bit("BP", true)),
				{at: sec(61), check: true},
				scan(62, badS("GT", drivers.ReasonComm)),
				{at: sec(70), restart: true},
				scan(71, badS("GT", drivers.ReasonComm), bit("BP", true)), // no repeats
				scan(72, val("GT", 31), bit("BP", true)),                  // quality back: told once
				{at: sec(80), restart: true},
				scan(81, val("GT", 32), bit("BP", true)), // still active: nothing
				scan(82, val("GT", 10), bit("BP", false), bit("GT.fault", true)),
				{at: sec(90), restart: true},
				scan(91, val("GT", 10), bit("BP", false), bit("GT.fault", false)), // the fault ends after the restart
			},
			want: []string{
				"+0s alarm GT active level=h v=30 lim=25 since=+0s",
				"+0s bypass BP on since=+0s",
				"+60s bypass BP overdue since=+0s detail=max_bypass 1m0s",
				"+62s alarm GT quality_bad level=h lim=25 since=+0s q=bad reason=comm",
				"+70s restart",
				"+72s alarm GT quality_good level=h v=31 lim=25 since=+0s",
				"+80s restart",
				"+82s fault GT.fault on since=+82s reason=sensor_fault of=GT",
				"+82s alarm GT quality_bad level=h lim=25 since=+0s q=bad reason=sensor_fault",
				"+82s bypass BP off since=+0s",
				"+90s restart",
				"+91s fault GT.fault off since=+82s reason=sensor_fault of=GT",
				"+91s alarm GT cleared level=h v=10 lim=25 since=+0s",
			},
		},
	}
}
