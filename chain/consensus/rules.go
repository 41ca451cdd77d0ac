package consensus

import (
	"bytes"
	"slices"

	"github.com/gridmesh/gridmesh/ident"
)

// The upon-rules of Algorithm 1, each a method named after its transition and
// citing its line, and the order in which run evaluates them.

// run fires enabled upon-rules until none is enabled. Priority, highest first (one
// rule fires per iteration, then all are re-evaluated):
//
//  1. onDecide       (line 49) a decision ends the height; nothing else matters
//  2. onRoundSkip    (line 55) no point acting in a round being left
//  3. onProposal     (line 22) then onProposalValidRound (line 28): step propose
//  4. onPolka        (line 36) before onPolkaNil: only one of them can hold
//  5. onPolkaNil     (line 44)
//  6. onPolkaAny     (line 34) timers last: they only matter if nothing else moved
//  7. onPrecommitAny (line 47)
func (e *Engine) run() {
	for e.st.Step != StepNewHeight {
		if !(e.onDecide() || e.onRoundSkip() || e.onProposal() || e.onProposalValidRound() ||
			e.onPolka() || e.onPolkaNil() || e.onPolkaAny() || e.onPrecommitAny()) {
			return
		}
	}
}

// startRound is StartRound(round), line 11. As a deviation that only concerns
// liveness, the proposer arms timeoutPropose too (line 21 arms it only for the
// others): if the application is slow to build, or the last-signed guard refuses
// the proposal after a restart, the proposer prevotes nil like everyone else.
// OnTimeoutPropose acts only in step propose, so the extra timer is otherwise inert.
func (e *Engine) startRound(round int32) {
	e.st.Round = round
	e.st.Step = StepPropose
	e.dirty = true
	e.resetRound()
	e.pruneRounds()
	if e.isProposer(round) {
		e.propose()
	}
	e.schedule(TimeoutPropose)
}

// propose is lines 14-19 for the proposer: re-propose validValue, or ask for a new
// value (getValue, answered by Proposed).
func (e *Engine) propose() {
	if e.st.ValidRound >= 0 {
		e.broadcast(Message{Type: Proposal, Height: e.st.Height, Round: e.st.Round, ValueID: e.st.ValidID,
			ValidRound: e.st.ValidRound, Value: bytes.Clone(e.st.ValidValue)})
		if e.self >= 0 {
			e.out.Messages = append(e.out.Messages, e.st.ValidPolka...) // the proof line 28 needs
		}
		return
	}
	e.awaitingBuild = true
	e.out.Build = &BuildRequest{Height: e.st.Height, Round: e.st.Round}
}

// onProposal is line 22: upon ⟨PROPOSAL, h_p, round_p, v, −1⟩ from proposer(h_p,
// round_p) while step_p = propose: prevote id(v) if valid(v) ∧ (lockedRound_p = −1 ∨
// lockedValue_p = v), else nil (lines 23-27). Waits for valid(v) to be known.
func (e *Engine) onProposal() bool {
	if e.st.Step != StepPropose {
		return false
	}
	for _, p := range e.proposals(e.st.Round) {
		v := e.verdict(p)
		if p.ValidRound != -1 || v == unknown {
			continue
		}
		if v == valid && (e.st.LockedRound == -1 || e.st.LockedID == p.ValueID) {
			e.vote(Prevote, p.ValueID)
		} else {
			e.vote(Prevote, ident.Hash{})
		}
		e.st.Step = StepPrevote
		return true
	}
	return false
}

