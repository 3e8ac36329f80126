package gpio

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"canary/drivers"
)

// Source polls the pins of one device.
type Source struct {
	drv      Driver
	env      drivers.Env
	device   string
	interval time.Duration
	contacts []*contact
	samples  []drivers.Sample // reused between scans
}

// contact is one pin and its debounced level.
type contact struct {
	id, name string
	pull     gpio.Pull
	invert   bool
	debounce time.Duration
	pin      gpio.PinIn

	known     bool
	stable    gpio.Level
	pending   bool
	cand      gpio.Level
	candSince time.Time
}

// Run configures the pins as inputs and polls them until ctx is done.
func (s *Source) Run(ctx context.Context, emit func(drivers.Scan)) error {
	if err := s.open(); err != nil {
		s.fail(emit, err)
		return err
	}
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	edgeCtx, stop := context.WithCancel(ctx)
	defer stop()
	for _, c := range s.contacts {
		if err := c.pin.In(c.pull, gpio.BothEdges); err == nil {
			wg.Add(1)
			go func() { defer wg.Done(); s.watchEdges(edgeCtx, c.pin, wake) }()
		} else if err := c.pin.In(c.pull, gpio.NoEdge); err != nil {
			err = fmt.Errorf("gpio: device %s: pin %s as input: %w", s.device, c.name, err)
			s.fail(emit, err)
			return err
		}
	}
	s.poll(emit)
	t := s.env.Clock.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		case <-wake:
		}
		s.poll(emit)
	}
}

// open initialises the host and finds every pin.
func (s *Source) open() error {
	if err := s.drv.init(); err != nil {
		return err
	}
	for _, c := range s.contacts {
		p := s.drv.lookup(c.name)
		if p == nil {
			return fmt.Errorf("%w: device %s point %s: pin %q not found on this host (wrong name, or no GPIO here)",
				ErrNoPin, s.device, c.id, c.name)
		}
		c.pin = p
	}
	return nil
}

// watchEdges turns edges into a hint that wakes the poll early.
func (s *Source) watchEdges(ctx context.Context, p gpio.PinIn, wake chan<- struct{}) {
	for ctx.Err() == nil {
		if p.WaitForEdge(s.drv.edgeWait()) {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}
}

// poll reads every pin once and emits the debounced levels.
func (s *Source) poll(emit func(drivers.Scan)) {
	start := s.env.Clock.Now()
	s.samples = s.samples[:0]
	for _, c := range s.contacts {
		now := s.env.Clock.Now()
		c.update(c.pin.Read(), now)
		s.samples = append(s.samples, drivers.Sample{Point: c.id, TS: now,
			Value: drivers.Bool(bool(c.stable) != c.invert)})
	}
	emit(drivers.Scan{Device: s.device, At: start, Latency: s.env.Clock.Now().Sub(start), Samples: s.samples})
}

// fail emits one scan with every point bad, so the device goes offline
// with the reason.
func (s *Source) fail(emit func(drivers.Scan), err error) {
	now := s.env.Clock.Now()
	s.samples = s.samples[:0]
	for _, c := range s.contacts {
		s.samples = append(s.samples, drivers.Sample{Point: c.id, TS: now, Quality: drivers.Bad, Reason: drivers.ReasonConfig})
	}
	emit(drivers.Scan{Device: s.device, At: now, Err: err, Samples: s.samples})
}

// update debounces one read: a new level counts once it has been read
// continuously for the debounce time; the first read counts at once.
func (c *contact) update(l gpio.Level, now time.Time) {
	switch {
	case !c.known:
		c.stable, c.known = l, true
		return
	case l == c.stable:
		c.pending = false
		return
	case !c.pending || c.cand != l:
		c.pending, c.cand, c.candSince = true, l, now
	}
	if now.Sub(c.candSince) >= c.debounce {
		c.stable, c.pending = l, false
	}
}
