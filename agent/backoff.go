package agent

import (
	"math/rand/v2"
	"time"
)

// backoff is jittered exponential back-off: each failure doubles the base
// up to max, and the wait is drawn uniformly from [base/2, base] so a fleet
// of gateways does not reconnect in step after a platform outage.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	half := b.cur / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

func (b *backoff) reset() { b.cur = 0 }
