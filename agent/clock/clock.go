// Package clock abstracts time so tests never sleep. Real is the wall
// clock; Fake moves only when told to and fires timers in order.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock is the subset of package time the agent and drivers use.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker is time.Ticker behind an interface.
type Ticker interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// Real is the system clock.
type Real struct{}

func (Real) Now() time.Time                         { return time.Now() }
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (Real) NewTicker(d time.Duration) Ticker       { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time   { return t.t.C }
func (t realTicker) Reset(d time.Duration) { t.t.Reset(d) }
func (t realTicker) Stop()                 { t.t.Stop() }

// Fake is a manual clock. Advance moves it and fires every timer and
// ticker that falls due, in time order. Channels have a buffer of one, as
// time's do; a tick nobody reads is dropped.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*waiter
}

type waiter struct {
	at     time.Time
	period time.Duration // 0 for a one-shot timer
	ch     chan time.Time
	dead   bool
}

// NewFake returns a fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *Fake) After(d time.Duration) <-chan time.Time {
	return f.add(d, 0).ch
}

func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker interval")
	}
	return &fakeTicker{f: f, w: f.add(d, d)}
}

func (f *Fake) add(d, period time.Duration) *waiter {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &waiter{at: f.now.Add(d), period: period, ch: make(chan time.Time, 1)}
	f.waiters = append(f.waiters, w)
	return w
}

// Waiters reports how many timers and tickers are pending, so a test can
// wait until the code under test is blocked on the clock.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, w := range f.waiters {
		if !w.dead {
			n++
		}
	}
	return n
}

// Set jumps the clock to t without firing anything: a wall-clock step, as
// NTP does on a board without RTC.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.now = t
	f.mu.Unlock()
}

// Advance moves the clock forward by d, firing what falls due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	end := f.now.Add(d)
	for {
		w := f.next(end)
		if w == nil {
			break
		}
		f.now = w.at
		select {
		case w.ch <- w.at:
		default:
		}
		if w.period > 0 {
			w.at = w.at.Add(w.period)
		} else {
			w.dead = true
		}
	}
	f.now = end
	f.prune()
	f.mu.Unlock()
}

func (f *Fake) next(end time.Time) *waiter {
	var due []*waiter
	for _, w := range f.waiters {
		if !w.dead && !w.at.After(end) {
			due = append(due, w)
		}
	}
	if len(due) == 0 {
		return nil
	}
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	return due[0]
}

func (f *Fake) prune() {
	live := f.waiters[:0]
	for _, w := range f.waiters {
		if !w.dead {
			live = append(live, w)
		}
	}
	f.waiters = live
}

type fakeTicker struct {
	f *Fake
	w *waiter
}

func (t *fakeTicker) C() <-chan time.Time { return t.w.ch }

func (t *fakeTicker) Reset(d time.Duration) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.w.period = d
	t.w.at = t.f.now.Add(d)
	if t.w.dead {
		t.w.dead = false
		t.f.waiters = append(t.f.waiters, t.w)
	}
}

func (t *fakeTicker) Stop() {
	t.f.mu.Lock()
	t.w.dead = true
	t.f.mu.Unlock()
}
