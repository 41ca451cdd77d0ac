package consensus

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gridmesh/gridmesh/ident"
)

// Messages hands out what the engine holds for a round: proposal first, then
// prevotes and precommits by validator order, own ones included.
func TestMessagesOfRound(t *testing.T) {
	s := newScenario(t)
	if got := s.e.Messages(0); len(got) != 0 {
		t.Fatalf("before any input: %d messages; want none", len(got))
	}
	s.step(s.prop(0, -1, "a"), s.vote(Precommit, 3, 0, "a"), s.vote(Prevote, 2, 0, "a"), s.vote(Prevote, 1, 0, ""))
	got := summary(s.e.Messages(0))
	// Validator 0 (this engine) prevoted "a" on the valid proposal.
	want := []string{
		"proposal h1 r0 " + id("a").Short(),
		"prevote h1 r0 " + id("a").Short(),
		"prevote h1 r0 " + ident.Hash{}.Short(),
		"prevote h1 r0 " + id("a").Short(),
		"precommit h1 r0 " + id("a").Short(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Messages(0) (-want +got):\n%s", diff)
	}
	froms := []ident.Account{}
	for _, m := range s.e.Messages(0)[1:] {
		froms = append(froms, m.From)
	}
	if wantFrom := []ident.Account{s.tv.ids[0], s.tv.ids[1], s.tv.ids[2], s.tv.ids[3]}; !cmp.Equal(froms, wantFrom) {
		t.Errorf("senders %v; want validator order %v", froms, wantFrom)
	}
	if got := s.e.Messages(1); len(got) != 0 {
		t.Errorf("round 1: %d messages; want none", len(got))
	}
}
