package p2p

import (
	"slices"
	"sync"
	"time"
)

// rateLimiter is a set of token buckets keyed by string (a peer, or a peer and a
// protocol). Buckets idle long enough to be full again are swept.
type rateLimiter struct {
	rate, burst float64
	mu          sync.Mutex
	buckets     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate, burst float64) *rateLimiter {
	return &rateLimiter{rate: rate, burst: burst, buckets: make(map[string]*bucket)}
}

// allow takes one token from key's bucket at time now.
func (r *rateLimiter) allow(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buckets[key]
	if b == nil {
		b = &bucket{tokens: r.burst, last: now}
		r.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(r.burst, b.tokens+el*r.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep forgets buckets that would be full at now.
func (r *rateLimiter) sweep(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	full := time.Duration(r.burst / r.rate * float64(time.Second))
	for k, b := range r.buckets {
		if now.Sub(b.last) > full {
			delete(r.buckets, k)
		}
	}
}

// sweepLimiters runs until the host closes.
func (n *Host) sweepLimiters() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
			now := n.now()
			n.msgRate.sweep(now)
			n.reqRate.sweep(now)
			n.mu.Lock()
			streams := slices.Clone(n.streamRates)
			boxes := slices.Clone(n.penalties)
			n.mu.Unlock()
			for _, r := range streams {
				r.sweep(now)
			}
			for _, b := range boxes {
				b.sweep(now)
			}
		}
	}
}
