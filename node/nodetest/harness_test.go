package nodetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/node"
	"github.com/gridmesh/gridmesh/unit"
)

// running is a node started by a test.
type running struct {
	n *node.Node
	*Background
}

// start loads and runs the node configured at path; the test's cleanup
// halts it.
func start(t *testing.T, path string, opts node.Options) *running {
	t.Helper()
	n, err := node.Load(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	r := &running{n: n, Background: Go(n.Status().Name, n.Run)}
	t.Cleanup(func() { r.Halt(t) })
	return r
}

// api is the base URL of n's HTTP API, ending in /api/v1/.
func api(n *node.Node) string { return strings.TrimSuffix(n.StatusURL(), "status") }

// demoNetwork writes the demo's network under a temporary directory with
// the given homes, authorities and slot length, its slots open for orders
// at least 8 s ahead (the demo opens them 2 slots ahead: with 2-s slots
// that left 3 s from a slot's opening to its gate, and on a loaded machine,
// load average 21–28, most orders missed it: TestWelfareInNetwork traded in
// 0 or 1 of 15 slots, TestEndToEnd settled no trade in 270 s).
func demoNetwork(t *testing.T, homes, authorities int, slot time.Duration) []string {
	t.Helper()
	opts := node.DefaultDemoOptions()
	opts.Homes, opts.Authorities, opts.Slot = homes, authorities, slot
	paths, err := node.WriteDemoNetwork(t.TempDir(), opts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	EditGenesis(t, paths, func(g *config.Genesis) { g.OpenLeadSeconds = max(g.OpenLeadSeconds, 8) })
	return paths
}

// genesisOf is the genesis file beside the node config at path.
func genesisOf(t *testing.T, path string) config.Genesis {
	t.Helper()
	g, err := config.LoadGenesis(filepath.Join(filepath.Dir(path), "genesis.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// slotAt is the slot of g that contains at (chain.Genesis.SlotAt's rule).
func slotAt(g config.Genesis, at time.Time) unit.Slot {
	ms, slot := at.UnixMilli()-g.Epoch*1000, g.SlotSeconds*1000
	s := ms / slot
	if ms%slot < 0 {
		s--
	}
	return unit.Slot(s)
}

// waitFor is WaitFor with limit stretched by raceScale under -race.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	WaitFor(t, what, limit*raceScale, cond)
}

// get fetches url and returns its status and body.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, b
}

// getJSON fetches url, which must answer 200, into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, b := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d (%s)", url, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// block is block h as n's API gives it.
func block(t *testing.T, n *node.Node, h uint64) node.BlockInfo {
	t.Helper()
	var b node.BlockInfo
	getJSON(t, fmt.Sprintf("%sblocks/%d", api(n), h), &b)
	return b
}

// balanceSum adds up the balance of every account n's chain holds one for
// (GET statements: a row per account and month, for every account with a
// balance or admitted; an account's last month ends at its balance now).
func balanceSum(t *testing.T, n *node.Node) unit.Money {
	t.Helper()
	var page struct {
		Items []node.MonthRow `json:"items"`
	}
	getJSON(t, api(n)+"statements?period=month&format=json", &page)
	last := map[string]node.MonthRow{}
	for _, r := range page.Items {
		if l, ok := last[r.Account]; !ok || r.Month > l.Month {
			last[r.Account] = r
		}
	}
	if len(last) == 0 {
		t.Fatalf("GET statements on %s: no account", n.Status().Name)
	}
	var sum unit.Money
	for _, r := range last {
		sum += r.Balance
	}
	return sum
}
