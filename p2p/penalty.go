package p2p

import (
	"math"
	"sync"
	"time"
)

// Message streams (HandleMessages) have no gossip score, so a peer that sends
// junk on them is scored here, per protocol: each frame the handler rejects,
// and each frame over the stream's size limit, adds a point; points halve
// every penaltyHalfLife; a peer reaching banPoints is refused on that
// protocol for banFor (its other open streams of the protocol end at their
// next frame, new ones are reset unread). An honest peer sends no such frame
// (a handler rejects only what is invalid for every node), so the threshold
// is there for a bug's single frame, not for load: 10 points take 10 bad
// frames in quick succession. Per protocol, so that a peer one handler
// rejects (an older version's, say) is still heard on the others.
const (
	banPoints       = 10
	penaltyHalfLife = time.Minute
	banFor          = 10 * time.Minute
)

type penaltyBox struct {
	mu sync.Mutex
	m  map[string]*penalty
}

type penalty struct {
	points float64
	last   time.Time
	until  time.Time // banned before this
}

func newPenaltyBox() *penaltyBox { return &penaltyBox{m: make(map[string]*penalty)} }

// add gives key a point at now and reports whether that banned it.
func (b *penaltyBox) add(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.m[key]
	if p == nil {
		p = &penalty{last: now}
		b.m[key] = p
	}
	p.decay(now)
	p.points++
	// banPoints frames in quick succession ban (the earlier ones have faded
	// a little, hence the margin of one).
	if p.points > banPoints-1 && !now.Before(p.until) {
		p.until = now.Add(banFor)
		p.points = 0
		return true
	}
	return false
}

// banned reports whether key is refused at now.
func (b *penaltyBox) banned(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.m[key]
	return p != nil && now.Before(p.until)
}

// sweep forgets peers neither banned nor holding a tenth of a point.
func (b *penaltyBox) sweep(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, p := range b.m {
		p.decay(now)
		if !now.Before(p.until) && p.points < 0.1 {
			delete(b.m, k)
		}
	}
}

func (p *penalty) decay(now time.Time) {
	if el := now.Sub(p.last); el > 0 {
		p.points *= math.Exp2(-float64(el) / float64(penaltyHalfLife))
		p.last = now
	}
}