// onProposalValidRound is line 28: upon ⟨PROPOSAL, h_p, round_p, v, vr⟩ from
// proposer(h_p, round_p) AND 2f+1 ⟨PREVOTE, h_p, vr, id(v)⟩ while step_p = propose ∧
// (vr ≥ 0 ∧ vr < round_p): prevote id(v) if valid(v) ∧ (lockedRound_p ≤ vr ∨
// lockedValue_p = v), else nil (lines 29-33).
func (e *Engine) onProposalValidRound() bool {
	if e.st.Step != StepPropose {
		return false
	}
	for _, p := range e.proposals(e.st.Round) {
		v := e.verdict(p)
		if p.ValidRound < 0 || p.ValidRound >= e.st.Round || v == unknown {
			continue
		}
		if n, _ := e.count(p.ValidRound, Prevote, p.ValueID); !e.twoThirds(n) {
			continue
		}
		if v == valid && (e.st.LockedRound <= p.ValidRound || e.st.LockedID == p.ValueID) {
			e.vote(Prevote, p.ValueID)
		} else {
			e.vote(Prevote, ident.Hash{})
		}
		e.st.Step = StepPrevote
		return true
	}
	return false
}

// onPolkaAny is line 34: upon 2f+1 ⟨PREVOTE, h_p, round_p, ∗⟩ while step_p = prevote
// for the first time: schedule OnTimeoutPrevote(h_p, round_p).
func (e *Engine) onPolkaAny() bool {
	if e.st.Step != StepPrevote || e.prevoteTimerDone {
		return false
	}
	if _, n := e.count(e.st.Round, Prevote, ident.Hash{}); !e.twoThirds(n) {
		return false
	}
	e.prevoteTimerDone = true
	e.schedule(TimeoutPrevote)
	return true
}

// onPolka is line 36: upon ⟨PROPOSAL, h_p, round_p, v, ∗⟩ from proposer(h_p,
// round_p) AND 2f+1 ⟨PREVOTE, h_p, round_p, id(v)⟩ while valid(v) ∧ step_p ≥ prevote
// for the first time: if step_p = prevote, lock v and precommit id(v) (lines 37-41);
// validValue_p ← v, validRound_p ← round_p (lines 42-43).
func (e *Engine) onPolka() bool {
	if e.st.Step < StepPrevote || e.polkaDone {
		return false
	}
	for _, p := range e.proposals(e.st.Round) {
		if e.verdict(p) != valid {
			continue
		}
		if n, _ := e.count(e.st.Round, Prevote, p.ValueID); !e.twoThirds(n) {
			continue
		}
		e.polkaDone = true
		if e.st.Step == StepPrevote {
			e.st.LockedValue, e.st.LockedID, e.st.LockedRound = p.Value, p.ValueID, e.st.Round
			e.vote(Precommit, p.ValueID)
			e.st.Step = StepPrecommit
		}
		e.st.ValidValue, e.st.ValidID, e.st.ValidRound = p.Value, p.ValueID, e.st.Round
		e.st.ValidPolka = e.st.ValidPolka[:0:0]
		for _, vs := range e.rounds[e.st.Round].votes[Prevote-Prevote] { // sorted by validator
			for _, v := range vs {
				if v.ValueID == p.ValueID {
					e.st.ValidPolka = append(e.st.ValidPolka, v)
				}
			}
		}
		e.dirty = true
		return true
	}
	return false
}

// onPolkaNil is line 44: upon 2f+1 ⟨PREVOTE, h_p, round_p, nil⟩ while step_p =
// prevote: precommit nil (lines 45-46).
func (e *Engine) onPolkaNil() bool {
	if e.st.Step != StepPrevote {
		return false
	}
	if n, _ := e.count(e.st.Round, Prevote, ident.Hash{}); !e.twoThirds(n) {
		return false
	}
	e.vote(Precommit, ident.Hash{})
	e.st.Step = StepPrecommit
	return true
}

// onPrecommitAny is line 47: upon 2f+1 ⟨PRECOMMIT, h_p, round_p, ∗⟩ for the first
// time: schedule OnTimeoutPrecommit(h_p, round_p).
func (e *Engine) onPrecommitAny() bool {
	if e.precommitTimerDone {
		return false
	}
	if _, n := e.count(e.st.Round, Precommit, ident.Hash{}); !e.twoThirds(n) {
		return false
	}
	e.precommitTimerDone = true
	e.schedule(TimeoutPrecommit)
	return true
}

