package sim

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
)

var simSteps = flag.Int("sim.steps", 0, "total simulated steps of TestSeeds (0 = 10^6; 10^5 with -short; 30,000 under -race, 10,000 with both)")

// budget is the total number of simulated steps TestSeeds runs.
func budget() int {
	switch {
	case *simSteps > 0:
		return *simSteps
	case testing.Short() && raceEnabled:
		return 10_000
	case testing.Short():
		return 100_000
	case raceEnabled:
		// The race detector slows the simulator about tenfold: the full 10^6
		// steps run without it (go test ./chain/sim).
		return 30_000
	}
	return 1_000_000
}

// TestSeeds runs many seeds over the shapes the chain must survive: no, one and
// two Byzantine authorities within f, a dev network of one, and followers. Any
// violation fails with the seed and trace.
func TestSeeds(t *testing.T) {
	shapes := []struct{ n, byz, followers, fast int }{
		{4, 0, 1, 0}, {4, 1, 1, 0}, {7, 2, 1, 0}, {5, 1, 2, 0}, {1, 0, 1, 0}, {4, 0, 1, 1}, {7, 1, 1, 1},
	}
	total := budget()
	perRun := min(20_000, max(total/len(shapes), 1))
	runs := max(total/perRun, len(shapes))
	start := time.Now()
	steps, heights, settled := 0, uint64(0), 0
	crashes := map[string]int{}
	evidence, rejected, syncs, invalid, pruned, transfers := 0, 0, 0, 0, 0, 0
	for i := range runs {
		sh := shapes[i%len(shapes)]
		cfg := DefaultConfig(uint64(1000+i), sh.n, sh.byz)
		cfg.Followers, cfg.FastClocks = sh.followers, sh.fast
		st, v, err := Run(cfg, min(perRun, total))
		if err != nil {
			t.Fatal(err)
		}
		if v != nil {
			t.Fatalf("n=%d byzantine=%d fast clocks=%d:\n%s", sh.n, sh.byz, sh.fast, v.Report())
		}
		// Liveness is judged only on runs long enough for it: a run of a
		// thousand steps (-short -race) may spend them all in timeouts of a
		// Byzantine proposer's rounds.
		if st.Heights == 0 && st.Steps >= 4000 {
			t.Fatalf("seed %d n=%d byzantine=%d: no height decided in %d steps", cfg.Seed, sh.n, sh.byz, st.Steps)
		}
		steps += st.Steps
		heights += st.Heights
		settled += st.Settled
		evidence += st.Evidence
		rejected += st.Rejected
		syncs += st.Syncs
		invalid += st.Invalid
		pruned += st.Pruned
		transfers += st.Transfers
		for k, c := range st.Crashes {
			crashes[k] += c
		}
	}
	el := time.Since(start)
	t.Logf("%d runs, %d steps, %d heights, %d slots settled (%d transfers), %d syncs, %d evidence, %d refused messages, %d invalid proposals, %d blocks pruned, crashes %v in %v (%.0f steps/s)",
		runs, steps, heights, settled, transfers, syncs, evidence, rejected, invalid, pruned, crashes, el.Round(time.Millisecond), float64(steps)/el.Seconds())
	// The run must have exercised what it claims to.
	if settled == 0 || transfers == 0 {
		t.Errorf("got %d settled slots moving %d balances, want settlement of trades exercised", settled, transfers)
	}
	if evidence == 0 || rejected == 0 {
		t.Errorf("got %d evidence and %d refused messages, want Byzantine behaviour exercised", evidence, rejected)
	}
	if steps >= 100_000 && (invalid == 0 || pruned == 0) {
		t.Errorf("got %d invalid proposals and %d pruned blocks, want invalid blocks and follower pruning exercised", invalid, pruned)
	}
	for _, k := range []string{crashBeforeFsync, crashBeforeSend, crashBeforeCommit, crashAfterCommit, crashBetween} {
		if crashes[k] == 0 && steps >= 100_000 {
			t.Errorf("crash point %q never exercised", k)
		}
	}
}

// The checker can fail: with 2 of 4 authorities Byzantine (twins), agreement
// breaks for some seed within a modest number of steps, and the report names the
// seed and carries a trace of the height.
func TestTwoOfFourByzantineBreakAgreement(t *testing.T) {
	found := 0
	for seed := uint64(2); seed <= 6; seed++ {
		_, v, err := Run(DefaultConfig(seed, 4, 2), 20_000)
		if err != nil {
			t.Fatal(err)
		}
		if v == nil {
			continue
		}
		found++
		rep := v.Report()
		if v.Seed != seed || !strings.Contains(rep, fmt.Sprintf("seed %d", seed)) || len(v.Trace) == 0 {
			t.Errorf("seed %d: report lacks the seed or a trace:\n%s", seed, rep)
		}
		t.Logf("first violation:\n%s", rep)
		break
	}
	if found == 0 {
		t.Fatal("got no violation in 5 seeds with 2 of 4 Byzantine, want the checker to find one")
	}
}

