package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/gridmesh/gridmesh/chain/sim"
)

// simChainResult is the one JSON line `gridmesh sim chain` ends with.
type simChainResult struct {
	Seed       uint64  `json:"seed"`
	Steps      int     `json:"steps"`
	Heights    uint64  `json:"heights"`
	Violations int     `json:"violations"`
	StepsPerS  float64 `json:"steps_per_s"`
}

func cmdSimChain(args []string, stdout io.Writer) error {
	c := newCommand("sim chain", "[--authorities N] [--byzantine F] [--silent Z] [--followers K] [--steps S] [--seed X] [--segment M] [--json]", `
Run the deterministic chain simulator: N authorities (F of them Byzantine twins,
Z silent) and K followers run the production consensus engine and chain state machine
over a simulated network with message loss, duplication, delay and reordering,
partitions and heals, crashes and restarts, clock skew and Byzantine actions,
while participants trade. Every step checks agreement, prefix consistency,
commit certificates, no double-sign by honest authorities, equal state hashes,
money conservation and single settlement; heal phases check liveness.

One seed drives everything: the same flags give the same run. The output ends
with one JSON line {"seed":X,"steps":S,"heights":H,"violations":0,"steps_per_s":R}.
A violation prints the seed and the trace of the violated height and exits 1.
With F >= N/3 violations are expected (the checker is shown to fail).

A long run is split into segments of M steps, each a fresh network from genesis
with a seed derived from X (the in-memory stores grow with every block); a
violation names its segment's seed, which reproduces it alone.`)
	authorities := c.fs.Int("authorities", 4, "number of authorities (at least 1; fewer than 4 is a dev network)")
	byzantine := c.fs.Int("byzantine", 0, "how many authorities are Byzantine (run as twins, with extra mischief)")
	silent := c.fs.Int("silent", 0, "how many further authorities never run (crash-faulty from the start)")
	followers := c.fs.Int("followers", 1, "non-voting follower nodes")
	steps := c.fs.Int("steps", 100_000, "simulated steps (events) to run")
	seed := c.fs.Uint64("seed", 1, "the seed of the run")
	segment := c.fs.Int("segment", 1_000_000, "steps per fresh network in a long run (0 = one network for the whole run)")
	asJSON := c.fs.Bool("json", false, "print only the final JSON line")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	switch {
	case *authorities < 1 || *authorities > 100:
		return usagef("sim chain: --authorities: expected 1 to 100, got %d", *authorities)
	case *byzantine < 0 || *byzantine > *authorities:
		return usagef("sim chain: --byzantine: expected 0 to %d, got %d", *authorities, *byzantine)
	case *silent < 0 || *byzantine+*silent > *authorities:
		return usagef("sim chain: --silent: expected 0 to %d, got %d", *authorities-*byzantine, *silent)
	case *followers < 0 || *followers > 100:
		return usagef("sim chain: --followers: expected 0 to 100, got %d", *followers)
	case *steps < 1:
		return usagef("sim chain: --steps: expected at least 1, got %d", *steps)
	case *segment < 0:
		return usagef("sim chain: --segment: expected 0 or more, got %d", *segment)
	}
	cfg := sim.DefaultConfig(*seed, *authorities, *byzantine)
	cfg.Followers, cfg.Silent = *followers, *silent
	start := time.Now()
	st, v, err := sim.RunLong(cfg, *steps, *segment, nil)
	if err != nil {
		return fmt.Errorf("sim chain: %w", err)
	}
	elapsed := time.Since(start)
	res := simChainResult{Seed: *seed, Steps: st.Steps, Heights: st.Heights, StepsPerS: float64(int64(float64(st.Steps)/elapsed.Seconds()*10)) / 10}
	if v != nil {
		res.Violations = 1
		fmt.Fprint(stdout, v.Report())
	} else if !*asJSON {
		fmt.Fprintf(stdout, "seed %d: %d authorities (%d Byzantine, %d silent), %d followers: %d steps in %d networks, %.1f s simulated, %d heights, %d txs, %d slots settled\n",
			*seed, *authorities, *byzantine, *silent, *followers, st.Steps, st.Segments, float64(st.SimMs)/1000, st.Heights, st.Txs, st.Settled)
		fmt.Fprintf(stdout, "faults: %d restarts, %d heal phases, %d block syncs, %d evidence, %d messages refused, %d Byzantine actions\n",
			st.Restarts, st.Heals, st.Syncs, st.Evidence, st.Rejected, st.ByzActs)
		fmt.Fprintf(stdout, "no violation; %s wall time\n", elapsed.Round(time.Millisecond))
	}
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", line)
	if v != nil {
		return fmt.Errorf("sim chain: seed %d: %s violation at height %d (step %d)", *seed, v.Kind, v.Height, v.Step)
	}
	return nil
}
