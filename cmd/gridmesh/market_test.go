package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func orderFile(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "orders.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	sell1 = `{"id":"s1","owner":"h1","side":"sell","slot":7,"wh":500,"price":100000}`
	buy1  = `{"id":"b1","owner":"h2","side":"buy","slot":7,"wh":300,"price":200000}`
)

func TestMarketClear(t *testing.T) {
	in := orderFile(t, sell1, buy1)
	stdout, stderr, code := gridmesh(t, "market", "clear", "--in", in, "--json", "--k", "0.25")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	type slotJSON struct {
		Slot     int64 `json:"slot"`
		Price    int64 `json:"price"`
		VolumeWh int64 `json:"volume_wh"`
		Trades   []struct {
			Buy, Sell string
			Wh        int64 `json:"wh"`
		} `json:"trades"`
	}
	var got struct{ Slots []slotJSON }
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var s slotJSON
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("stdout line is not one JSON object: %v\n%s", err, stdout)
		}
		got.Slots = append(got.Slots, s)
	}
	if len(got.Slots) != 1 || got.Slots[0].Slot != 7 || got.Slots[0].VolumeWh != 300 || len(got.Slots[0].Trades) != 1 ||
		got.Slots[0].Trades[0].Buy != "b1" || got.Slots[0].Trades[0].Sell != "s1" {
		t.Errorf("got %+v, want slot 7 clearing 300 Wh in one trade b1<-s1", got)
	}
	// k = 0.25 puts the price a quarter of the way from the ask to the bid
	// or from the bid to the ask; either way it is strictly between them.
	if p := got.Slots[0].Price; p <= 100000 || p >= 200000 {
		t.Errorf("price %d, want strictly between ask 100000 and bid 200000", p)
	}

	stdout, _, code = gridmesh(t, "market", "clear", "--in", in)
	if code != 0 || !strings.HasPrefix(stdout, "slot 7: price ") || !strings.Contains(stdout, "300 Wh: buy b1 (h2) from sell s1 (h1)") {
		t.Errorf("text output: exit %d\n%s", code, stdout)
	}
}

// In continuous mode orders trade on arrival at the maker's price: the buy
// arriving second lifts the resting sell at 100000.
func TestMarketClearContinuous(t *testing.T) {
	in := orderFile(t, sell1, buy1, `{"id":"s2","owner":"h3","side":"sell","slot":8,"wh":100,"price":150000}`)
	stdout, stderr, code := gridmesh(t, "market", "clear", "--in", in, "--mode", "continuous", "--json")
	want := `{"slot":7,"price":100000,"volume_wh":300,"trades":[{"buy":"b1","sell":"s1","wh":300,"price":100000,"buyer":"h2","seller":"h1"}]}` + "\n" +
		`{"slot":8,"price":0,"volume_wh":0,"trades":[]}` + "\n"
	if code != 0 || stdout != want {
		t.Errorf("exit %d, stderr %q\n got %s\nwant %s", code, stderr, stdout, want)
	}
}

