package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/internal/cluster"
	"github.com/gridmesh/gridmesh/internal/crashtest"
	"github.com/gridmesh/gridmesh/market"
)

// TestBinaryLinksNoHarness checks that the shipped binary links no test
// harness: `gridmesh bench chain` runs its processes with internal/cluster,
// and internal/crashtest (the SIGKILL test, Build), market/markettest (the
// brute-force welfare reference) and node/nodetest (the whole-network
// tests' helpers) stay with the tests.
func TestBinaryLinksNoHarness(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	// ("testing" itself comes in with go-libp2p-kad-dht, not from gridmesh.)
	for _, banned := range []string{"github.com/gridmesh/gridmesh/internal/crashtest", "github.com/gridmesh/gridmesh/market/markettest", "github.com/gridmesh/gridmesh/internal/upgradetest", "github.com/gridmesh/gridmesh/node/nodetest"} {
		for _, dep := range strings.Fields(string(out)) {
			if dep == banned {
				t.Errorf("cmd/gridmesh links %s; the shipped binary must not link a test harness", banned)
			}
		}
	}
}

func TestBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error; "" = success
	}{
		{[]string{"bench"}, "expected a command"},
		{[]string{"bench", "nope"}, `unknown command "nope"`},
		{[]string{"bench", "chain", "--authorities", "3"}, "--authorities: expected at least 4"},
		{[]string{"bench", "chain", "--rate", "0"}, "--rate: expected"},
		{[]string{"bench", "chain", "--for", "0s"}, "--for: expected"},
		{[]string{"bench", "chain", "--accounts", "0"}, "--accounts: expected"},
		{[]string{"bench", "chain", "--poll", "10ms"}, "--poll: expected 20ms to 50ms"},
		{[]string{"bench", "chain", "--homes", "-1"}, "--homes: expected 0 to 64"},
		{[]string{"bench", "chain", "--homes", "65"}, "--homes: expected 0 to 64"},
		{[]string{"bench", "chain", "extra"}, `unexpected argument "extra"`},
		{[]string{"bench", "chain", "--help"}, ""},
		{[]string{"bench", "--help"}, ""},
	} {
		var out bytes.Buffer
		err := run(context.Background(), tc.args, &out, &out)
		if tc.want == "" {
			if err != nil || out.Len() == 0 {
				t.Errorf("%v: got error %v and %d bytes of help, want help and no error", tc.args, err, out.Len())
			}
			continue
		}
		var u usageError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &u) {
			t.Errorf("%v: got error %v, want a usage error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	vals := make([]float64, 100)
	for i := range vals {
		vals[i] = float64(i + 1)
	}
	for _, tc := range []struct {
		vals []float64
		p    float64
		want float64
	}{
		{nil, 50, 0},
		{[]float64{7}, 99, 7},
		{vals, 50, 50},
		{vals, 95, 95},
		{vals, 99, 99},
		{vals, 100, 100},
		{[]float64{1, 2, 3}, 50, 2},
		{[]float64{1, 2, 3, 4}, 50, 2},
	} {
		if got := percentile(tc.vals, tc.p); got != tc.want {
			t.Errorf("percentile(%d values, %g) = %g, want %g", len(tc.vals), tc.p, got, tc.want)
		}
	}
}

func TestMeanMax(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(in, out int64, s float64) traffic {
		return traffic{in: in, out: out, at: t0.Add(time.Duration(s * float64(time.Second))), ok: true}
	}
	before := []traffic{at(0, 0, 0), at(1000, 1000, 0), {}, at(5000, 5000, 0)}
	after := []traffic{
		at(1000, 1500, 2), // 2,500 B in 2 s: 10 kbit/s, 4 in
		at(6000, 1000, 1), // 5,000 B in 1 s: 40 kbit/s, 40 in
		at(9999, 9999, 1), // no first reading: left out
		at(100, 100, 1),   // counters went back (a restart): left out
	}
	for _, tc := range []struct {
		inOnly    bool
		mean, max float64
	}{
		{false, 25, 40},
		{true, 22, 40},
	} {
		mean, largest := meanMax(before, after, tc.inOnly)
		if mean != tc.mean || largest != tc.max {
			t.Errorf("meanMax(inOnly %v) = %g, %g; want %g, %g", tc.inOnly, mean, largest, tc.mean, tc.max)
		}
	}
	if mean, largest := meanMax(nil, nil, false); mean != 0 || largest != 0 {
		t.Errorf("meanMax of nothing = %g, %g; want 0, 0", mean, largest)
	}
}

// TestBenchChain runs a short bench with one authority stopped and two homes
// following: every accepted order must commit, the three running authorities
// must agree, and the homes must keep up while carrying less traffic than an
// authority.
func TestBenchChain(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: builds gridmesh and runs 4 authority processes")
	}
	bin, err := crashtest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	o := defaultBenchOptions()
	o.Rate, o.For, o.StopOne, o.Accounts, o.Drain, o.JSON = 40, 6*time.Second, true, 8, 10*time.Second, true
	o.Homes = 2
	o.binary = bin
	var out bytes.Buffer
	res, err := benchChain(context.Background(), o, &out)
	if err != nil {
		t.Fatalf("benchChain: %v\n%s", err, out.Bytes())
	}
	res.print(&out, true)
	t.Logf("%s", out.Bytes())
	if res.Offered != 240 || res.Accepted+res.Rejected+res.Failed != res.Offered {
		t.Errorf("offered %d, accepted %d, rejected %d, failed %d: want 240 offered, each accounted for once",
			res.Offered, res.Accepted, res.Rejected, res.Failed)
	}
	// A POST to the authority killed mid-run may fail after its batch was
	// gossiped: such a tx is committed without having been acknowledged.
	if res.Rejected != 0 || res.Accepted == 0 || res.notCommitted != 0 || res.Committed > res.Accepted+res.Failed {
		t.Errorf("accepted %d (%d of them not committed), rejected %d, failed %d, committed %d: want every accepted order committed, no rejections (reasons %v)",
			res.Accepted, res.notCommitted, res.Rejected, res.Failed, res.Committed, res.Reasons)
	}
	if res.Stopped != "authority-4" || !res.StateAgree || res.CommonHeight == 0 || res.Evidence != 0 {
		t.Errorf("stopped %q, agree %v at %d, evidence %d: want authority-4 stopped and the others agreeing, no evidence",
			res.Stopped, res.StateAgree, res.CommonHeight, res.Evidence)
	}
	if res.DoubleSigns != 0 || res.Observed == 0 {
		t.Errorf("double-signs %d among %d observed consensus messages: want none among some", res.DoubleSigns, res.Observed)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 || res.Blocks == 0 {
		t.Errorf("p50 %g, p99 %g, max %g ms, %d blocks: want 0 < p50 <= p99 <= max and some blocks", res.P50, res.P99, res.Max, res.Blocks)
	}
	for i, kib := range res.PeakRSSKiB {
		if kib <= 0 {
			t.Errorf("authority-%d peak RSS %d KiB, want > 0", i+1, kib)
		}
	}
	if res.Homes != 2 || res.HomeKbit <= 0 || res.HomeInKbit <= 0 || res.HomePeakRSSKiB <= 0 {
		t.Errorf("homes %d: %.1f kbit/s (%.1f in), peak RSS %d KiB; want 2 homes with some traffic and memory",
			res.Homes, res.HomeKbit, res.HomeInKbit, res.HomePeakRSSKiB)
	}
	// A home commits blocks (synced badger writes): the bench sees it
	// write something (the figure per day is measured, README).
	if res.HomeWritesPerDay <= 0 {
		t.Errorf("home storage writes %d bytes a day, want some", res.HomeWritesPerDay)
	}
	// A home asks for new blocks every second, and at this load (and 100 tx/s
	// on a quiet machine) the chain makes 3 to 9 blocks a second: up to 10
	// behind is a home that keeps up; one that does not follow trails by
	// the whole run (about 30 blocks).
	if res.HomeLagMax > 10 {
		t.Errorf("furthest-behind home trails authority-1 by %d blocks after the drain, want at most 10", res.HomeLagMax)
	}
	if res.AuthorityKbit <= res.HomeKbitMax {
		t.Errorf("authorities %.1f kbit/s mean (%.1f max), homes %.1f max: want every home below the authorities' mean",
			res.AuthorityKbit, res.AuthorityKbitMax, res.HomeKbitMax)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var back benchResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &back); err != nil || back.Committed != res.Committed {
		t.Errorf("last line %q: got %+v, %v; want the results as JSON", lines[len(lines)-1], back, err)
	}
}

// BenchmarkChainBlock runs, in this process, what every authority does per
// block under `gridmesh bench chain` load: the proposer's Propose and Commit of
// 500 signed orders, and a validator's Validate and Commit of the same block on
// its own replica (badger on disk, as in `gridmesh run`), with 0, 10,000 and
// 30,000 open orders already in the state (1,000 tx/s for 30 s leaves 30,000).
// It reports ms per block for each role and the tx/s one validator could keep
// up with; ns/op also counts signing the 500 orders and is not a chain figure.
//
//	go test ./cmd/gridmesh -run '^$' -bench ChainBlock -benchtime 20x
func BenchmarkChainBlock(b *testing.B) {
	for _, open := range []int{0, 10_000, 30_000} {
		b.Run(fmt.Sprintf("open=%d", open), func(b *testing.B) {
			cl, err := cluster.Write(b.TempDir(), cluster.Options{Binary: "unused", Authorities: 4, Accounts: 256}, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			g := cl.Genesis
			gen := chain.Genesis{ChainID: g.ChainID, Epoch: g.Epoch, SlotSeconds: g.SlotSeconds,
				OpenLeadSeconds: g.OpenLeadSeconds, GateLeadSeconds: g.GateLeadSeconds,
				AttestWindowSeconds: g.AttestWindowSeconds, Operator: ident.Account(g.Operator),
				Tariff: market.Tariff{Floor: g.Tariff.Floor, Ceiling: g.Tariff.Ceiling, Fee: g.Tariff.Fee},
				Params: market.Params{KPPM: g.KPPM}}
			for _, a := range g.Authorities {
				gen.Authorities = append(gen.Authorities, ident.Account(a.Key))
			}
			for _, p := range g.Participants {
				gen.Participants = append(gen.Participants, ident.Account(p.Key))
			}
			proposer, err := chain.Open(filepath.Join(b.TempDir(), "p"), gen)
			if err != nil {
				b.Fatal(err)
			}
			defer proposer.Close()
			validator, err := chain.Open(filepath.Join(b.TempDir(), "v"), gen)
			if err != nil {
				b.Fatal(err)
			}
			defer validator.Close()
			orders := cl.NewOrders(1)
			batch := func(n int) []chain.Tx {
				txs := make([]chain.Tx, n)
				for i := range txs {
					txs[i] = orders.Next()
				}
				return txs
			}
			var propose, validate time.Duration
			block := func(n int) {
				txs := batch(n)
				now := time.Now().UnixMilli()
				t0 := time.Now()
				blk, errs := proposer.Propose(now, gen.Authorities[0], txs)
				if _, err := proposer.Commit(blk, nil); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := validator.Validate(blk, now); err != nil {
					b.Fatal(err)
				}
				if _, err := validator.Commit(blk, nil); err != nil {
					b.Fatal(err)
				}
				propose += t1.Sub(t0)
				validate += time.Since(t1)
				for i, err := range errs {
					if err != nil {
						b.Fatalf("order %d left out: %v", i, err)
					}
				}
			}
			for range open / 2000 {
				block(2000)
			}
			propose, validate = 0, 0
			b.ResetTimer()
			for range b.N {
				block(500)
			}
			b.StopTimer()
			perBlock := validate / time.Duration(b.N)
			b.ReportMetric(float64(propose)/float64(b.N)/1e6, "propose+commit-ms/block")
			b.ReportMetric(float64(perBlock)/1e6, "validate+commit-ms/block")
			b.ReportMetric(500/perBlock.Seconds(), "validator-tx/s")
		})
	}
}
