package nodetest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/node"
	"github.com/gridmesh/gridmesh/unit"
)

// TestEndToEnd runs one authority and three homes in-process on loopback, through
// the same config files and code as `gridmesh run`, until three slots have
// settled with real trades; then it stops a home, lets the chain move on, reopens
// the home on its badger directory and checks that it catches up to the same
// state hash.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	paths := demoNetwork(t, 3, 1, 2*time.Second)
	var events Settlements
	auth := start(t, paths[0], node.Options{OnEvent: events.Event})
	homes := make([]*running, 0, 3)
	for _, p := range paths[1:] {
		homes = append(homes, start(t, p, node.Options{KeepBlocks: 4}))
	}

	waitFor(t, "three settled slots with trades", 90*time.Second, func() bool {
		settled, trades, energy := events.Counts()
		return settled >= 3 && trades > 0 && energy > 0
	})
	if sum := balanceSum(t, auth.n); sum != 0 {
		t.Errorf("balances sum to %d; want 0", sum)
	}

	checkHTTP(t, auth.n, paths[0], paths[2])

	// Stop a home, let the chain move on, and reopen it on its directory.
	home := homes[0]
	stoppedAt := home.n.Status().Height
	home.Halt(t)
	waitFor(t, "the chain to move on without the stopped home", 30*time.Second, func() bool {
		return auth.n.Status().Height >= stoppedAt+3
	})
	back := start(t, paths[1], node.Options{})
	target := auth.n.Status().Height
	waitFor(t, "the reopened home to catch up", 30*time.Second, func() bool {
		return back.n.Status().Height >= target
	})
	st := back.n.Status()
	if got, want := st.StateHash, block(t, auth.n, st.Height).StateHash; got != want {
		t.Errorf("reopened home at height %d has state hash %s; the authority's block says %s", st.Height, got, want)
	}
	for _, h := range homes[1:] {
		if h.n.Status().Height == 0 {
			t.Errorf("home %s never followed the chain", h.name)
		}
		code, body := get(t, api(h.n)+"blocks/1")
		if code != http.StatusNotFound || !strings.Contains(string(body), chain.ErrPruned.Error()) {
			t.Errorf("home %s keeps 4 blocks but GET blocks/1 gives %d %s; want 404 and %q", h.name, code, body, chain.ErrPruned)
		}
	}
}

