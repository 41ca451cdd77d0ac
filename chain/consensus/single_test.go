package consensus

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSingleValidatorDecidesAlone(t *testing.T) {
	tv := newTestVals(1)
	self := tv.ids[0]
	e := mustNew(t, tv.config(self), 1, nil)
	if e.HasReady() {
		t.Fatalf("fresh engine has work before Work{}: %+v", e.Ready())
	}
	for h := uint64(1); h <= 3; h++ {
		if err := e.Step(Work{}); err != nil {
			t.Fatalf("Work: %v", err)
		}
		rd := drain(e)
		if rd.Build == nil || rd.Build.Height != h || rd.Build.Round != 0 {
			t.Fatalf("height %d: got build %+v, want {%d 0}", h, rd.Build, h)
		}
		v := []byte{byte(h)}
		if err := e.Step(Proposed{Height: h, Round: 0, Value: v, ID: valueID(v)}); err != nil {
			t.Fatalf("Proposed: %v", err)
		}
		rd = drain(e)
		id := valueID(v)
		want := []string{
			"proposal h" + itoa(h) + " r0 " + id.Short(),
			"prevote h" + itoa(h) + " r0 " + id.Short(),
			"precommit h" + itoa(h) + " r0 " + id.Short(),
		}
		if diff := cmp.Diff(want, summary(rd.Messages)); diff != "" {
			t.Fatalf("height %d messages (-want +got):\n%s", h, diff)
		}
		if len(rd.Decided) != 1 || rd.Decided[0].ValueID != id || string(rd.Decided[0].Value) != string(v) {
			t.Fatalf("height %d: got decided %+v, want value %x", h, rd.Decided, v)
		}
		if err := VerifyCommit(testChain, tv.pubs, h, id, rd.Decided[0].Commit); err != nil {
			t.Fatalf("height %d: certificate: %v", h, err)
		}
		if rd.State == nil || rd.State.Height != h+1 || rd.State.Step != StepNewHeight {
			t.Fatalf("height %d: got state %+v, want height %d waiting", h, rd.State, h+1)
		}
		if e.HasReady() {
			t.Fatalf("height %d: engine not idle after the decision", h)
		}
	}
}

func itoa(h uint64) string {
	return string(rune('0' + h))
}
