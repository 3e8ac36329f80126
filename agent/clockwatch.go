package agent

import (
	"fmt"
	"sync"
	"time"

	"canary/agent/wire"
)

// minSaneTime is the floor when the build time is unknown: no gateway
// running this code can truly be earlier.
var minSaneTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	jumpTolerance = 2 * time.Second  // wall and monotonic may drift apart this much between checks
	jumpShownFor  = 10 * time.Minute // clock_jumped stays this long
)

// clockWatch is clock sanity. A board without RTC boots in 1970 until NTP
// (or the platform) sets the clock: any time earlier than the build time
// is certainly wrong, so samples stamped then are marked uncertain with
// reason clock_unsynced (by the pipeline, which is given floor). A jump
// (the wall clock moving against the monotonic clock, as when NTP first
// syncs) is reported once as an agent event with the offset, so the
// platform can re-base the timestamps this boot sent before it. See
// docs/clock.md.
type clockWatch struct {
	floor time.Time
	wall  func() time.Time     // wall clock without monotonic reading
	mono  func() time.Duration // monotonic time since some fixed point

	mu       sync.Mutex
	lastWall time.Time
	lastMono time.Duration
	jumpedAt time.Duration // mono at the last jump; 0 none
	jump     time.Duration
}

func newClockWatch(build time.Time) *clockWatch {
	floor := minSaneTime
	if build.After(floor) {
		floor = build
	}
	start := time.Now()
	return &clockWatch{floor: floor, wall: func() time.Time { return time.Now().Round(0) },
		mono: func() time.Duration { return time.Since(start) + time.Nanosecond }}
}

// unsynced reports whether t cannot be a true time.
func (c *clockWatch) unsynced(t time.Time) bool { return t.Before(c.floor) }

// check compares the wall and monotonic clocks since the last check and
// returns the jump, if any.
func (c *clockWatch) check() (jump time.Duration, wallNow time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, m := c.wall(), c.mono()
	defer func() { c.lastWall, c.lastMono = w, m }()
	if c.lastMono == 0 {
		return 0, w, false
	}
	d := w.Sub(c.lastWall) - (m - c.lastMono)
	if d > -jumpTolerance && d < jumpTolerance {
		return 0, w, false
	}
	c.jumpedAt, c.jump = m, d
	return d, w, true
}

// recentJump reports the last jump while it is recent.
func (c *clockWatch) recentJump() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jump, c.jumpedAt != 0 && c.mono()-c.jumpedAt < jumpShownFor
}

// evaluate updates the clock warnings and reports a jump as an event.
func (c *clockWatch) evaluate(m *mgmt) {
	now := m.a.clock.Now()
	m.health.SetIf(c.unsynced(now), WarnClockUnsynced, SevWarning, fmt.Sprintf(
		"clock reads %s, before %s: samples are marked clock_unsynced", now.UTC().Format(time.RFC3339),
		c.floor.UTC().Format(time.RFC3339)))
	if d, w, ok := c.check(); ok {
		m.a.log.Warn("wall clock jumped", "by", d, "now", w)
		m.a.event(wire.Event{Type: wire.TypeAgent, State: "clock_jumped", Version: m.a.opts.Version,
			Detail: fmt.Sprintf("wall clock moved %+d ms against the monotonic clock; now %s", d.Milliseconds(),
				w.UTC().Format(time.RFC3339Nano))})
	}
	d, recent := c.recentJump()
	m.health.SetIf(recent, WarnClockJumped, SevWarning, fmt.Sprintf("wall clock jumped %+v", d))
}

// clockUnsynced reports whether the agent's clock reads an impossible
// time (earlier than the build). For the pipeline and tools.
func (a *Agent) clockUnsynced() bool { return a.m.clk.unsynced(a.clock.Now()) }
