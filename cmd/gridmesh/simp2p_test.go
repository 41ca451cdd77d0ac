package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// simP2PLine decodes the JSON line `sim p2p` ends with, checking that the
// keys the issue names are present.
func simP2PLine(t *testing.T, stdout string) map[string]float64 {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	last := lines[len(lines)-1]
	var m map[string]float64
	if err := json.Unmarshal([]byte(last), &m); err != nil {
		t.Fatalf("last line %q is not the result JSON: %v", last, err)
	}
	for _, k := range []string{"nodes", "orders", "p50_ms", "p95_ms", "p99_ms", "delivery_ratio", "bytes_per_node", "peak_rss_mb", "peak_goroutines"} {
		if _, ok := m[k]; !ok {
			t.Errorf("result JSON lacks %q: %s", k, last)
		}
	}
	if !strings.HasPrefix(last, `{"nodes":`) {
		t.Errorf("result JSON does not start with nodes: %s", last)
	}
	return m
}

func TestSimP2P(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts real libp2p hosts")
	}
	stdout, stderr, code := gridmesh(t, "sim", "p2p", "--nodes", "5", "--orders", "20", "--rate", "100", "--settle", "30s", "--json")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q, stdout %q", code, stderr, stdout)
	}
	if n := strings.Count(stdout, "\n"); n != 1 {
		t.Errorf("--json printed %d lines, want 1:\n%s", n, stdout)
	}
	m := simP2PLine(t, stdout)
	if m["nodes"] != 5 || m["orders"] != 20 || m["delivery_ratio"] != 1 {
		t.Errorf("got nodes %v, orders %v, delivery %v; want 5, 20, 1", m["nodes"], m["orders"], m["delivery_ratio"])
	}
	if !(m["p50_ms"] > 0 && m["p50_ms"] <= m["p95_ms"] && m["p95_ms"] <= m["p99_ms"]) {
		t.Errorf("latencies p50 %v, p95 %v, p99 %v: want 0 < p50 <= p95 <= p99", m["p50_ms"], m["p95_ms"], m["p99_ms"])
	}
	// 20 payloads of 200 bytes reach every host: each host receives at least 4 KB.
	if m["bytes_per_node"] < 20*200 {
		t.Errorf("bytes_per_node = %v, want at least %d", m["bytes_per_node"], 20*200)
	}
	if m["peak_rss_mb"] <= 0 || m["peak_goroutines"] < 5 {
		t.Errorf("peak_rss_mb %v, peak_goroutines %v: want > 0 and >= 5", m["peak_rss_mb"], m["peak_goroutines"])
	}
}

// Without --json the summary is readable and still ends with the JSON line;
// loss and latency reach the simulator.
func TestSimP2PSummaryWithLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts real libp2p hosts")
	}
	stdout, stderr, code := gridmesh(t, "sim", "p2p", "--nodes", "4", "--orders", "10", "--rate", "100", "--loss", "0.2", "--latency", "5ms", "--reannounce", "2", "--settle", "30s")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q, stdout %q", code, stderr, stdout)
	}
	for _, want := range []string{"latency to each other host: p50", "delivery: 1.0000", "2 re-announcement rounds", "traffic per host", "peak RSS"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	m := simP2PLine(t, stdout)
	if m["loss"] != 0.2 || m["latency_ms"] != 5 || m["reannounce"] != 2 {
		t.Errorf("got loss %v, latency_ms %v, reannounce %v; want 0.2, 5, 2", m["loss"], m["latency_ms"], m["reannounce"])
	}
	// With 5 ms added per hop, nothing arrives sooner than 5 ms.
	if m["p50_ms"] < 5 {
		t.Errorf("p50 %v ms with 5 ms latency, want >= 5", m["p50_ms"])
	}
}

func TestSimP2PUsage(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "p2p", "--nodes", "1"},
		{"sim", "p2p", "--orders", "0"},
		{"sim", "p2p", "--rate", "0"},
		{"sim", "p2p", "--loss", "1"},
		{"sim", "p2p", "--loss", "-0.1"},
		{"sim", "p2p", "--latency", "-1ms"},
		{"sim", "p2p", "--mesh-degree", "2"},
		{"sim", "p2p", "--payload", "1"},
		{"sim", "p2p", "--settle", "0s"},
		{"sim", "p2p", "--loss", "0.1", "--reannounce", "0"},
		{"sim", "p2p", "extra"},
	} {
		stdout, stderr, code := gridmesh(t, args...)
		if code != 2 || stdout != "" {
			t.Errorf("gridmesh %s: exit %d, stdout %q; want exit 2, no stdout", strings.Join(args, " "), code, stdout)
		}
		if got := oneLine(t, stderr); !strings.Contains(got, "sim p2p: ") {
			t.Errorf("gridmesh %s: stderr %q does not name the command", strings.Join(args, " "), got)
		}
	}
	if stdout, _, code := gridmesh(t, "sim", "p2p", "--help"); code != 0 || !strings.Contains(stdout, "--nodes") || !strings.Contains(stdout, "Usage: gridmesh sim p2p") {
		t.Errorf("sim p2p --help: exit %d:\n%s", code, stdout)
	}
}
