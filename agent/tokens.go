package agent

import (
	"math"
	"time"
)

// tokens is the backfill rate limit: a token bucket holding at most burst
// tokens, refilled at rate per second. Rate <= 0 means unlimited. Only the
// forwarder's pump uses it, so it has no lock.
type tokens struct {
	rate  float64
	burst float64
	have  float64
	at    time.Time
}

func newTokens(rate float64, burst int, now time.Time) *tokens {
	b := float64(max(burst, 1))
	if rate > 0 {
		b = math.Min(b, math.Max(1, rate)) // a slow rate must not start with a window's worth
	}
	return &tokens{rate: rate, burst: b, have: b, at: now}
}

// take returns how many of want may go now, at most what the bucket holds.
func (t *tokens) take(now time.Time, want int) int {
	if t.rate <= 0 {
		return want
	}
	if d := now.Sub(t.at); d > 0 {
		t.have = math.Min(t.burst, t.have+d.Seconds()*t.rate)
	}
	t.at = now
	n := min(want, int(t.have))
	t.have -= float64(n)
	return n
}

// refund gives back tokens taken for records that were not there.
func (t *tokens) refund(n int) {
	if t.rate > 0 && n > 0 {
		t.have = math.Min(t.burst, t.have+float64(n))
	}
}

// wait is how long until the next whole token.
func (t *tokens) wait() time.Duration {
	if t.rate <= 0 || t.have >= 1 {
		return 0
	}
	return time.Duration((1 - t.have) / t.rate * float64(time.Second))
}
