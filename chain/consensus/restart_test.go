package consensus

import (
	"errors"

	"github.com/google/go-cmp/cmp"
	"testing"
	"time"
)

// A node restored from its last persisted State never signs a conflicting message:
// every (height, round, type) it signs after the restart says what it said before.
func TestRestartNeverDoubleSigns(t *testing.T) {
	s := newScenario(t)
	rd := s.step(Work{}, s.prop(0, -1, "a"))
	if len(rd.Messages) != 1 || rd.State == nil || rd.State.LastPrevote == nil {
		t.Fatalf("setup: got %v and state %+v, want one prevote recorded in State", sent(rd), rd.State)
	}
	before := rd.Messages[0]
	st := *rd.State
	// Round-trip through the encoding, as a restart does.
	st2, err := DecodeState(st.Encode())
	if err != nil {
		t.Fatal(err)
	}
	// Defence in depth: even if the step lagged the last-signed record, the engine
	// asked to prevote nil at (1, 0) re-sends its prevote for a instead.
	st2.Step = StepPropose
	e := mustNew(t, s.tv.config(s.tv.ids[0]), 1, &st2)
	s.e = e
	rd = s.step(Timeout{TimeoutPropose, 1, 0})
	rd2 := drain(e)
	all := append(rd.Messages, rd2.Messages...)
	if len(all) == 0 {
		t.Fatalf("restored engine sent nothing, want its earlier prevote re-sent")
	}
	for _, m := range all {
		if m.Type == Prevote && m.Round == 0 && m.ValueID != before.ValueID {
			t.Fatalf("double-signed prevote at (1, 0): %s then %s", before.ValueID, m.ValueID)
		}
	}
	// A lower round than the last signed one is refused outright.
	if _, ok := e.sign(Message{Type: Prevote, Height: 1, Round: -0, ValueID: id("other"), ValidRound: -1}); ok {
		t.Fatalf("sign accepted a conflicting prevote at (1, 0)")
	}
	e.st.LastPrevote.Round = 3
	if _, ok := e.sign(Message{Type: Prevote, Height: 1, Round: 2, ValidRound: -1}); ok {
		t.Fatalf("sign accepted a prevote below the last signed round")
	}
}

func TestRestartResumesRoundAndStep(t *testing.T) {
	s := newScenario(t)
	rd := s.step(Work{}, s.prop(0, -1, "a"), s.vote(Prevote, 1, 0, "a"), s.vote(Prevote, 2, 0, "a"))
	st := rd.State
	if st == nil || st.Step != StepPrecommit || st.LockedRound != 0 {
		t.Fatalf("setup: got state %+v, want locked at round 0, step precommit", st)
	}
	e := mustNew(t, s.tv.config(s.tv.ids[0]), 1, st)
	rd = drain(e)
	// Without 2f+1 precommits of round 0 no precommit timer is armed (line 47
	// arms it only then); the peers' re-broadcast votes will arm it.
	if got := timers(rd); len(got) != 0 {
		t.Fatalf("got timers %v after a restore at step precommit without 2f+1 precommits, want none", got)
	}
	a := id("a").Short()
	want := []string{"prevote h1 r0 " + a, "precommit h1 r0 " + a, "prevote h1 r0 " + a, "prevote h1 r0 " + a}
	if diff := cmp.Diff(want, summary(rd.Messages)); diff != "" {
		t.Fatalf("re-sent (-want +got): own prevote and precommit, then the polka's other prevotes:\n%s", diff)
	}
	s.e = e
	// The lock survived: a new proposal of another value gets a nil prevote.
	rd = s.step(Timeout{TimeoutPrecommit, 1, 0}, s.prop(1, -1, "b"))
	if got := sent(rd); len(got) != 1 || got[0] != "prevote r1 nil" {
		t.Fatalf("got %v, want prevote r1 nil (still locked on a)", got)
	}
}

func TestRestartAfterDecisionBeforeCommit(t *testing.T) {
	s := newScenario(t)
	rd := s.step(Work{}, s.prop(0, -1, "a"), s.vote(Precommit, 1, 0, "a"), s.vote(Precommit, 2, 0, "a"), s.vote(Precommit, 3, 0, "a"))
	if rd.State == nil || rd.State.Height != 2 || rd.State.Decision == nil {
		t.Fatalf("setup: got state %+v, want height 2 carrying the decision", rd.State)
	}
	st, err := DecodeState(rd.State.Encode())
	if err != nil {
		t.Fatal(err)
	}
	// The application had not committed height 1: it asks for height 1 again.
	e := mustNew(t, s.tv.config(s.tv.ids[0]), 1, &st)
	got := drain(e)
	if len(got.Decided) != 1 || got.Decided[0].Height != 1 || got.Decided[0].ValueID != id("a") {
		t.Fatalf("got decided %+v, want height 1 value a handed out again", got.Decided)
	}
	if err := VerifyCommit(testChain, s.tv.pubs, 1, id("a"), got.Decided[0].Commit); err != nil {
		t.Fatalf("re-emitted certificate: %v", err)
	}
	if e.Height() != 2 {
		t.Fatalf("got height %d, want 2", e.Height())
	}
	// Committed: normal restart at 2.
	if _, err := New(s.tv.config(s.tv.ids[0]), 2, &st); err != nil {
		t.Fatalf("restart at 2: %v", err)
	}
	// Further behind than the decision covers: refuse.
	st.Height, st.Decision = 3, nil
	if _, err := New(s.tv.config(s.tv.ids[0]), 1, &st); !errors.Is(err, ErrStateAhead) {
		t.Fatalf("state at 3, asked for 1: got %v, want ErrStateAhead", err)
	}
}

// Crash-heavy network runs: nodes die after persisting and before sending, restart
// from their last persisted State; the checker sees every signature.
func TestNetworkCrashRestartNoDoubleSign(t *testing.T) {
	restarts := 0
	for seed := range uint64(seeds(t, 8, 3)) {
		c := defaultSim()
		c.crash = 0.04
		c.heights = 4
		s := newSim(t, 1000+seed, c)
		ok := s.run()
		if len(s.violations) > 0 {
			t.Fatalf("seed %d: %v", 1000+seed, s.violations)
		}
		if !ok {
			t.Fatalf("seed %d: no progress by %v: %v", 1000+seed, s.now, s.progress())
		}
		restarts += s.restarts
	}
	if restarts == 0 {
		t.Fatalf("got no restarts, want the test to exercise them")
	}
	t.Logf("%d restarts", restarts)
}

var _ = time.Second
