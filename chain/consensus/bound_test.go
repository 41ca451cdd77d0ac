package consensus

import (
	"errors"
	"fmt"
	"testing"
)

// stepAll feeds inputs to s's engine, answering validation requests (valid
// unless the value is "bad"); stale timeouts are ignored.
func (s *scenario) stepAll(ins ...Input) Ready {
	s.t.Helper()
	var all Ready
	for _, in := range ins {
		if err := s.e.Step(in); err != nil && !errors.Is(err, ErrStale) && !errors.Is(err, ErrDuplicate) {
			s.t.Fatalf("Step(%T %+v): %v", in, in, err)
		}
		for s.e.HasReady() {
			rd := drain(s.e)
			all.Messages = append(all.Messages, rd.Messages...)
			all.Decided = append(all.Decided, rd.Decided...)
			for _, v := range rd.Validate {
				_ = s.e.Step(Validated{Height: v.Height, Round: v.Round, ID: v.ID, Valid: string(v.Value) != "bad"})
			}
		}
	}
	return all
}

// failRound runs round r of height 1 to its end without a decision: a
// proposal (unless the engine proposes), prevotes split between values,
// nil precommits, and the precommit timeout.
func (s *scenario) failRound(r int32) {
	s.t.Helper()
	var ins []Input
	if s.e.Proposer(1, r) != s.tv.ids[0] {
		ins = append(ins, s.prop(r, -1, fmt.Sprint("value of round ", r)))
	}
	ins = append(ins, s.vote(Prevote, 1, r, "x"), s.vote(Prevote, 2, r, "y"), s.vote(Prevote, 3, r, ""),
		Timeout{TimeoutPropose, 1, r}, Timeout{TimeoutPrevote, 1, r},
		s.vote(Precommit, 1, r, ""), s.vote(Precommit, 2, r, ""), s.vote(Precommit, 3, r, ""),
		Timeout{TimeoutPrecommit, 1, r})
	s.stepAll(ins...)
	if got, _ := s.e.Round(); got != r+1 {
		s.t.Fatalf("after failing round %d the engine is in round %d", r, got)
	}
}

// TestStuckHeightBounded: a height stuck for many rounds holds the messages
// of a bounded number of rounds (counted, not timed), and messages of old
// rounds arriving late are not kept.
func TestStuckHeightBounded(t *testing.T) {
	s := newScenario(t)
	s.stepAll(Work{})
	bound := keepRoundsBehind + 1 + maxRoundsAhead
	for r := range int32(300) {
		s.failRound(r)
		if r > 20 {
			// Late messages of an old round: dropped.
			s.stepAll(s.vote(Prevote, 2, r-20, "late"), s.vote(Precommit, 3, r-20, "late"))
		}
		if n := s.e.roundsHeld(); n > bound {
			t.Fatalf("round %d: %d rounds held, bound %d", r+1, n, bound)
		}
		if n := len(s.e.validity); n > bound*maxProposalsPerRound+2 {
			t.Fatalf("round %d: %d validity verdicts held", r+1, n)
		}
	}
	if got := s.e.Messages(250); len(got) != 0 {
		t.Errorf("round 250 of 300: %d messages still held", len(got))
	}
}

// TestOldValidRoundStillCounts: after many failed rounds, a proposal citing an
// old valid round (outside the recent window, not this node's lock) is still
// prevoted once the polka of that round arrives: the prevotes of the round a
// recent proposal cites are kept and counted (line 28), even if they arrived
// first and were dropped, as the proposer re-sends them.
func TestOldValidRoundStillCounts(t *testing.T) {
	s := newScenario(t)
	s.stepAll(Work{})
	const vr, at = 2, 60
	for r := range int32(at) {
		s.failRound(r)
	}
	if s.e.Proposer(1, at) == s.tv.ids[0] {
		t.Fatalf("setup: the engine proposes round %d", at)
	}
	polka := []Input{s.vote(Prevote, 1, vr, "a"), s.vote(Prevote, 2, vr, "a"), s.vote(Prevote, 3, vr, "a")}
	s.stepAll(polka...) // before the proposal: round 2 is not kept
	if got := s.e.Messages(vr); len(got) != 0 {
		t.Fatalf("round %d's prevotes kept before any proposal cites it: %d", vr, len(got))
	}
	rd := s.stepAll(s.prop(at, vr, "a"))
	rd2 := s.stepAll(polka...) // re-sent with the proposal
	var prevoted bool
	for _, m := range append(rd.Messages, rd2.Messages...) {
		if m.Type == Prevote && m.Round == at && m.ValueID == id("a") {
			prevoted = true
		}
	}
	if !prevoted {
		t.Fatalf("no prevote for the value of round %d's polka in round %d", vr, at)
	}
	// And with a quorum of the later round, the height decides.
	out := s.stepAll(s.vote(Prevote, 1, at, "a"), s.vote(Prevote, 2, at, "a"),
		s.vote(Precommit, 1, at, "a"), s.vote(Precommit, 2, at, "a"))
	if len(out.Decided) != 1 {
		t.Fatalf("no decision in round %d: %+v", at, out.Decided)
	}
}
