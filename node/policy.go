package node

import (
	"time"

	"github.com/gridmesh/gridmesh/chain/consensus"
)

// The loop's small policies, raft-style: each takes the current time and the
// events that concern it and returns a decision, and does no I/O, reads no
// clock and starts no goroutine. The loop owns them (they are not safe for
// concurrent use), feeds them and carries out what they decide. The follow
// policy, the largest, is in follow.go; the proposal-fetch limit in fetch.go.

// workPolicy decides when the loop signals consensus.Work: at once for a gate
// closure or a settlement due or batchTxs pending, else once something is
// pending batchGap after the last commit (fewer, fuller blocks; node/doc.go).
type workPolicy struct {
	lastCommit time.Time
}

// committed records a commit at now.
func (p *workPolicy) committed(now time.Time) { p.lastCommit = now }

// work reports whether to signal work now; due is the chain's word that a
// gate closure or settlement is due, pending the mempool's size.
func (p *workPolicy) work(now time.Time, due bool, pending int) bool {
	return due || pending >= batchTxs || pending > 0 && now.Sub(p.lastCommit) >= batchGap
}

// voteAsker decides when an authority asks a peer for the current round's
// consensus messages (votes.go): when the round has made no progress for
// askVotesAfter, at most every askVotesEvery, one peer in turn.
type voteAsker struct {
	height  uint64 // the round watched
	round   int32
	since   time.Time // when it started
	lastAsk time.Time
	turn    int
}

// due reports whether to ask now, the engine being at height h, round r,
// step; a new round (or none started) restarts the wait.
func (a *voteAsker) due(now time.Time, h uint64, r int32, step consensus.RoundStep) bool {
	if step == consensus.StepNewHeight || h != a.height || r != a.round {
		// Idle (no work, no round started) or moving: nothing to ask for.
		a.height, a.round, a.since = h, r, now
		return false
	}
	return now.Sub(a.since) >= askVotesAfter && now.Sub(a.lastAsk) >= askVotesEvery
}

// ask records an ask at now among peers (> 0) candidates and returns the
// index of the one to ask: the next in turn.
func (a *voteAsker) ask(now time.Time, peers int) int {
	a.lastAsk = now
	a.turn++
	return a.turn % peers
}

// resender decides when a home re-sends the transactions in its pool that
// its agent does not re-send itself (POSTed to its API): every
// republishEvery, in one batch, to the next authority each round.
type resender struct {
	last time.Time
	turn int
}

// due reports whether to re-send now, and records it.
func (r *resender) due(now time.Time) bool {
	if now.Sub(r.last) < republishEvery {
		return false
	}
	r.last = now
	return true
}

// next returns the turn of the authority the next re-send goes to (modulo
// their number).
func (r *resender) next() int {
	r.turn++
	return r.turn
}

// The sync pacing rules (syncPacer).
const (
	// headSyncGap: a head push syncs at once unless a sync started this
	// recently; then the next tick at least syncGap after it does.
	headSyncGap = 50 * time.Millisecond
	syncGap     = 300 * time.Millisecond
)

// syncPacer decides when the loop syncs: every interval (syncEvery on an
// authority, Options.FollowEvery on a home), at once for a head push from the
// upstream (unless a sync started within headSyncGap), and at the next tick
// at least syncGap after the last sync when the last answer was full, a push
// came too soon, or an authority heard of a higher height than its own (it
// must vote there).
type syncPacer struct {
	every time.Duration
	last  time.Time // when the last sync started
	more  bool      // sync again at the first tick syncGap after the last
}

// head reports whether a head push at now syncs at once.
func (p *syncPacer) head(now time.Time) bool {
	if now.Sub(p.last) >= headSyncGap {
		p.start(now)
		return true
	}
	p.more = true
	return false
}

// tick reports whether to sync at this tick; behind is an authority's
// knowledge of a higher height than its own.
func (p *syncPacer) tick(now time.Time, behind bool) bool {
	if (now.Sub(p.last) >= p.every || p.more || behind) && now.Sub(p.last) >= syncGap {
		p.start(now)
		return true
	}
	return false
}

func (p *syncPacer) start(now time.Time) { p.last, p.more = now, false }

// full records that a sync answer was full: there is more to fetch.
func (p *syncPacer) full() { p.more = true }

// clockWarner limits the warning of a node whose clock is not synchronised
// to one a minute.
type clockWarner struct {
	last time.Time
}

const clockWarnEvery = time.Minute

// due reports whether to warn now, and records it.
func (w *clockWarner) due(now time.Time) bool {
	if !w.last.IsZero() && now.Sub(w.last) < clockWarnEvery {
		return false
	}
	w.last = now
	return true
}