// Liveness is checked: a heal phase in which every message is lost must be
// reported.
func TestLivenessViolationIsReported(t *testing.T) {
	cfg := DefaultConfig(7, 4, 0)
	cfg.HealLoss = 1
	_, v, err := Run(cfg, 200_000)
	if err != nil {
		t.Fatal(err)
	}
	if v == nil || v.Kind != "liveness" {
		t.Fatalf("got %v, want a liveness violation", v)
	}
}

// One seed, one run: the same messages in the same order.
func TestDeterministic(t *testing.T) {
	steps := 15_000
	if raceEnabled || testing.Short() {
		steps = 4_000
	}
	run := func() Stats {
		st, v, err := Run(DefaultConfig(42, 4, 1), steps)
		if err != nil || v != nil {
			t.Fatalf("err %v violation %v", err, v)
		}
		return st
	}
	a, b := run(), run()
	if a.Digest != b.Digest || a.Heights != b.Heights || a.Steps != b.Steps || a.SimMs != b.SimMs {
		t.Fatalf("same seed, different runs:\n%+v\n%+v", a, b)
	}
	c, _, _ := Run(DefaultConfig(43, 4, 1), steps)
	if c.Digest == a.Digest {
		t.Errorf("seeds 42 and 43 gave the same digest %x, want different runs", a.Digest)
	}
}

// The double-sign check across crashes can fail: nodes that restart without
// their persisted State sign conflicting messages, and the checker says so.
func TestForgottenStateDoubleSigns(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		cfg := DefaultConfig(seed, 4, 0)
		cfg.ForgetState = true
		cfg.Crash, cfg.CrashEvent = 0.05, 0.01
		_, v, err := Run(cfg, 30_000)
		if err != nil {
			t.Fatal(err)
		}
		if v != nil && v.Kind == "double-sign" {
			t.Logf("seed %d:\n%s", seed, v.Report())
			return
		}
		if v != nil {
			t.Logf("seed %d: %v", seed, v)
		}
	}
	t.Fatal("got no double-sign violation in 5 seeds from nodes that forget their State, want one")
}

func TestCheckerFlagsDoubleSign(t *testing.T) {
	s, err := New(DefaultConfig(1, 4, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	nd := s.nodes[0]
	m := consensus.Message{Type: consensus.Prevote, Height: 3, Round: 1, ValidRound: -1, From: nd.id}
	s.chk.signed(nd, m)
	s.chk.signed(nd, m) // the same message again (re-broadcast) is fine
	if s.viol != nil {
		t.Fatalf("re-sending one message flagged: %v", s.viol)
	}
	m.ValueID[0] = 1
	s.chk.signed(nd, m)
	if s.viol == nil || s.viol.Kind != "double-sign" {
		t.Fatalf("got %v, want a double-sign violation", s.viol)
	}
}

func TestCertRoundTrip(t *testing.T) {
	votes := []consensus.Message{
		{Type: consensus.Precommit, Height: 2, Round: 0, ValueID: ident.Hash{1}, ValidRound: -1, From: ident.Account(strings.Repeat("ab", 32)), Sig: make([]byte, 64)},
		{Type: consensus.Precommit, Height: 2, Round: 0, ValueID: ident.Hash{1}, ValidRound: -1, From: ident.Account(strings.Repeat("cd", 32)), Sig: make([]byte, 64)},
	}
	got, err := decodeCert(encodeCert(votes))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].From != votes[1].From {
		t.Fatalf("got %+v, want %+v", got, votes)
	}
	b := encodeCert(votes)
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(b, 0)} {
		if _, err := decodeCert(bad); err == nil {
			t.Errorf("decodeCert(%x...) accepted malformed input", bad[:min(len(bad), 8)])
		}
	}
}

func FuzzDecodeCert(f *testing.F) {
	f.Add([]byte{0})
	f.Add(encodeCert([]consensus.Message{{Type: consensus.Precommit, Height: 1, ValidRound: -1, From: ident.Account(strings.Repeat("ab", 32)), Sig: make([]byte, 64)}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		votes, err := decodeCert(b)
		if err != nil {
			return
		}
		if got := encodeCert(votes); string(got) != string(b) {
			t.Fatalf("re-encoding differs: %x vs %x", got, b)
		}
	})
}
