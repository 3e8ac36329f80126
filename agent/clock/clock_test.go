package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInOrderAndOnlyWhenDue(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	after := f.After(3 * time.Second)
	tick := f.NewTicker(time.Second)
	f.Advance(999 * time.Millisecond)
	select {
	case <-tick.C():
		t.Fatal("ticker fired early")
	case <-after:
		t.Fatal("timer fired early")
	default:
	}
	f.Advance(time.Millisecond)
	if got := <-tick.C(); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("tick at %v", got)
	}
	f.Advance(2 * time.Second)
	if got := <-after; !got.Equal(start.Add(3 * time.Second)) {
		t.Fatalf("timer at %v", got)
	}
	if f.Waiters() != 1 {
		t.Fatalf("%d waiters, want the ticker only", f.Waiters())
	}
	tick.Stop()
	if f.Waiters() != 0 {
		t.Fatal("stopped ticker still pending")
	}
}

func TestFakeSetDoesNotFire(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	c := f.After(time.Hour)
	f.Set(time.Unix(0, 0).Add(2 * time.Hour)) // NTP step on a board without RTC
	select {
	case <-c:
		t.Fatal("a clock step fired a timer")
	default:
	}
	if f.Now().Unix() != 7200 {
		t.Fatal("Set did not move the clock")
	}
}
