package consensus

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridmesh/gridmesh/ident"
)

// scenario drives one engine (self = validator 0 of 4, sorted) at height 1 with
// messages from the other validators. Proposers at height 1: round 0 v1, round 1 v2,
// round 2 v3, round 3 v0 (self).
type scenario struct {
	t  *testing.T
	tv testVals
	e  *Engine
}

func newScenario(t *testing.T) *scenario {
	t.Helper()
	tv := newTestVals(4)
	return &scenario{t: t, tv: tv, e: mustNew(t, tv.config(tv.ids[0]), 1, nil)}
}

func id(v string) ident.Hash {
	if v == "" {
		return ident.Hash{}
	}
	return valueID([]byte(v))
}

func (s *scenario) prop(r, vr int32, v string) Message {
	return s.tv.signed(Message{Type: Proposal, Height: 1, Round: r, ValidRound: vr, ValueID: id(v), Value: []byte(v)}, s.e.Proposer(1, r))
}

func (s *scenario) vote(t MsgType, from int, r int32, v string) Message {
	return s.tv.signed(Message{Type: t, Height: 1, Round: r, ValueID: id(v)}, s.tv.ids[from])
}

// step feeds inputs, answering every ValidateRequest with valid = (value != "bad"),
// and returns what came out.
func (s *scenario) step(ins ...Input) Ready {
	s.t.Helper()
	var all Ready
	for _, in := range ins {
		if err := s.e.Step(in); err != nil {
			s.t.Fatalf("Step(%T %+v): %v", in, in, err)
		}
		for s.e.HasReady() {
			rd := drain(s.e)
			all.Messages = append(all.Messages, rd.Messages...)
			all.Timers = append(all.Timers, rd.Timers...)
			all.Decided = append(all.Decided, rd.Decided...)
			all.Evidence = append(all.Evidence, rd.Evidence...)
			if rd.Build != nil {
				all.Build = rd.Build
			}
			if rd.State != nil {
				all.State = rd.State
			}
			for _, v := range rd.Validate {
				all.Validate = append(all.Validate, v)
				_ = s.e.Step(Validated{Height: v.Height, Round: v.Round, ID: v.ID, Valid: string(v.Value) != "bad"})
			}
		}
	}
	return all
}

func sent(rd Ready) []string {
	var out []string
	for _, m := range rd.Messages {
		out = append(out, m.Type.String()+" r"+string(rune('0'+m.Round))+" "+m.ValueID.Short())
	}
	return out
}

func timers(rd Ready) []Timeout {
	var out []Timeout
	for _, t := range rd.Timers {
		out = append(out, t.Timeout)
	}
	return out
}

// lockOn runs round 0 to a lock on v: proposal, 2f+1 prevotes for v, own precommit.
func (s *scenario) lockOn(v string) {
	s.step(Work{}, s.prop(0, -1, v), s.vote(Prevote, 1, 0, v), s.vote(Prevote, 2, 0, v))
	if st := s.e.State(); st.LockedRound != 0 || st.LockedID != id(v) {
		s.t.Fatalf("setup: got lock r%d %s, want r0 %s", st.LockedRound, st.LockedID, id(v))
	}
}

