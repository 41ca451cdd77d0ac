package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
)

// TestSimYearHeapFlat runs a short simulated stretch of a chain's life through
// the real execution path and requires the live heap (after GC) not to grow
// with the chain's age: from the end of its first third to the end of the
// run, the heap outside badger's buffers may grow by at most 10 % of the
// whole heap after the first third, besides the state hash's key list (a
// known limit: two records per settled slot, chain/DECISIONS.md). badger's
// own buffers (memtable arenas, pooled table builders: bounded by its
// options) come and go with its flushes by tens of MB, so the test leaves
// them out; for the same reason it logs the anonymous RSS but does not
// compare it. GRIDMESH_SIM_YEAR=1 runs the longer version
// (100 homes, 15-minute slots, 30 days; the short one has 10 homes and
// 1-hour slots), which takes minutes.
func TestSimYearHeapFlat(t *testing.T) {
	cfg := simYearConfig{Homes: 10, Days: 30, Slot: time.Hour, Seed: 1}
	if os.Getenv("GRIDMESH_SIM_YEAR") == "1" {
		cfg.Homes, cfg.Days, cfg.Slot = 100, 30, 15*time.Minute
	} else if testing.Short() || raceEnabled {
		t.Skip("minutes under -race or -short; GRIDMESH_SIM_YEAR=1 runs the long version")
	}
	early := cfg.Days / 3
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	runtime.MemProfileRate = 4 << 10 // ownHeap within a few KB
	res, err := runSimYear(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Trades == 0 || res.StatementLines == 0 {
		t.Fatalf("the run traded nothing: %d trades, %d statement lines", res.Trades, res.StatementLines)
	}
	a, b := res.Daily[early-1], res.Daily[len(res.Daily)-1]
	t.Logf("day %d: heap %d B (outside badger %d B, key list %d B), anonymous RSS %d B, history records %d; day %d: heap %d B (outside badger %d B, key list %d B), anonymous RSS %d B, history records %d",
		a.Day, a.HeapBytes, a.OwnHeapBytes, a.KeyListBytes, a.RSSAnonBytes, a.HistoryRecords,
		b.Day, b.HeapBytes, b.OwnHeapBytes, b.KeyListBytes, b.RSSAnonBytes, b.HistoryRecords)
	// At 10 homes a slot's records are small, so the heap alone would hide
	// history kept in memory for a month: count them too.
	if b.HistoryRecords > a.HistoryRecords+4 {
		t.Errorf("history records held grew from %d after day %d to %d after day %d", a.HistoryRecords, a.Day, b.HistoryRecords, b.Day)
	}
	grew := (int64(b.OwnHeapBytes) - int64(b.KeyListBytes)) - (int64(a.OwnHeapBytes) - int64(a.KeyListBytes))
	if float64(grew) > 0.10*float64(a.HeapBytes) {
		t.Errorf("live heap outside badger and the key list grew by %d B from day %d to day %d, more than 10 %% of the heap after day %d (%d B)",
			grew, a.Day, b.Day, a.Day, a.HeapBytes)
	}
}

func TestSimYearCommand(t *testing.T) {
	// 3 days keeping 1: the home's pruning (chain.PruneHome) runs.
	stdout, stderr, code := gridmesh(t, "sim", "year", "--homes", "5", "--days", "3", "--slot", "1h", "--keep-days", "1")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"time per slot", "heap", "block", "statement of one home", "reopen"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if _, _, code := gridmesh(t, "sim", "year", "--slot", "7s"); code != 2 {
		t.Errorf("--slot 7s: exit %d, want 2", code)
	}
}

// TestSimYearHome: with --keep-days the simulated store is a home's, pruned
// as a home's loop prunes (chain.PruneHome): it keeps about a day of block
// bodies, and of the index only the first home's old lines, whose statement
// stays whole.
func TestSimYearHome(t *testing.T) {
	var archive, home simYearResult
	for _, keep := range []int{0, 1} {
		res, err := runSimYear(t.Context(), simYearConfig{Homes: 5, Days: 4, Slot: time.Hour, Seed: 1, KeepDays: keep})
		if err != nil {
			t.Fatal(err)
		}
		if keep == 0 {
			archive = res
		} else {
			home = res
		}
	}
	day := home.Daily[0].Height
	if got := uint64(home.KeysByKind["blocks"]); got > day+day/20+1 || home.Height != archive.Height {
		t.Errorf("home: %d block bodies kept of %d (a day is %d blocks); archive height %d", got, home.Height, day, archive.Height)
	}
	if home.KeysByKind["index"] >= archive.KeysByKind["index"] || home.StatementLines != archive.StatementLines || home.StatementLines == 0 {
		t.Errorf("home: %d index lines (archive %d), own statement %d lines (archive %d)",
			home.KeysByKind["index"], archive.KeysByKind["index"], home.StatementLines, archive.StatementLines)
	}
}

// TestSimYearMemoryLimit: the run has the memory limit of the node whose
// store it keeps (an authority's, or with --keep-days a home's), unless
// GOMEMLIMIT is set (here it is empty: unset), and the process's limit is
// as before afterwards.
func TestSimYearMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	for _, tc := range []struct {
		keep string
		want int64
	}{{"0", config.DefaultMemoryLimitMiB(config.RoleAuthority) << 20}, {"1", config.DefaultMemoryLimitMiB(config.RoleHome) << 20}} {
		stdout, stderr, code := gridmesh(t, "sim", "year", "--homes", "3", "--days", "2", "--slot", "1h", "--keep-days", tc.keep, "--json")
		if code != 0 || stderr != "" {
			t.Fatalf("--keep-days %s: exit %d, stderr %q", tc.keep, code, stderr)
		}
		var res simYearResult
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("--keep-days %s: %v", tc.keep, err)
		}
		if res.MemoryLimitBytes != tc.want {
			t.Errorf("--keep-days %s: memory_limit_bytes = %d, want %d", tc.keep, res.MemoryLimitBytes, tc.want)
		}
		if got := debug.SetMemoryLimit(-1); got != before {
			t.Errorf("--keep-days %s: memory limit %d after the run, want %d as before", tc.keep, got, before)
		}
	}
}

// TestSimYearStops: a simulation whose context ends (SIGTERM, SIGINT) stops
// at the next slot and says where, instead of running to its last day.
func TestSimYearStops(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	cfg := simYearConfig{Homes: 2, Days: 5, Slot: time.Hour, Seed: 1}
	cfg.OnDay = func(d simDay) {
		if d.Day == 1 {
			cancel(errors.New("terminated"))
		}
	}
	res, err := runSimYear(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "stopped on day 2 of 5: terminated") {
		t.Errorf("runSimYear cancelled after day 1: error %v, want one saying it stopped on day 2 of 5: terminated", err)
	}
	if len(res.Daily) != 1 {
		t.Errorf("runSimYear cancelled after day 1: %d days sampled, want 1", len(res.Daily))
	}
}