// onDecide is line 49: upon ⟨PROPOSAL, h_p, r, v, ∗⟩ from proposer(h_p, r) AND 2f+1
// ⟨PRECOMMIT, h_p, r, id(v)⟩ while decision_p[h_p] = nil: if valid(v), decide v
// (lines 50-54). Rounds are tried in increasing order.
func (e *Engine) onDecide() bool {
	// The lowest decidable round wins; taking the minimum keeps this independent of
	// map order without sorting on every input.
	best, found := int32(0), -1
	for r, rv := range e.rounds {
		if found >= 0 && r > best {
			continue
		}
		for i, p := range rv.proposals {
			if e.verdict(p) != valid {
				continue
			}
			if n, _ := e.count(r, Precommit, p.ValueID); e.twoThirds(n) {
				best, found = r, i
				break
			}
		}
	}
	if found < 0 {
		return false
	}
	p := e.rounds[best].proposals[found]
	var commit []Message
	for _, vs := range e.rounds[best].votes[Precommit-Prevote] { // sorted by validator
		for _, v := range vs {
			if v.ValueID == p.ValueID {
				commit = append(commit, v)
			}
		}
	}
	e.decide(best, p.ValueID, p.Value, commit)
	return true
}

// decide records decision_p[h_p] and enters h_p+1 (lines 51-53). Unlike line 54 the
// next round 0 starts only on Work or a message of the new height.
func (e *Engine) decide(r int32, id ident.Hash, value []byte, commit []Message) {
	d := Decision{Height: e.st.Height, Round: r, ValueID: id, Value: value, Commit: commit}
	e.out.Decided = append(e.out.Decided, d)
	e.st.Decision = &d
	e.st.Height++
	e.st.Round, e.st.Step = 0, StepNewHeight
	e.st.LockedRound, e.st.LockedID, e.st.LockedValue = -1, ident.Hash{}, nil
	e.st.ValidRound, e.st.ValidID, e.st.ValidValue, e.st.ValidPolka = -1, ident.Hash{}, nil, nil
	e.dirty = true
	e.resetHeight()
	buffered := e.next
	e.next = nil
	started := false
	for _, m := range buffered {
		if e.store(m) == nil && m.Height == e.st.Height && !started {
			started = true
		}
	}
	if started {
		e.startRound(0)
	}
}

// onRoundSkip is line 55: upon f+1 ⟨∗, h_p, round, ∗, ∗⟩ with round > round_p:
// StartRound(round). Generalised so that messages beyond the stored window count:
// if f+1 validators each sent a message of some round > round_p, skip to the
// highest round that f+1 of them have reached (at least one correct validator is
// there). With f+1 messages of one round r this skips to at least r, as line 55 does.
func (e *Engine) onRoundSkip() bool {
	ahead := 0
	for _, h := range e.high {
		if h > e.st.Round {
			ahead++
		}
	}
	if !e.oneThird(ahead) {
		return false
	}
	highs := make([]int32, 0, ahead)
	for _, h := range e.high {
		if h > e.st.Round {
			highs = append(highs, h)
		}
	}
	slices.Sort(highs)
	slices.Reverse(highs)
	k := len(e.vals)/3 + 1 // smallest count with oneThird(k)
	e.startRound(highs[k-1])
	return true
}

// onTimeoutPropose is line 57: if step_p = propose, prevote nil (lines 58-60).
func (e *Engine) onTimeoutPropose() {
	if e.st.Step == StepPropose {
		e.vote(Prevote, ident.Hash{})
		e.st.Step = StepPrevote
		e.dirty = true
	}
}

// onTimeoutPrevote is line 61: if step_p = prevote, precommit nil (lines 62-64).
func (e *Engine) onTimeoutPrevote() {
	if e.st.Step == StepPrevote {
		e.vote(Precommit, ident.Hash{})
		e.st.Step = StepPrecommit
		e.dirty = true
	}
}

// onTimeoutPrecommit is line 65: StartRound(round_p + 1) (lines 66-67).
func (e *Engine) onTimeoutPrecommit() {
	if e.st.Round < MaxRound {
		e.startRound(e.st.Round + 1)
	}
}
