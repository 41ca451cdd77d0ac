package meter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Pusher turns a meter that sends on its own (DSMR P1, SML) into a Reader:
// the driver's loop calls Push for every telegram, the sampler calls Read.
// It is safe for concurrent use.
type Pusher struct {
	now func() time.Time

	mu      sync.Mutex
	seq     uint64 // number of good readings pushed
	taken   uint64 // seq of the reading the last Read returned
	last    Reading
	lastErr error
	wake    chan struct{} // closed and replaced on every Push
}

// NewPusher returns a Pusher that stamps readings without a Time with now
// (time.Now if nil) at the moment they are pushed.
func NewPusher(now func() time.Time) *Pusher {
	if now == nil {
		now = time.Now
	}
	return &Pusher{now: now, wake: make(chan struct{})}
}

// ErrNoReading is wrapped by Read when ctx ends before a new reading arrives.
var ErrNoReading = errors.New("meter: no new reading from the meter")

// Push records a reading, or the error of a telegram that failed (a CRC
// mismatch, a read error), which Read reports if no good reading follows.
func (p *Pusher) Push(r Reading, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.lastErr = err
	} else {
		if r.Time.IsZero() {
			r.Time = p.now()
		}
		p.last = r
		p.seq++
		p.lastErr = nil
	}
	close(p.wake)
	p.wake = make(chan struct{})
}

// Read returns the newest reading pushed since the previous Read, waiting
// for one until ctx is done; then it returns an error wrapping ErrNoReading
// (and the last telegram error, if any).
func (p *Pusher) Read(ctx context.Context) (Reading, error) {
	for {
		p.mu.Lock()
		if p.seq > p.taken {
			p.taken = p.seq
			r := p.last
			p.mu.Unlock()
			return r, nil
		}
		wake, lastErr := p.wake, p.lastErr
		p.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			if lastErr != nil {
				return Reading{}, fmt.Errorf("%w (last error: %v)", ErrNoReading, lastErr)
			}
			return Reading{}, fmt.Errorf("%w: %v", ErrNoReading, ctx.Err())
		}
	}
}
