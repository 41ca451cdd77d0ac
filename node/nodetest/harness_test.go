package nodetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/node"
	"github.com/gridmesh/gridmesh/unit"
)

// running is a node started by a test, with a way to stop it and wait.
type running struct {
	n    *node.Node
	name string
	stop context.CancelFunc
	done chan error
}

// start loads and runs the node configured at path; the test's cleanup
// stops it.
func start(t *testing.T, path string, opts node.Options) *running {
	t.Helper()
	n, err := node.Load(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{n: n, name: n.Status().Name, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- n.Run(ctx) }()
	t.Cleanup(func() { r.halt(t) })
	return r
}

func (r *running) halt(t *testing.T) {
	t.Helper()
	if r.stop == nil {
		return
	}
	r.stop()
	r.stop = nil
	if err := <-r.done; err != nil {
		t.Errorf("node %s stopped with %v", r.name, err)
	}
}

// api is the base URL of n's HTTP API, ending in /api/v1/.
func api(n *node.Node) string { return strings.TrimSuffix(n.StatusURL(), "status") }

// demoNetwork writes the demo's network under a temporary directory with
// the given homes, authorities and slot length.
func demoNetwork(t *testing.T, homes, authorities int, slot time.Duration) []string {
	t.Helper()
	opts := node.DefaultDemoOptions()
	opts.Homes, opts.Authorities, opts.Slot = homes, authorities, slot
	paths, err := node.WriteDemoNetwork(t.TempDir(), opts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
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

// editGenesis changes the genesis of every node in paths the same way.
func editGenesis(t *testing.T, paths []string, edit func(*config.Genesis)) {
	t.Helper()
	for _, p := range paths {
		g := genesisOf(t, p)
		edit(&g)
		if err := os.WriteFile(filepath.Join(filepath.Dir(p), "genesis.toml"), g.TOML(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
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

// editConfig rewrites the node config at path.
func editConfig(t *testing.T, path string, edit func(*config.Node)) {
	t.Helper()
	c, err := config.LoadNode(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(&c)
	if err := os.WriteFile(path, c.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds; the deadline only decides failure, it
// asserts nothing about speed, and is scaled by raceScale under -race.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	limit *= raceScale
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		// The poll interval: these tests watch real nodes on a real
		// (loopback) network, whose state changes raise no event a test
		// could wait on.
		time.Sleep(100 * time.Millisecond)
	}
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

// collected are the chain events a node's Options.OnEvent saw.
type collected struct {
	mu      sync.Mutex
	cleared []chain.SlotCleared
	settled []chain.SlotSettled
}

func (c *collected) event(ev chain.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev := ev.(type) {
	case chain.SlotCleared:
		c.cleared = append(c.cleared, ev)
	case chain.SlotSettled:
		c.settled = append(c.settled, ev)
	}
}

func (c *collected) counts() (settled int, trades int, energy unit.Wh) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.settled {
		energy += s.Settlement.Energy
		trades += len(s.Settlement.Trades)
	}
	return len(c.settled), trades, energy
}
