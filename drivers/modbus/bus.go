package modbus

import (
	"context"
	"errors"
	"log/slog"
	"time"

	gb "github.com/goburrow/modbus"

	"canary/agent/clock"
	"canary/drivers"
)

// DefaultBackoffMax caps how long a unit that stopped answering waits
// between probe reads.
const DefaultBackoffMax = 5 * time.Minute

// Bus polls every device that shares one connection: a serial line, a
// serial server or DTU, or one Modbus TCP gateway. Its Run goroutine owns
// the connection and serialises all requests on it. Each device keeps its
// own schedule; a device whose unit stops answering is backed off on its
// own (interval × 2^failures, capped by BackoffMax) while the others keep
// their interval. During back-off its points are reported Bad/comm at its
// interval without touching the bus; when the back-off ends, the next poll
// is the probe read.
type Bus struct {
	name       string
	units      []*busUnit
	newConn    func() conn
	clock      clock.Clock
	log        *slog.Logger
	backoffMax time.Duration
}

type busUnit struct {
	src     *Source
	next    time.Time // next due poll
	fails   int       // consecutive polls with a comm failure
	probeAt time.Time // zero: not backed off
	lastErr error
}

// Run polls until ctx is done; see Bus. It returns nil when ctx is done.
func (b *Bus) Run(ctx context.Context, emit func(drivers.Scan)) error {
	c := b.newConn()
	defer c.close()
	now := b.clock.Now()
	for _, u := range b.units {
		u.next = now
	}
	for {
		u := b.earliest()
		if wait := u.next.Sub(b.clock.Now()); wait > 0 {
			disarm(c)
			select {
			case <-ctx.Done():
				return nil
			case <-b.clock.After(wait):
			}
		}
		scan := b.poll(ctx, c, u)
		if ctx.Err() != nil {
			return nil
		}
		emit(scan)
		u.advance(b.clock.Now(), u.src.interval)
	}
}

func (b *Bus) earliest() *busUnit {
	best := b.units[0]
	for _, u := range b.units[1:] {
		if u.next.Before(best.next) {
			best = u
		}
	}
	return best
}

// advance moves the schedule to the next slot, on the grid of the first
// poll so that a slow poll does not make the schedule drift. A slot that
// is already due is polled at once, late; slots missed entirely (the bus
// was busy for more than an interval) are dropped, not queued.
func (u *busUnit) advance(now time.Time, interval time.Duration) {
	u.next = u.next.Add(interval)
	if late := now.Sub(u.next); late >= interval {
		u.next = u.next.Add(late / interval * interval)
	}
}

func (b *Bus) poll(ctx context.Context, c conn, u *busUnit) drivers.Scan {
	now := b.clock.Now()
	if !u.probeAt.IsZero() && now.Before(u.probeAt) {
		return u.src.backedOff(now, u.lastErr)
	}
	scan := u.src.poll(ctx, c)
	if ctx.Err() != nil {
		return scan
	}
	switch {
	case scan.Err == nil: // a busy unit answered, and does not set Err
		if u.fails > 0 {
			b.log.Info("modbus: unit answering again", "bus", b.name, "device", u.src.dev)
		}
		u.fails, u.probeAt = 0, time.Time{}
	default:
		u.fails++
		u.lastErr = scan.Err
		d := backoff(u.src.interval, u.fails, b.backoffMax)
		u.probeAt = now.Add(d)
		b.log.Debug("modbus: backing off", "bus", b.name, "device", u.src.dev, "for", d, "err", scan.Err)
	}
	return scan
}

// backoff is interval × 2^fails, capped.
func backoff(interval time.Duration, fails int, limit time.Duration) time.Duration {
	d := interval
	for i := 0; i < fails && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// busy reports a busy or acknowledge exception: the unit is alive and
// asks to be asked again later, which its next scheduled poll does.
func busy(err error) bool {
	var me *gb.ModbusError
	return errors.As(err, &me) && (me.ExceptionCode == gb.ExceptionCodeServerDeviceBusy ||
		me.ExceptionCode == gb.ExceptionCodeAcknowledge)
}

// backedOff is the scan of a device in back-off: every point Bad/comm,
// no I/O.
func (s *Source) backedOff(now time.Time, last error) drivers.Scan {
	for i := range s.samples {
		s.samples[i] = drivers.Sample{Point: s.points[i].id, TS: now, Quality: drivers.Bad, Reason: drivers.ReasonComm}
	}
	err := last
	if err == nil {
		err = &CommError{Device: s.dev, Err: ErrBackedOff}
	}
	return drivers.Scan{Device: s.dev, At: now, Err: err, Samples: s.samples}
}
