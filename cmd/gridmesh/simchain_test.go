package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func lastJSON(t *testing.T, stdout string) simChainResult {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	var r simChainResult
	dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("last line %q is not the result JSON: %v", lines[len(lines)-1], err)
	}
	return r
}

func TestSimChain(t *testing.T) {
	stdout, stderr, code := gridmesh(t, "sim", "chain", "--authorities", "4", "--byzantine", "1", "--steps", "3000", "--seed", "3", "--json")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if n := strings.Count(stdout, "\n"); n != 1 {
		t.Errorf("--json printed %d lines, want 1:\n%s", n, stdout)
	}
	r := lastJSON(t, stdout)
	if r.Seed != 3 || r.Steps != 3000 || r.Violations != 0 || r.Heights == 0 || r.StepsPerS <= 0 {
		t.Errorf("got %+v, want seed 3, 3000 steps, some heights, no violation", r)
	}
	// Without --json: a summary, still ending with the JSON line; same seed, same heights.
	stdout, _, code = gridmesh(t, "sim", "chain", "--authorities", "4", "--byzantine", "1", "--steps", "3000", "--seed", "3")
	if code != 0 || !strings.Contains(stdout, "no violation") {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	if r2 := lastJSON(t, stdout); r2.Heights != r.Heights {
		t.Errorf("same seed: heights %d then %d", r.Heights, r2.Heights)
	}
}

// With half the authorities Byzantine the simulator finds a violation, prints
// the seed and a trace, and exits non-zero.
func TestSimChainViolation(t *testing.T) {
	for _, seed := range []string{"2", "3", "4", "5", "6"} {
		stdout, stderr, code := gridmesh(t, "sim", "chain", "--byzantine", "2", "--steps", "20000", "--seed", seed)
		if code == 0 {
			continue
		}
		if code != 1 || !strings.Contains(oneLine(t, stderr), "seed "+seed) {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if !strings.Contains(stdout, "seed "+seed) || !strings.Contains(stdout, "trace") {
			t.Errorf("violation output lacks the seed or the trace:\n%s", stdout)
		}
		if r := lastJSON(t, stdout); r.Violations != 1 {
			t.Errorf("got %+v, want violations 1", r)
		}
		return
	}
	t.Fatal("no violation in 5 seeds with 2 of 4 Byzantine")
}

func TestSimChainUsage(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "chain", "--authorities", "0"},
		{"sim", "chain", "--byzantine", "5"},
		{"sim", "chain", "--steps", "0"},
		{"sim", "chain", "--segment", "-1"},
		{"sim", "chain", "--byzantine", "2", "--silent", "3"},
		{"sim", "chain", "extra"},
	} {
		if _, stderr, code := gridmesh(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
	}
	if stdout, _, code := gridmesh(t, "sim", "chain", "--help"); code != 0 || !strings.Contains(stdout, "--authorities") {
		t.Errorf("--help: exit %d\n%s", code, stdout)
	}
}

// A run in segments covers every step and is as deterministic as one network.
func TestSimChainSegments(t *testing.T) {
	args := []string{"sim", "chain", "--steps", "3000", "--segment", "1200", "--seed", "9"}
	stdout, _, code := gridmesh(t, args...)
	if code != 0 || !strings.Contains(stdout, "3000 steps in 3 networks") {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	stdout2, _, _ := gridmesh(t, args...)
	if a, b := lastJSON(t, stdout), lastJSON(t, stdout2); a.Heights != b.Heights || a.Steps != 3000 {
		t.Errorf("got %+v then %+v, want 3000 steps and equal heights", a, b)
	}
}
