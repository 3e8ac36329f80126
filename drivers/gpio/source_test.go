package gpio

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"canary/agent/clock"
	"canary/config"
	"canary/drivers"
)

var t0 = time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)

// rig runs one gpio device on fake pins and a fake clock.
type rig struct {
	t     *testing.T
	clk   *clock.Fake
	pins  map[string]*gpiotest.Pin
	scans chan drivers.Scan
	done  chan error
	stop  context.CancelFunc
}

func newRig(t *testing.T, pts []config.Point, pins ...*gpiotest.Pin) *rig {
	t.Helper()
	r := &rig{t: t, clk: clock.NewFake(t0), pins: map[string]*gpiotest.Pin{}, scans: make(chan drivers.Scan, 100), done: make(chan error, 1)}
	for _, p := range pins {
		r.pins[p.N] = p
	}
	drv := Driver{
		Init: func() error { return nil },
		Lookup: func(n string) gpio.PinIn {
			p := r.pins[n]
			if p == nil {
				return nil
			}
			return p
		},
		EdgeWait: 10 * time.Millisecond,
	}
	dev := config.Device{ID: "cab", Driver: "gpio", Interval: config.Duration(100 * time.Millisecond), Points: pts}
	srcs, err := drv.Open([]config.Device{dev}, drivers.Env{Clock: r.clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() {
		r.done <- srcs[0].Run(ctx, func(sc drivers.Scan) {
			sc.Samples = append([]drivers.Sample(nil), sc.Samples...)
			r.scans <- sc
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

// next waits for the next scan (bounded, real time: the source goroutine
// is real even if its clock is not).
func (r *rig) next() drivers.Scan {
	r.t.Helper()
	select {
	case sc := <-r.scans:
		return sc
	case err := <-r.done:
		r.t.Fatalf("Run returned: %v", err)
	case <-time.After(5 * time.Second):
		r.t.Fatal("no scan")
	}
	return drivers.Scan{}
}

// tick advances the clock by one poll interval once the poll loop waits
// on it, and returns that poll's scan.
func (r *rig) tick() drivers.Scan {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.clk.Waiters() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	r.clk.Advance(100 * time.Millisecond)
	return r.next()
}

func (r *rig) set(name string, l gpio.Level) {
	p := r.pins[name]
	p.Lock()
	p.L = l
	p.Unlock()
}

func values(sc drivers.Scan) string {
	var b strings.Builder
	for _, s := range sc.Samples {
		b.WriteString(s.Point + "=" + s.Value.String() + " ")
	}
	return strings.TrimSpace(b.String())
}

func TestContactsPullAndInvert(t *testing.T) {
	r := newRig(t, []config.Point{
		{ID: "door", Pin: "GPIO17", Pull: "up", Invert: true},
		{ID: "esd", Pin: "GPIO27", Pull: "down"},
	}, &gpiotest.Pin{N: "GPIO17"}, &gpiotest.Pin{N: "GPIO27"})
	// In() applies the pulls: GPIO17 high (inverted: false), GPIO27 low.
	if got := values(r.next()); got != "door=false esd=false" {
		t.Fatalf("first scan %q", got)
	}
	if p := r.pins["GPIO17"].Pull(); p != gpio.PullUp {
		t.Errorf("GPIO17 pull %v, want PullUp", p)
	}
	r.set("GPIO17", gpio.Low) // door contact closes to ground
	r.set("GPIO27", gpio.High)
	if got := values(r.tick()); got != "door=true esd=true" {
		t.Fatalf("after change %q", got)
	}
}

func TestDebounceIgnoresBounce(t *testing.T) {
	r := newRig(t, []config.Point{{ID: "sw", Pin: "GPIO5", Pull: "down", Debounce: config.Duration(250 * time.Millisecond)}},
		&gpiotest.Pin{N: "GPIO5"})
	want := func(v string) {
		t.Helper()
		if got := values(r.tick()); got != "sw="+v {
			t.Fatalf("got %q, want sw=%s", got, v)
		}
	}
	r.next()
	r.set("GPIO5", gpio.High)
	want("false") // 0 ms
	r.set("GPIO5", gpio.Low)
	want("false") // bounced back: the candidate is dropped
	r.set("GPIO5", gpio.High)
	want("false") // 0 ms
	want("false") // 100 ms
	want("false") // 200 ms
	want("true")  // 300 ms ≥ 250 ms
}

func TestEdgeWakesPollEarly(t *testing.T) {
	p := &gpiotest.Pin{N: "GPIO22", EdgesChan: make(chan gpio.Level, 1)}
	r := newRig(t, []config.Point{{ID: "bp", Pin: "GPIO22", Pull: "down"}}, p)
	r.next()
	p.EdgesChan <- gpio.High // WaitForEdge sets the level, as hardware would
	if got := values(r.next()); got != "bp=true" {
		t.Fatalf("scan after edge %q, want bp=true without the clock moving", got)
	}
}

func TestMissingPinIsAnErrorNotAPanic(t *testing.T) {
	drv := Driver{Init: func() error { return nil }, Lookup: func(string) gpio.PinIn { return nil }}
	srcs, err := drv.Open([]config.Device{{ID: "cab", Points: []config.Point{{ID: "door", Pin: "GPIO99"}}}},
		drivers.Env{Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	var scans []drivers.Scan
	err = srcs[0].Run(context.Background(), func(sc drivers.Scan) { scans = append(scans, sc) })
	if !errors.Is(err, ErrNoPin) || !strings.Contains(err.Error(), `"GPIO99"`) {
		t.Fatalf("Run error %v, want ErrNoPin naming GPIO99", err)
	}
	if len(scans) != 1 || scans[0].Err == nil || scans[0].Samples[0].Quality != drivers.Bad {
		t.Fatalf("want one failed scan with bad samples, got %+v", scans)
	}
}

func TestHostInitFailure(t *testing.T) {
	for name, init := range map[string]func() error{
		"error": func() error { return errors.New("no /dev/gpiomem") },
		"panic": func() error { panic("no GPIO") },
	} {
		t.Run(name, func(t *testing.T) {
			drv := Driver{Init: init}
			srcs, _ := drv.Open([]config.Device{{ID: "cab", Points: []config.Point{{ID: "door", Pin: "GPIO17"}}}},
				drivers.Env{Clock: clock.NewFake(t0)})
			if err := srcs[0].Run(context.Background(), func(drivers.Scan) {}); err == nil || !strings.HasPrefix(err.Error(), "gpio: ") {
				t.Fatalf("Run error %v, want a gpio: error", err)
			}
		})
	}
}

func TestRealHostWithoutPin(t *testing.T) {
	// The real periph host: on a machine without GPIO (CI), a clear error.
	srcs, _ := Driver{}.Open([]config.Device{{ID: "cab", Points: []config.Point{{ID: "door", Pin: "NO_SUCH_PIN_42"}}}},
		drivers.Env{Clock: clock.NewFake(t0)})
	err := srcs[0].Run(context.Background(), func(drivers.Scan) {})
	if err == nil || !strings.HasPrefix(err.Error(), "gpio: ") {
		t.Fatalf("Run error %v, want a gpio: error", err)
	}
	t.Log(err)
}

func TestOpenRejectsUnknownPull(t *testing.T) {
	_, err := Driver{}.Open([]config.Device{{ID: "cab", Points: []config.Point{{ID: "d", Pin: "GPIO1", Pull: "sideways"}}}}, drivers.Env{})
	if err == nil {
		t.Fatal("Open accepted pull sideways")
	}
}