func TestRules(t *testing.T) {
	a, b := "value a", "value b"
	tests := []struct {
		name       string
		run        func(s *scenario) Ready
		wantSent   []string
		wantTimers []Timeout
		check      func(t *testing.T, s *scenario, rd Ready)
	}{
		{
			name:       "line 11 StartRound: not the proposer, arm timeoutPropose",
			run:        func(s *scenario) Ready { return s.step(Work{}) },
			wantTimers: []Timeout{{TimeoutPropose, 1, 0}},
		},
		{
			name: "line 22 valid proposal, not locked: prevote id(v)",
			run: func(s *scenario) Ready {
				return s.step(Work{}, s.prop(0, -1, a))
			},
			wantSent:   []string{"prevote r0 " + id(a).Short()},
			wantTimers: []Timeout{{TimeoutPropose, 1, 0}},
		},
		{
			name: "line 22 invalid proposal: prevote nil",
			run: func(s *scenario) Ready {
				return s.step(Work{}, s.prop(0, -1, "bad"))
			},
			wantSent:   []string{"prevote r0 nil"},
			wantTimers: []Timeout{{TimeoutPropose, 1, 0}},
		},
		{
			name: "line 22 locked on another value: prevote nil",
			run: func(s *scenario) Ready {
				s.lockOn(a)
				return s.step(Timeout{TimeoutPrecommit, 1, 0}, s.prop(1, -1, b))
			},
			wantSent:   []string{"prevote r1 nil"},
			wantTimers: []Timeout{{TimeoutPropose, 1, 1}},
		},
		{
			name: "line 22 locked on the same value: prevote id(v)",
			run: func(s *scenario) Ready {
				s.lockOn(a)
				return s.step(Timeout{TimeoutPrecommit, 1, 0}, s.prop(1, -1, a))
			},
			wantSent:   []string{"prevote r1 " + id(a).Short()},
			wantTimers: []Timeout{{TimeoutPropose, 1, 1}},
		},
		{
			name: "line 28 polka at vr >= lockedRound unlocks: prevote id(v)",
			run: func(s *scenario) Ready {
				s.lockOn(a)
				// Round 1: 2f+1 prevotes for b (self missed them), then round 2 re-proposes b with vr 1.
				s.step(Timeout{TimeoutPrecommit, 1, 0}, Timeout{TimeoutPropose, 1, 1},
					s.vote(Prevote, 1, 1, b), s.vote(Prevote, 2, 1, b), s.vote(Prevote, 3, 1, b),
					Timeout{TimeoutPrevote, 1, 1}, Timeout{TimeoutPrecommit, 1, 1})
				return s.step(s.prop(2, 1, b))
			},
			wantSent: []string{"prevote r2 " + id(b).Short()},
		},
		{
			name: "line 28 polka at vr < lockedRound: prevote nil",
			run: func(s *scenario) Ready {
				// Round 0: a polka for b that self sees only after precommitting nil.
				s.step(Work{}, Timeout{TimeoutPropose, 1, 0}, Timeout{TimeoutPrevote, 1, 0}, s.prop(0, -1, b),
					s.vote(Prevote, 1, 0, b), s.vote(Prevote, 2, 0, b), s.vote(Prevote, 3, 0, b))
				// Round 1: lock on a.
				s.step(Timeout{TimeoutPrecommit, 1, 0}, s.prop(1, -1, a), s.vote(Prevote, 1, 1, a), s.vote(Prevote, 2, 1, a),
					Timeout{TimeoutPrecommit, 1, 1})
				return s.step(s.prop(2, 0, b))
			},
			wantSent: []string{"prevote r2 nil"},
		},
		{
			name: "line 34 2f+1 prevotes of mixed values: arm timeoutPrevote once",
			run: func(s *scenario) Ready {
				s.step(Work{}, s.prop(0, -1, a))
				return s.step(s.vote(Prevote, 1, 0, b), s.vote(Prevote, 2, 0, ""), s.vote(Prevote, 3, 0, b))
			},
			wantTimers: []Timeout{{TimeoutPrevote, 1, 0}},
		},
		{
			name: "line 36 proposal and 2f+1 prevotes for v: lock, precommit, valid value",
			run: func(s *scenario) Ready {
				s.step(Work{}, s.prop(0, -1, a))
				return s.step(s.vote(Prevote, 1, 0, a), s.vote(Prevote, 2, 0, a))
			},
			// Line 36 has priority over line 34, whose step condition then no longer holds.
			wantSent: []string{"precommit r0 " + id(a).Short()},
			check: func(t *testing.T, s *scenario, rd Ready) {
				st := rd.State
				if st == nil || st.LockedRound != 0 || st.LockedID != id(a) || st.ValidRound != 0 || string(st.ValidValue) != a || st.Step != StepPrecommit {
					t.Fatalf("got state %+v, want locked and valid at round 0 on a, step precommit", st)
				}
			},
		},
		{
			name: "line 36 in step precommit: only the valid value is updated",
			run: func(s *scenario) Ready {
				s.step(Work{}, s.prop(0, -1, a), Timeout{TimeoutPrevote, 1, 0})
				return s.step(s.vote(Prevote, 1, 0, a), s.vote(Prevote, 2, 0, a))
			},
			check: func(t *testing.T, s *scenario, rd Ready) {
				st := s.e.State()
				if st.LockedRound != -1 || st.ValidRound != 0 || st.ValidID != id(a) {
					t.Fatalf("got lock r%d valid r%d %s, want no lock, valid r0 a", st.LockedRound, st.ValidRound, st.ValidID)
				}
			},
		},
		{
			name: "line 44 2f+1 nil prevotes: precommit nil",
			run: func(s *scenario) Ready {
				s.step(Work{}, Timeout{TimeoutPropose, 1, 0})
				return s.step(s.vote(Prevote, 1, 0, ""), s.vote(Prevote, 2, 0, ""))
			},
			wantSent: []string{"precommit r0 nil"},
		},
		{
			name: "line 47 2f+1 precommits of mixed values: arm timeoutPrecommit",
			run: func(s *scenario) Ready {
				s.step(Work{})
				return s.step(s.vote(Precommit, 1, 0, a), s.vote(Precommit, 2, 0, ""), s.vote(Precommit, 3, 0, b))
			},
			wantTimers: []Timeout{{TimeoutPrecommit, 1, 0}},
		},
		{
			name: "line 49 proposal and 2f+1 precommits (any round): decide, wait at h+1",
			run: func(s *scenario) Ready {
				s.step(Work{})
				return s.step(s.prop(1, -1, b), s.vote(Precommit, 1, 1, b), s.vote(Precommit, 2, 1, b), s.vote(Precommit, 3, 1, b))
			},
			// The second precommit of round 1 is f+1: line 55 moves self to round 1 first.
			wantSent:   []string{"prevote r1 " + id(b).Short()},
			wantTimers: []Timeout{{TimeoutPropose, 1, 1}},
			check: func(t *testing.T, s *scenario, rd Ready) {
				if len(rd.Decided) != 1 || rd.Decided[0].ValueID != id(b) || rd.Decided[0].Round != 1 || string(rd.Decided[0].Value) != b {
					t.Fatalf("got decided %+v, want b at round 1", rd.Decided)
				}
				if err := VerifyCommit(testChain, s.tv.pubs, 1, id(b), rd.Decided[0].Commit); err != nil {
					t.Fatalf("certificate: %v", err)
				}
				if h := s.e.Height(); h != 2 {
					t.Fatalf("got height %d, want 2", h)
				}
				if _, step := s.e.Round(); step != StepNewHeight {
					t.Fatalf("got step %s, want newheight (waiting for work)", step)
				}
			},
		},
		{
			name: "line 55 f+1 messages of a higher round: skip to it",
			run: func(s *scenario) Ready {
				s.step(Work{})
				return s.step(s.vote(Prevote, 1, 2, ""), s.vote(Precommit, 2, 2, ""))
			},
			wantTimers: []Timeout{{TimeoutPropose, 1, 2}},
			check: func(t *testing.T, s *scenario, rd Ready) {
				if r, step := s.e.Round(); r != 2 || step != StepPropose {
					t.Fatalf("got round %d %s, want 2 propose", r, step)
				}
			},
		},
		{
			name: "line 55 one message of a higher round is not enough",
			run: func(s *scenario) Ready {
				s.step(Work{})
				return s.step(s.vote(Prevote, 1, 2, ""), s.vote(Prevote, 1, 3, ""))
			},
			check: func(t *testing.T, s *scenario, rd Ready) {
				if r, _ := s.e.Round(); r != 0 {
					t.Fatalf("got round %d, want 0", r)
				}
			},
		},
		{
			name: "line 57 timeoutPropose: prevote nil",
			run: func(s *scenario) Ready {
				s.step(Work{})
				return s.step(Timeout{TimeoutPropose, 1, 0})
			},
			wantSent: []string{"prevote r0 nil"},
		},
		{
			name: "line 61 timeoutPrevote: precommit nil",
			run: func(s *scenario) Ready {
				s.step(Work{}, s.prop(0, -1, a))
				return s.step(Timeout{TimeoutPrevote, 1, 0})
			},
			wantSent: []string{"precommit r0 nil"},
		},
		{
			name: "line 65 timeoutPrecommit: next round; round 3 proposer is self and re-proposes the valid value",
			run: func(s *scenario) Ready {
				s.lockOn(a)
				return s.step(Timeout{TimeoutPrecommit, 1, 0}, Timeout{TimeoutPropose, 1, 1}, Timeout{TimeoutPrevote, 1, 1},
					Timeout{TimeoutPrecommit, 1, 1}, Timeout{TimeoutPropose, 1, 2}, Timeout{TimeoutPrevote, 1, 2},
					Timeout{TimeoutPrecommit, 1, 2})
			},
			wantSent: []string{"prevote r1 nil", "precommit r1 nil", "prevote r2 nil", "precommit r2 nil",
				"proposal r3 " + id(a).Short(),
				"prevote r0 " + id(a).Short(), "prevote r0 " + id(a).Short(), "prevote r0 " + id(a).Short(), // its proof
				"prevote r3 " + id(a).Short()},
			wantTimers: []Timeout{{TimeoutPropose, 1, 1}, {TimeoutPropose, 1, 2}, {TimeoutPropose, 1, 3}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenario(t)
			rd := tc.run(s)
			if diff := cmp.Diff(tc.wantSent, sent(rd)); diff != "" {
				t.Errorf("sent (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantTimers, timers(rd)); diff != "" {
				t.Errorf("timers (-want +got):\n%s", diff)
			}
			if tc.check != nil {
				tc.check(t, s, rd)
			}
		})
	}
}

func TestProposerBuildsAndProposes(t *testing.T) {
	tv := newTestVals(4)
	self := tv.ids[1] // proposer of (1, 0)
	e := mustNew(t, tv.config(self), 1, nil)
	if err := e.Step(Work{}); err != nil {
		t.Fatal(err)
	}
	rd := drain(e)
	if rd.Build == nil || *rd.Build != (BuildRequest{1, 0}) {
		t.Fatalf("got build %+v, want {1 0}", rd.Build)
	}
	if err := e.Step(Proposed{Height: 1, Round: 1, Value: []byte("x"), ID: id("x")}); !errors.Is(err, ErrStale) {
		t.Fatalf("Proposed for the wrong round: got %v, want ErrStale", err)
	}
	if err := e.Step(Proposed{Height: 1, Round: 0, Value: []byte("x"), ID: id("x")}); err != nil {
		t.Fatal(err)
	}
	rd = drain(e)
	want := []string{"proposal h1 r0 " + id("x").Short(), "prevote h1 r0 " + id("x").Short()}
	if diff := cmp.Diff(want, summary(rd.Messages)); diff != "" {
		t.Fatalf("messages (-want +got):\n%s", diff)
	}
	for _, m := range rd.Messages {
		if err := m.Verify(testChain, tv.pubs[self]); err != nil {
			t.Fatalf("own %s: %v", m.Type, err)
		}
	}
	if p := rd.Messages[0]; p.ValidRound != -1 || string(p.Value) != "x" {
		t.Fatalf("got proposal vr %d value %q, want -1 %q", p.ValidRound, p.Value, "x")
	}
}

func TestProposerRule(t *testing.T) {
	tv := newTestVals(4)
	e := mustNew(t, tv.config(tv.ids[0]), 1, nil)
	for h := uint64(0); h < 3; h++ {
		for r := int32(0); r < 5; r++ {
			if got, want := e.Proposer(h, r), tv.ids[(h+uint64(r))%4]; got != want {
				t.Errorf("Proposer(%d, %d) = %.8s, want %.8s", h, r, got, want)
			}
		}
	}
}

func TestTimeoutDurations(t *testing.T) {
	to := testTimeouts()
	for _, tc := range []struct {
		k     TimeoutKind
		round int32
		want  time.Duration
	}{
		{TimeoutPropose, 0, 100 * time.Millisecond},
		{TimeoutPropose, 3, 250 * time.Millisecond},
		{TimeoutPrevote, 2, 100 * time.Millisecond},
		{TimeoutPrecommit, 4, 150 * time.Millisecond},
		{TimeoutPrecommit, MaxRound, 50*time.Millisecond + maxTimeoutRound*25*time.Millisecond},
	} {
		if got := to.duration(tc.k, tc.round); got != tc.want {
			t.Errorf("duration(%s, %d) = %v, want %v", tc.k, tc.round, got, tc.want)
		}
	}
}

func TestQuorums(t *testing.T) {
	for _, tc := range []struct{ n, twoThirds, oneThird int }{
		{1, 1, 1}, {2, 2, 1}, {3, 3, 2}, {4, 3, 2}, {5, 4, 2}, {6, 5, 3}, {7, 5, 3}, {10, 7, 4},
	} {
		tv := newTestVals(tc.n)
		e := mustNew(t, tv.config(tv.ids[0]), 1, nil)
		least := func(f func(int) bool) int {
			for c := 0; ; c++ {
				if f(c) {
					return c
				}
			}
		}
		if got := least(e.twoThirds); got != tc.twoThirds {
			t.Errorf("n=%d: 2f+1 = %d, want %d", tc.n, got, tc.twoThirds)
		}
		if got := least(e.oneThird); got != tc.oneThird {
			t.Errorf("n=%d: f+1 = %d, want %d", tc.n, got, tc.oneThird)
		}
	}
}

func TestIgnoredInputs(t *testing.T) {
	s := newScenario(t)
	s.step(Work{}, s.prop(0, -1, "a"), s.vote(Prevote, 1, 0, "a"))
	stranger := newTestVals(5).ids
	outsider := ""
	for _, x := range stranger {
		if !slices.Contains(s.tv.ids, x) {
			outsider = string(x)
		}
	}
	s.tv.keys[ident.Account(outsider)] = newTestValsKey(ident.Account(outsider))
	for _, tc := range []struct {
		name string
		in   Input
		want error
	}{
		{"non-validator", s.tv.signed(Message{Type: Prevote, Height: 1}, ident.Account(outsider)), ErrNotValidator},
		{"duplicate", s.vote(Prevote, 1, 0, "a"), ErrDuplicate},
		{"old height", s.tv.signed(Message{Type: Prevote, Height: 0}, s.tv.ids[1]), ErrOldHeight},
		{"far future height", s.tv.signed(Message{Type: Prevote, Height: 3}, s.tv.ids[1]), ErrFutureHeight},
		{"proposal not from the proposer", s.tv.signed(Message{Type: Proposal, Height: 1, Round: 0, ValidRound: -1, ValueID: id("z"), Value: []byte("z")}, s.tv.ids[2]), ErrNotProposer},
		{"stale timeout", Timeout{TimeoutPropose, 1, 5}, ErrStale},
		{"stale validation", Validated{Height: 1, ID: id("never asked"), Valid: true}, ErrStale},
		{"malformed", Message{Type: 9, Height: 1, From: s.tv.ids[1], Sig: make([]byte, 64)}, ErrMalformed},
		{"commit for an old height", Commit{Height: 0}, ErrOldHeight},
	} {
		err := s.e.Step(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if errors.Is(tc.want, ErrIgnored) != errors.Is(err, ErrIgnored) {
			t.Errorf("%s: ErrIgnored wrapping: got %v", tc.name, err)
		}
		if rd := drain(s.e); len(rd.Messages) > 0 {
			t.Errorf("%s: sent %v, want nothing", tc.name, summary(rd.Messages))
		}
	}
}

func TestEvidenceOfConflictingVotes(t *testing.T) {
	s := newScenario(t)
	s.step(Work{})
	first := s.vote(Prevote, 2, 0, "a")
	second := s.vote(Prevote, 2, 0, "b")
	rd := s.step(first, second, s.vote(Prevote, 2, 0, ""))
	if len(rd.Evidence) != 1 {
		t.Fatalf("got %d evidence, want 1 (reported once per validator, round and type)", len(rd.Evidence))
	}
	if ev := rd.Evidence[0]; ev.A.ValueID != first.ValueID || ev.B.ValueID != second.ValueID {
		t.Fatalf("got evidence %s/%s, want a/b", ev.A.ValueID, ev.B.ValueID)
	}
	p1, p2 := s.prop(0, -1, "x"), s.prop(0, -1, "y")
	if rd := s.step(p1, p2); len(rd.Evidence) != 1 || rd.Evidence[0].A.ValueID != id("x") || rd.Evidence[0].B.ValueID != id("y") {
		t.Fatalf("got proposal evidence %+v, want x/y", rd.Evidence)
	}
}

func TestWaitsForWorkThenMessageWakesIt(t *testing.T) {
	s := newScenario(t)
	s.step(Work{}, s.prop(0, -1, "a"), s.vote(Precommit, 1, 0, "a"), s.vote(Precommit, 2, 0, "a"), s.vote(Precommit, 3, 0, "a"))
	if s.e.Height() != 2 {
		t.Fatalf("setup: got height %d, want 2", s.e.Height())
	}
	if s.e.HasReady() {
		t.Fatalf("after a decision the engine has work before Work{}: %+v", s.e.Ready())
	}
	m := s.tv.signed(Message{Type: Prevote, Height: 2, Round: 0}, s.tv.ids[3])
	if err := s.e.Step(m); err != nil {
		t.Fatal(err)
	}
	if r, step := s.e.Round(); r != 0 || step != StepPropose {
		t.Fatalf("after a message of the new height: got round %d %s, want 0 propose", r, step)
	}
}

func TestBufferedNextHeightMessagesReplay(t *testing.T) {
	s := newScenario(t)
	s.step(Work{}, s.prop(0, -1, "a"))
	// A message of height 2 arrives before this node decides height 1.
	next := s.tv.signed(Message{Type: Prevote, Height: 2, Round: 0}, s.tv.ids[3])
	s.step(next, s.vote(Precommit, 1, 0, "a"), s.vote(Precommit, 2, 0, "a"), s.vote(Precommit, 3, 0, "a"))
	if h := s.e.Height(); h != 2 {
		t.Fatalf("got height %d, want 2", h)
	}
	if _, step := s.e.Round(); step != StepPropose {
		t.Fatalf("got step %s, want propose (woken by the buffered message)", step)
	}
	if err := s.e.Step(next); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("buffered message again: got %v, want ErrDuplicate (it was counted)", err)
	}
}

func TestCatchUpFromCommit(t *testing.T) {
	s := newScenario(t)
	s.step(Work{})
	v := "caught up"
	var cert []Message
	for i := 1; i < 4; i++ {
		cert = append(cert, s.vote(Precommit, i, 2, v))
	}
	if err := s.e.Step(Commit{Height: 1, Value: []byte(v), ID: id(v), Commit: cert[:2]}); !errors.Is(err, ErrBadCommit) {
		t.Fatalf("2 of 4 precommits: got %v, want ErrBadCommit", err)
	}
	rd := s.step(Commit{Height: 1, Value: []byte(v), ID: id(v), Commit: cert})
	if len(rd.Decided) != 1 || rd.Decided[0].ValueID != id(v) || rd.Decided[0].Round != 2 || s.e.Height() != 2 {
		t.Fatalf("got decided %+v at height %d, want %q at round 2 then height 2", rd.Decided, s.e.Height(), v)
	}
}

func TestRebroadcast(t *testing.T) {
	s := newScenario(t)
	s.step(Work{}, s.prop(0, -1, "a"), Timeout{TimeoutPrevote, 1, 0})
	s.e.Rebroadcast()
	want := []string{"prevote h1 r0 " + id("a").Short(), "precommit h1 r0 nil"}
	if diff := cmp.Diff(want, summary(drain(s.e).Messages)); diff != "" {
		t.Fatalf("rebroadcast (-want +got):\n%s", diff)
	}
	if err := s.e.Step(Timeout{Kind: TimeoutRebroadcast}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, summary(drain(s.e).Messages)); diff != "" {
		t.Fatalf("rebroadcast timeout (-want +got):\n%s", diff)
	}
}

func TestObserverNeverSignsButDecides(t *testing.T) {
	tv := newTestVals(4)
	cfg := tv.config(tv.ids[0])
	cfg.Self, cfg.Signer = "", nil
	e := mustNew(t, cfg, 1, nil)
	s := &scenario{t: t, tv: tv, e: e}
	rd := s.step(Work{}, s.prop(0, -1, "a"), Timeout{TimeoutPropose, 1, 0},
		s.vote(Precommit, 1, 0, "a"), s.vote(Precommit, 2, 0, "a"), s.vote(Precommit, 3, 0, "a"))
	if len(rd.Messages) != 0 {
		t.Fatalf("observer sent %v", sent(rd))
	}
	if len(rd.Decided) != 1 {
		t.Fatalf("observer got %d decisions, want 1", len(rd.Decided))
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tv := newTestVals(2)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no validators", Config{}},
		{"bad id", Config{Validators: []ident.Account{"xyz"}}},
		{"duplicate", Config{Validators: []ident.Account{tv.ids[0], tv.ids[0]}}},
		{"validator without signer", Config{Validators: tv.ids, Self: tv.ids[0]}},
	} {
		if _, err := New(tc.cfg, 1, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", tc.name, err)
		}
	}
}

// A Byzantine proposer's bad value under an honest value's id taints only its round.
func TestInvalidVerdictIsPerRound(t *testing.T) {
	s := newScenario(t)
	forged := s.tv.signed(Message{Type: Proposal, Height: 1, Round: 0, ValidRound: -1, ValueID: id("good"), Value: []byte("bad")}, s.e.Proposer(1, 0))
	rd := s.step(Work{}, forged)
	if got := sent(rd); len(got) != 1 || got[0] != "prevote r0 nil" {
		t.Fatalf("round 0: got %v, want prevote nil for the forged value", got)
	}
	rd = s.step(Timeout{TimeoutPrevote, 1, 0}, Timeout{TimeoutPrecommit, 1, 0}, s.prop(1, -1, "good"))
	if len(rd.Validate) != 1 || rd.Validate[0].Round != 1 {
		t.Fatalf("round 1: got validate requests %+v, want one for round 1", rd.Validate)
	}
	if got := sent(rd); got[len(got)-1] != "prevote r1 "+id("good").Short() {
		t.Fatalf("round 1: got %v, want a prevote for the honest value", got)
	}
}

// Messages far beyond the stored window still count for the round skip (line 55).
func TestRoundSkipBeyondWindow(t *testing.T) {
	s := newScenario(t)
	s.step(Work{})
	far := int32(maxRoundsAhead + 50)
	s.step(s.vote(Precommit, 1, far, ""), s.vote(Prevote, 2, far+7, ""))
	if r, _ := s.e.Round(); r != far {
		t.Fatalf("got round %d, want %d (the highest round f+1 validators reached)", r, far)
	}
}

// Messages of the next height are buffered, but only so many.
func TestNextHeightBufferIsBounded(t *testing.T) {
	s := newScenario(t)
	s.step(Work{})
	limit := 4 * len(s.tv.ids) * (maxRoundsAhead + 1)
	var err error
	n := 0
	for r := int32(0); err == nil && n <= limit; r++ {
		for from := 1; from < 4 && err == nil; from++ {
			err = s.e.Step(s.tv.signed(Message{Type: Prevote, Height: 2, Round: r}, s.tv.ids[from]))
			n++
		}
	}
	if !errors.Is(err, ErrFutureHeight) || len(s.e.next) != limit {
		t.Fatalf("after %d messages: got %v with %d buffered, want ErrFutureHeight at %d", n, err, len(s.e.next), limit)
	}
}
