package ratelimit

import (
	"sync"
	"time"

	"github.com/patronfed/patronfed/clock"
)

// Limiter limits requests per key.
type Limiter struct {
	burst   float64
	refill  time.Duration // time for one token
	clock   clock.Clock
	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New allows burst requests per key, refilled at burst per period.
func New(burst int, per time.Duration, clk clock.Clock) *Limiter {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Limiter{burst: float64(burst), refill: per / time.Duration(burst), clock: clk, buckets: map[string]*bucket{}}
}

// Allow takes a token for key. When none is left it returns false and how
// long until the next one.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetFull(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.refill))
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(l.refill)).Round(time.Second)
}

// forgetFull drops, at most once per refill period, the buckets that have
// refilled completely: they are the same as no bucket, and keeping them
// would let the map grow with every address ever seen.
func (l *Limiter) forgetFull(now time.Time) {
	if now.Sub(l.sweep) < l.refill {
		return
	}
	l.sweep = now
	full := time.Duration(l.burst * float64(l.refill))
	for k, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, k)
		}
	}
}