// checkHTTP exercises the status and transaction API of a running authority: a
// garbled transaction is refused with 400, a signed order from a home's key is
// taken (202) and shows up in a committed block.
func checkHTTP(t *testing.T, auth *node.Node, authConfig, homeConfig string) {
	t.Helper()
	base := api(auth)
	var st node.Status
	getJSON(t, base+"status", &st)
	if st.Role != "authority" || st.Height == 0 || st.StateHash == "" || st.Peers == 0 || len(st.OpenSlots) == 0 {
		t.Errorf("GET status: got %+v; want an authority with height > 0, a state hash, peers and open slots", st)
	}
	resp, err := http.Post(base+"tx", "application/json", strings.NewReader(`{"chain_id":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST a garbled tx: status %d; want 400", resp.StatusCode)
	}

	key := NodeKey(t, homeConfig)
	gen := genesisOf(t, authConfig)
	slot := slices.Max(st.OpenSlots) // two slots ahead: open for a while yet
	tx := chain.Tx{ChainID: gen.ChainID, Kind: chain.TxOrder, From: ident.AccountOf(key.Public().(ed25519.PublicKey)), Nonce: 7,
		Order: &chain.Order{Side: market.Buy, Slot: slot, Energy: 1, Price: gen.Tariff.Floor + gen.Tariff.Fee}}
	tx.Sign(key)
	from := auth.Status().Height
	resp, err = http.Post(base+"tx", "application/json", bytes.NewReader(tx.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || got["hash"] != tx.Hash().String() {
		t.Fatalf("POST a signed order: status %d, body %v; want 202 and hash %s", resp.StatusCode, got, tx.Hash())
	}
	next := from + 1
	waitFor(t, "the posted order in a block", 30*time.Second, func() bool {
		for ; next <= auth.Status().Height; next++ {
			if slices.Contains(block(t, auth, next).Txs, got["hash"]) {
				return true
			}
		}
		return false
	})
}

// TestFourAuthorities runs a BFT network of four authorities and two homes:
// trades settle, the chain keeps deciding with one authority stopped (3 of 4 is
// a quorum), and the stopped authority, reopened on its data directory,
// catches up, agrees on the state hash, and nobody signed conflicting votes.
func TestFourAuthorities(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-node run of half a minute; runs without -short")
	}
	t.Parallel()
	paths := demoNetwork(t, 2, 4, 2*time.Second)
	// The homes order at their limits at once (no ramp): the ramp's each
	// replace waits for the one before to be in a block, and with 2-s slots
	// (3 s to order) and four authorities on a loaded machine it did not
	// reach prices that cross before the gate: no slot traded in 270 s
	// (2026-12-07, load average 27). What is tested here is the BFT chain.
	for _, p := range paths[4:] {
		EditConfig(t, p, func(c *config.Node) { c.Trading.MaxReplaces = 0 })
	}
	var events Settlements
	nodes := []*running{start(t, paths[0], node.Options{OnEvent: events.Event})}
	for _, p := range paths[1:] {
		nodes = append(nodes, start(t, p, node.Options{}))
	}
	first := nodes[0].n
	waitFor(t, "two settled slots with trades", 90*time.Second, func() bool {
		settled, trades, _ := events.Counts()
		return settled >= 2 && trades > 0
	})

	stopped := nodes[3]
	stopped.Halt(t)
	h := first.Status().Height
	waitFor(t, "three more blocks with one authority stopped", 60*time.Second, func() bool {
		return first.Status().Height >= h+3
	})
	back := start(t, paths[3], node.Options{})
	target := first.Status().Height
	waitFor(t, "the reopened authority to catch up", 60*time.Second, func() bool {
		return back.n.Status().Height >= target
	})
	st := back.n.Status()
	// The reopened node may have committed a block the first has not yet: wait
	// for the first to reach the height being compared.
	waitFor(t, "the first authority to reach the reopened one's height", 30*time.Second, func() bool {
		return first.Status().Height >= st.Height
	})
	if got, want := st.StateHash, block(t, first, st.Height).StateHash; got != want {
		t.Errorf("reopened authority at height %d has state hash %s; want %s", st.Height, got, want)
	}
	for i, r := range append(nodes[:3], back) {
		if ev := r.n.Status().Evidence; ev != 0 {
			t.Errorf("node %d saw %d conflicting signed messages; want 0", i, ev)
		}
	}
}

// TestBurstOfOrders posts 1,200 orders at once to one authority of four, from
// 16 clients, and checks that every one is committed: none is lost between the
// HTTP API, the mempool, gossip to the other authorities and the blocks.
func TestBurstOfOrders(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	t.Parallel()
	paths := demoNetwork(t, 1, 4, node.DefaultDemoOptions().Slot)
	EditGenesis(t, paths, func(g *config.Genesis) { g.OpenLeadSeconds = 3600 }) // orders an hour ahead: none can come too late
	var nodes []*running
	for _, p := range paths[:4] {
		nodes = append(nodes, start(t, p, node.Options{}))
	}
	auth := nodes[0].n
	waitFor(t, "the authorities to connect", 30*time.Second, func() bool { return auth.Status().Peers >= 3 })
	key := NodeKey(t, paths[4])
	gen := genesisOf(t, paths[0])
	const n = 1200 // about 340 KB of orders: several proposals' worth at the old 64 KiB limit
	slot := slotAt(gen, time.Now()) + 100
	want := make(map[string]bool, n)
	url := api(auth) + "tx"
	txs := make([]chain.Tx, n)
	from := ident.AccountOf(key.Public().(ed25519.PublicKey))
	for i := range txs {
		// An order of nonce Wh at the floor price.
		tx := chain.Tx{ChainID: gen.ChainID, Kind: chain.TxOrder, From: from, Nonce: uint64(1 + i),
			Order: &chain.Order{Side: market.Sell, Slot: slot, Energy: unit.Wh(1 + i), Price: gen.Tariff.Floor}}
		tx.Sign(key)
		txs[i] = tx
		want[tx.Hash().String()] = true
	}
	// Post them all at once, from several clients, faster than blocks are made.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				resp, err := http.Post(url, "application/json", bytes.NewReader(txs[i].Encode()))
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					errs <- fmt.Errorf("POST order %d: status %d", i, resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := 0
	next := uint64(1)
	waitFor(t, fmt.Sprintf("all %d orders in blocks", n), 90*time.Second, func() bool {
		for ; next <= auth.Status().Height; next++ {
			for _, id := range block(t, auth, next).Txs {
				if want[id] {
					seen++
				}
			}
		}
		return seen == n
	})
}