// TestMarketClearCurves: curve orders clear with the chain's clearing
// (market.ClearCurves) and are refused by the chain's curve rules, each named.
func TestMarketClearCurves(t *testing.T) {
	bat := `{"id":"bat","owner":"h3","side":"buy","slot":7,"curve":[{"wh":200,"price":180000},{"wh":300,"price":120000}]}`
	in := orderFile(t, `{"id":"s1","owner":"h1","side":"sell","slot":7,"wh":400,"price":110000}`, bat)
	stdout, stderr, code := gridmesh(t, "market", "clear", "--in", in, "--json", "--fee", "10000")
	// The battery's first step (180000) crosses fully; its second (120000)
	// covers the ask 110000 + fee 10000 exactly: 400 Wh in all, priced at
	// k = 0.5 between the marginal bid 120000 and ask + fee 120000.
	want := `{"slot":7,"price":120000,"volume_wh":400,"trades":[{"buy":"bat","sell":"s1","wh":400,"price":120000,"buyer":"h3","seller":"h1"}]}` + "\n"
	if code != 0 || stdout != want {
		t.Fatalf("exit %d, stderr %q\n got %s\nwant %s", code, stderr, stdout, want)
	}
	for _, c := range []struct{ line, want string }{
		{`{"id":"c","side":"buy","slot":7,"curve":[{"wh":200,"price":180000}]}`, `curve order "c": chain: malformed transaction: chain: invalid curve order: curve steps: 1`},
		{`{"id":"c","side":"buy","slot":7,"curve":[{"wh":200,"price":180000},{"wh":1,"price":190000}]}`, `curve order "c": chain: malformed transaction: chain: invalid curve order: curve monotone`},
		{`{"id":"c","side":"sell","slot":7,"curve":[{"wh":200,"price":100},{"wh":1,"price":190000}]}`, `curve order "c": chain: order outside tariff bounds: market: price below floor`},
	} {
		f := orderFile(t, c.line)
		_, stderr, code := gridmesh(t, "market", "clear", "--in", f, "--floor", "50000")
		if got := oneLine(t, stderr); code != 1 || !strings.HasPrefix(got, "gridmesh: "+f+": "+c.want) {
			t.Errorf("%s: exit %d\n got %s\nwant gridmesh: %s: %s...", c.line, code, got, f, c.want)
		}
	}
	_, stderr, code = gridmesh(t, "market", "clear", "--in", in, "--mode", "continuous")
	if got := oneLine(t, stderr); code != 2 || !strings.Contains(got, "curves clear in --mode call only") {
		t.Errorf("continuous with a curve: exit %d, %s; want exit 2 saying curves clear in call mode only", code, got)
	}
}

func TestMarketClearErrors(t *testing.T) {
	good := orderFile(t, sell1, buy1)
	bad := orderFile(t, sell1, `{"id":"b1","side":"buy","slot":7,"wh":-3,"price":1}`)
	missing := filepath.Join(t.TempDir(), "none.jsonl")
	for _, tc := range []struct {
		args []string
		code int
		want string // prefix of the one stderr line
	}{
		{[]string{"market"}, 2, "gridmesh: market: expected a command: clear"},
		{[]string{"market", "buy"}, 2, `gridmesh: market: unknown command "buy"`},
		{[]string{"market", "clear"}, 2, "gridmesh: market clear: --in is required"},
		{[]string{"market", "clear", "--in", good, "--mode", "auction"}, 2, `gridmesh: market clear: --mode: expected "call" or "continuous"`},
		{[]string{"market", "clear", "--in", good, "--k", "1.5"}, 2, `gridmesh: market clear: --k: expected a number from 0 to 1`},
		{[]string{"market", "clear", "--in", good, "--k", "0.1234567"}, 2, `gridmesh: market clear: --k: expected`},
		{[]string{"market", "clear", "--in", good, "--floor", "5", "--ceiling", "4"}, 2, "gridmesh: market clear: market: "},
		{[]string{"market", "clear", "--in", missing}, 1, "gridmesh: " + missing + ": no such file"},
		{[]string{"market", "clear", "--in", bad}, 1, "gridmesh: " + bad + ": line 2: market: invalid order line"},
		{[]string{"market", "clear", "--in", good, "--floor", "150000", "--ceiling", "300000"}, 1, "gridmesh: " + good + `: order "s1": chain: order outside tariff bounds: market: price below floor`},
	} {
		stdout, stderr, code := gridmesh(t, tc.args...)
		if code != tc.code || stdout != "" {
			t.Errorf("gridmesh %q: exit %d stdout %q, want exit %d and nothing", tc.args, code, stdout, tc.code)
		}
		if got := oneLine(t, stderr); !strings.HasPrefix(got, tc.want) {
			t.Errorf("gridmesh %q:\n got %s\nwant %s...", tc.args, got, tc.want)
		}
	}
	if stdout, _, code := gridmesh(t, "market", "clear", "--help"); code != 0 || !strings.Contains(stdout, "-in") {
		t.Errorf("market clear --help: exit %d\n%s", code, stdout)
	}
}

func TestParsePPM(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0.5", 500000, true}, {"1", 1000000, true}, {"0", 0, true}, {".25", 250000, true},
		{"0.000001", 1, true}, {"1.0", 1000000, true},
		{"1.000001", 0, false}, {"-0.5", 0, false}, {"+0.5", 0, false}, {"", 0, false}, {".", 0, false},
		{"0.1234567", 0, false}, {"abc", 0, false}, {"2", 0, false}, {"1e-1", 0, false},
	} {
		got, ok := parsePPM(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parsePPM(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
