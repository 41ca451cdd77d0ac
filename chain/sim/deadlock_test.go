package sim

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
)

// TestRestartedPrecommitTimerDeadlock is the regression test of a liveness bug
// of chain/consensus that this simulator found (a liveness violation of a dev
// network of three authorities: DefaultConfig(101, 3, 0), 18,055 steps, where
// the quorum is all three), reduced to four engines driven by hand.
//
// Engine.resume (New with a State of the same height) used to re-arm the timer
// of the restored step. At StepPrecommit that is timeoutPrecommit, which
// Algorithm 1 schedules only once 2f+1 precommits of the round are in (line 47).
// The restarted node therefore entered round r+1 alone, and from then on
// Rebroadcast re-sent only its round r+1 prevote: its round r prevote, lost
// before the crash, was never sent again. The nodes still in round r waited for
// 2f+1 round-r prevotes (line 34) that never came, and the f+1 round skip (line
// 55) needs a second node ahead: with one silent Byzantine authority of four,
// the three honest ones never decided again, although every message among them
// was delivered after the restart. resume no longer arms prevote or precommit
// timers; the upon-rules arm them when their quorums are in.
func TestRestartedPrecommitTimerDeadlock(t *testing.T) {
	const chainID = "gridmesh-bug"
	var keys []ed25519.PrivateKey
	for i := range 4 {
		keys = append(keys, ed25519.NewKeyFromSeed([]byte(strings.Repeat(string(rune('a'+i)), 32))))
	}
	id := func(k ed25519.PrivateKey) ident.Account { return ident.AccountOf(k.Public().(ed25519.PublicKey)) }
	slices.SortFunc(keys, func(a, b ed25519.PrivateKey) int { return strings.Compare(string(id(a)), string(id(b))) })
	var ids []ident.Account
	for _, k := range keys {
		ids = append(ids, id(k))
	}
	// proposer(1, 0) = sorted[1]: let it be the silent Byzantine authority.
	silent := 1
	cfg := func(i int) consensus.Config {
		return consensus.Config{ChainID: chainID, Self: ids[i], Validators: ids,
			Signer: consensus.Ed25519Signer{Key: keys[i]}, Timeouts: consensus.DefaultTimeouts()}
	}
	type timer struct {
		at time.Duration
		to int
		in consensus.Timeout
	}
	var (
		now       time.Duration
		engines   = make([]*consensus.Engine, 4)
		persisted = make([]*consensus.State, 4)
		timers    []timer
		outbox    = make([][]consensus.Message, 4) // sent, not yet delivered
		decided   = make([]bool, 4)
	)
	for i := range 4 {
		if i == silent {
			continue
		}
		e, err := consensus.New(cfg(i), 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		engines[i] = e
	}
	var drain func(i int)
	drain = func(i int) {
		e := engines[i]
		for e.HasReady() {
			rd := e.Ready()
			if rd.State != nil {
				st := *rd.State
				persisted[i] = &st
			}
			outbox[i] = append(outbox[i], rd.Messages...)
			for _, tm := range rd.Timers {
				timers = append(timers, timer{now + tm.Duration, i, tm.Timeout})
			}
			if len(rd.Decided) > 0 {
				decided[i] = true
			}
			e.Advance()
			if b := rd.Build; b != nil {
				v := []byte("block of " + string(ids[i][:8]))
				_ = e.Step(consensus.Proposed{Height: b.Height, Round: b.Round, Value: v, ID: sha256.Sum256(v)})
			}
			for _, v := range rd.Validate {
				_ = e.Step(consensus.Validated{Height: v.Height, Round: v.Round, ID: v.ID, Valid: sha256.Sum256(v.Value) == v.ID})
			}
		}
	}
	deliver := func(from, to int, keep func(consensus.Message) bool) {
		for _, m := range outbox[from] {
			if keep == nil || keep(m) {
				_ = engines[to].Step(m)
			}
		}
		drain(to)
	}
	fire := func(i int, kind consensus.TimeoutKind) {
		for j, tm := range timers {
			if tm.to == i && tm.in.Kind == kind {
				timers = slices.Delete(timers, j, j+1)
				now = max(now, tm.at)
				_ = engines[i].Step(tm.in)
				drain(i)
				return
			}
		}
		t.Fatalf("node %d has no %s timer armed", i, kind)
	}
	a, b, c := 0, 2, 3
	for _, i := range []int{a, b, c} {
		_ = engines[i].Step(consensus.Work{})
		drain(i)
	}
	// Round 0: the proposer is silent; everyone prevotes nil.
	for _, i := range []int{a, b, c} {
		fire(i, consensus.TimeoutPropose)
	}
	// C gets A's and B's prevotes (2f+1 nil: it precommits nil); C's prevote is lost.
	deliver(a, c, nil)
	deliver(b, c, nil)
	deliver(a, b, nil)
	deliver(b, a, nil)
	if r, st := engines[c].Round(); r != 0 || st != consensus.StepPrecommit {
		t.Fatalf("setup: C is in round %d step %s, want round 0 precommit", r, st)
	}
	for _, i := range []int{a, b, c} {
		outbox[i] = nil
	}
	// C crashes and restarts from its persisted State (round 0, precommit).
	e, err := consensus.New(cfg(c), 1, persisted[c])
	if err != nil {
		t.Fatal(err)
	}
	engines[c] = e
	timers = slices.DeleteFunc(timers, func(tm timer) bool { return tm.to == c })
	drain(c)
	// What the restarted C re-sends is lost too (the network is still bad). It
	// must not re-arm timeoutPrecommit without 2f+1 precommits of the round
	// (line 47): that timer sent C alone into round 1 before the fix.
	outbox[c] = nil
	for _, tm := range timers {
		if tm.to == c && tm.in.Kind == consensus.TimeoutPrecommit {
			t.Fatalf("restored C re-armed %v without 2f+1 precommits (Algorithm 1, line 47)", tm.in)
		}
	}
	// From here on the network is perfect: every message among A, B and C is
	// delivered, every timer fires, and every node re-broadcasts every 2 s.
	for step := 0; step < 200 && !(decided[a] || decided[b] || decided[c]); step++ {
		for _, from := range []int{a, b, c} {
			for _, to := range []int{a, b, c} {
				if from != to {
					deliver(from, to, nil)
				}
			}
		}
		for _, i := range []int{a, b, c} {
			outbox[i] = nil
		}
		due := timers
		timers = nil
		for _, tm := range due {
			now = max(now, tm.at)
			_ = engines[tm.to].Step(tm.in)
			drain(tm.to)
		}
		now += 2 * time.Second
		for _, i := range []int{a, b, c} {
			engines[i].Rebroadcast()
			drain(i)
		}
	}
	if !(decided[a] || decided[b] || decided[c]) {
		var state []string
		for _, i := range []int{a, b, c} {
			r, st := engines[i].Round()
			state = append(state, string(ids[i][:6])+": round "+fmt.Sprint(r)+" "+st.String())
		}
		t.Fatalf("no decision %v after the restart with three honest authorities of four fully connected; %s", now, strings.Join(state, ", "))
	}
}

// The seeds with which the simulator found that bug: one silent authority of
// four (the three honest ones up and connected after a heal), and a dev network
// of three. Before the fix each ended in a liveness violation.
func TestRestartDeadlockSeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("64,000 simulated steps; runs without -short")
	}
	silent := DefaultConfig(4, 4, 0)
	silent.Silent = 1
	for _, c := range []struct {
		cfg   Config
		steps int
	}{{silent, 46_000}, {DefaultConfig(101, 3, 0), 18_100}} {
		_, v, err := Run(c.cfg, c.steps)
		if err != nil {
			t.Fatal(err)
		}
		if v != nil {
			t.Errorf("%d authorities, %d silent:\n%s", c.cfg.Authorities, c.cfg.Silent, v.Report())
		}
	}
}
