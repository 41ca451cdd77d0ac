package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestSimYearHeapFlat runs a short simulated stretch of a chain's life through
// the real execution path and requires the live heap (after GC) at the end
// of the run to be within 10 % of the heap after its first third: memory must
// not grow with the chain's age. GRIDMESH_SIM_YEAR=1 runs the longer version
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
	res, err := runSimYear(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Trades == 0 || res.StatementLines == 0 {
		t.Fatalf("the run traded nothing: %d trades, %d statement lines", res.Trades, res.StatementLines)
	}
	a, b := res.Daily[early-1], res.Daily[len(res.Daily)-1]
	t.Logf("day %d: heap %d B, history records %d; day %d: heap %d B, history records %d", a.Day, a.HeapBytes, a.HistoryRecords, b.Day, b.HeapBytes, b.HistoryRecords)
	// At 10 homes a slot's records are small, so the heap alone would hide
	// history kept in memory for a month: count them too.
	if b.HistoryRecords > a.HistoryRecords+4 {
		t.Errorf("history records held grew from %d after day %d to %d after day %d", a.HistoryRecords, a.Day, b.HistoryRecords, b.Day)
	}
	if float64(b.HeapBytes) > 1.10*float64(a.HeapBytes) {
		t.Errorf("live heap grew from %d B after day %d to %d B after day %d (more than 10 %%)", a.HeapBytes, a.Day, b.HeapBytes, b.Day)
	}
}

func TestSimYearCommand(t *testing.T) {
	stdout, stderr, code := gridmesh(t, "sim", "year", "--homes", "5", "--days", "1", "--slot", "1h", "--keep-days", "1")
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
