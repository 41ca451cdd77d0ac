package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
	"github.com/gridmesh/gridmesh/wire"
)

// running is a node started by a test, with a way to stop it and wait.
type running struct {
	n    *Node
	stop context.CancelFunc
	done chan error
}

// start loads and runs the node configured at path; the test's cleanup
// stops it.
func start(t *testing.T, path string, opts Options) *running {
	t.Helper()
	n, err := Load(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return runLoaded(t, n)
}

// runLoaded runs the loaded node n; the test's cleanup stops it.
func runLoaded(t *testing.T, n *Node) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{n: n, stop: cancel, done: make(chan error, 1)}
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
		t.Errorf("node %s stopped with %v", r.n.cfg.Node.Name, err)
	}
}

// waitFor polls cond until it holds; the deadline only decides failure, it
// asserts nothing about speed.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	if !eventually(limit, cond) {
		t.Fatalf("timed out after %s waiting for %s", limit, what)
	}
}

// eventually polls cond until it holds or limit has passed, and reports
// whether it held.
func eventually(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		// The poll interval: these tests watch real nodes on a real
		// (loopback) network, whose state changes raise no event a test
		// could wait on.
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// dropProto is an Options.Filter that loses every frame of proto.
func dropProto(proto string) func(string, ed25519.PublicKey, []byte) bool {
	return func(p string, _ ed25519.PublicKey, _ []byte) bool { return p != proto }
}

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

// TestEndToEnd runs one authority and three homes in-process on loopback, through
// the same config files and code as `gridmesh run`, until three slots have
// settled with real trades; then it stops a home, lets the chain move on, reopens
// the home on its badger directory and checks that it catches up to the same
// state hash.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultDemoOptions()
	opts.Homes, opts.Authorities, opts.Slot = 3, 1, 2*time.Second
	paths, err := writeDemoNetwork(dir, opts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var events collected
	auth := start(t, paths[0], Options{OnEvent: events.event})
	homes := make([]*running, 0, 3)
	for _, p := range paths[1:] {
		homes = append(homes, start(t, p, Options{KeepBlocks: 4}))
	}

	waitFor(t, "three settled slots with trades", 90*time.Second, func() bool {
		settled, trades, energy := events.counts()
		return settled >= 3 && trades > 0 && energy > 0
	})
	auth.n.mu.RLock()
	var sum unit.Money
	for _, b := range auth.n.chain.Balances() {
		sum += b
	}
	auth.n.mu.RUnlock()
	if sum != 0 {
		t.Errorf("balances sum to %d; want 0", sum)
	}

	checkHTTP(t, auth.n, paths[2])

	// Stop a home, let the chain move on, and reopen it on its directory.
	home := homes[0]
	home.halt(t)
	stoppedAt := home.n.status.Load().Height
	waitFor(t, "the chain to move on without the stopped home", 30*time.Second, func() bool {
		return auth.n.Status().Height >= stoppedAt+3
	})
	back := start(t, paths[1], Options{})
	target := auth.n.Status().Height
	waitFor(t, "the reopened home to catch up", 30*time.Second, func() bool {
		return back.n.Status().Height >= target
	})
	st := back.n.Status()
	auth.n.mu.RLock()
	blk, _, err := auth.n.chain.Block(st.Height)
	auth.n.mu.RUnlock()
	if err != nil {
		t.Fatalf("authority has no block %d: %v", st.Height, err)
	}
	if got, want := st.StateHash, blk.Header.StateHash.String(); got != want {
		t.Errorf("reopened home at height %d has state hash %s; the authority's block says %s", st.Height, got, want)
	}
	for _, h := range homes[1:] {
		if h.n.Status().Height == 0 {
			t.Errorf("home %s never followed the chain", h.n.cfg.Node.Name)
		}
		h.n.mu.RLock()
		_, _, err := h.n.chain.Block(1)
		h.n.mu.RUnlock()
		if !errors.Is(err, chain.ErrPruned) {
			t.Errorf("home %s keeps 4 blocks but block 1 gives %v; want chain.ErrPruned", h.n.cfg.Node.Name, err)
		}
	}
}

// TestLoadErrors checks that the ways a node can fail to start each give one
// clear error naming what is wrong.
func TestLoadErrors(t *testing.T) {
	newNet := func(t *testing.T) []string {
		opts := DefaultDemoOptions()
		opts.Homes, opts.Authorities = 1, 1
		paths, err := writeDemoNetwork(t.TempDir(), opts, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return paths
	}
	edit := func(t *testing.T, path, old, new string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), old) {
			t.Fatalf("%s has no %q", path, old)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
		want  []string
	}{
		{"malformed config", func(t *testing.T, path string) {
			edit(t, path, "[api]", "[api]\nlisten_port = 8080")
		}, []string{"node.toml", "api.listen_port"}},
		{"missing key file", func(t *testing.T, path string) {
			if err := os.Remove(filepath.Join(filepath.Dir(path), "node.key")); err != nil {
				t.Fatal(err)
			}
		}, []string{"node.key"}},
		{"port in use", func(t *testing.T, path string) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			edit(t, path, `"127.0.0.1:0"`, `"`+l.Addr().String()+`"`)
		}, []string{"api.listen", "address already in use"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newNet(t)[1]
			tt.setup(t, path)
			n, err := Load(context.Background(), path, Options{})
			if err == nil {
				n.close()
				t.Fatal("Load succeeded; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// checkHTTP exercises the status and transaction API of a running authority: a
// garbled transaction is refused with 400, a signed order from a home's key is
// taken (202) and shows up in a committed block.
func checkHTTP(t *testing.T, auth *Node, homeConfig string) {
	t.Helper()
	base := "http://" + auth.api.Addr().String() + "/api/v1/"
	var st Status
	getJSON(t, base+"status", &st)
	if st.Role != "authority" || st.Height == 0 || st.StateHash == "" || st.Peers == 0 {
		t.Errorf("GET status: got %+v; want an authority with height > 0, a state hash and peers", st)
	}
	resp, err := http.Post(base+"tx", "application/json", strings.NewReader(`{"chain_id":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST a garbled tx: status %d; want 400", resp.StatusCode)
	}

	key, err := config.LoadKey(filepath.Join(filepath.Dir(homeConfig), "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	slot := auth.gen.SlotAt(time.Now().UnixMilli()) + 2
	tx := chain.Tx{ChainID: auth.gen.ChainID, Kind: chain.TxOrder, From: ident.AccountOf(key.Public().(ed25519.PublicKey)), Nonce: 7,
		Order: &chain.Order{Side: market.Buy, Slot: slot, Energy: 1, Price: auth.gen.Tariff.Floor + auth.gen.Tariff.Fee}}
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
	waitFor(t, "the posted order in a block", 30*time.Second, func() bool {
		for h := from + 1; h <= auth.Status().Height; h++ {
			var b BlockInfo
			getJSON(t, fmt.Sprintf("%sblocks/%d", base, h), &b)
			if slices.Contains(b.Txs, got["hash"]) {
				return true
			}
		}
		return false
	})
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestFourAuthorities runs a BFT network of four authorities and two homes:
// trades settle, the chain keeps deciding with one authority stopped (3 of 4 is
// a quorum), and the stopped authority, reopened on its data directory,
// catches up, agrees on the state hash, and nobody signed conflicting votes.
func TestFourAuthorities(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-node run of half a minute; runs without -short")
	}
	opts := DefaultDemoOptions()
	opts.Homes, opts.Authorities, opts.Slot = 2, 4, 2*time.Second
	paths, err := writeDemoNetwork(t.TempDir(), opts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var events collected
	nodes := []*running{start(t, paths[0], Options{OnEvent: events.event})}
	for _, p := range paths[1:] {
		nodes = append(nodes, start(t, p, Options{}))
	}
	first := nodes[0].n
	waitFor(t, "two settled slots with trades", 90*time.Second, func() bool {
		settled, trades, _ := events.counts()
		return settled >= 2 && trades > 0
	})

	stopped := nodes[3]
	stopped.halt(t)
	h := first.Status().Height
	waitFor(t, "three more blocks with one authority stopped", 60*time.Second, func() bool {
		return first.Status().Height >= h+3
	})
	back := start(t, paths[3], Options{})
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
	first.mu.RLock()
	blk, _, err := first.chain.Block(st.Height)
	first.mu.RUnlock()
	if err != nil {
		t.Fatalf("first authority has no block %d: %v", st.Height, err)
	}
	if got, want := st.StateHash, blk.Header.StateHash.String(); got != want {
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
	paths := demoNet(t, 1, 4, farSlots) // orders an hour ahead: none can come too late
	var nodes []*running
	for _, p := range paths[:4] {
		nodes = append(nodes, start(t, p, Options{}))
	}
	auth := nodes[0].n
	waitFor(t, "the authorities to connect", 30*time.Second, func() bool { return len(auth.host.Peers()) >= 3 })
	key := nodeKey(t, paths[4])
	const n = 1200 // about 340 KB of orders: several proposals' worth at the old 64 KiB limit
	slot := auth.gen.SlotAt(time.Now().UnixMilli()) + 100
	want := make(map[string]bool, n)
	url := "http://" + auth.api.Addr().String() + "/api/v1/tx"
	txs := make([]chain.Tx, n)
	for i := range txs {
		tx := sellOrder(auth, key, uint64(1+i), slot)
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
			auth.mu.RLock()
			b, _, err := auth.chain.Block(next)
			auth.mu.RUnlock()
			if err != nil {
				t.Fatalf("block %d: %v", next, err)
			}
			for _, tx := range b.Txs {
				if want[tx.Hash().String()] {
					seen++
				}
			}
		}
		return seen == n
	})
}

// A full mempool of the largest orders still gives a proposal that fits in one
// gossip message (it is sent whole): fitProposal caps the block in bytes.
func TestProposalFitsGossip(t *testing.T) {
	opts := DefaultDemoOptions()
	opts.Homes, opts.Authorities = 1, 1
	paths, err := writeDemoNetwork(t.TempDir(), opts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n := loaded(t, paths[0])
	key, err := config.LoadKey(filepath.Join(filepath.Dir(paths[1]), "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(n.gen.OpenAt(0))
	txs := make([]chain.Tx, wire.MaxBlockTxs)
	for i := range txs {
		txs[i] = chain.Tx{ChainID: n.gen.ChainID, Kind: chain.TxOrder, From: ident.AccountOf(key.Public().(ed25519.PublicKey)), Nonce: math.MaxUint64 - uint64(i),
			Order: &chain.Order{Side: market.Sell, Slot: 0, Energy: market.MaxEnergy, Price: n.gen.Tariff.Ceiling}}
		txs[i].Sign(key)
	}
	small := fitProposal(txs, 10_000)
	size := 0
	for _, tx := range small {
		size += len(tx.Encode())
	}
	if next := len(txs[len(small)].Encode()); len(small) == 0 || size > 10_000 || size+next <= 10_000 {
		t.Errorf("fitProposal(_, 10000) kept %d orders of %d bytes (next %d); want the longest prefix within 10000", len(small), size, next)
	}
	fit := fitProposal(txs, wire.MaxProposalTxBytes)
	blk, errs := n.chain.Propose(now.UnixMilli(), n.self, fit)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("order %d left out: %v", i, err)
		}
	}
	vote := wire.EncodeVote(consensus.Message{Type: consensus.Proposal, Height: 1, ValidRound: -1, Value: blk.Encode(), ValueID: ident.Hash(blk.Hash()), From: ident.Account(n.self), Sig: make([]byte, 64)})
	cert := wire.EncodeCertified(blk.Encode(), wire.EncodeMessages(make([]consensus.Message, 4)))
	if len(vote) > wire.MaxGossipBytes || len(cert) > wire.MaxGossipBytes {
		t.Errorf("a proposal of %d orders is %d bytes and the wire.Certified block %d; want both at most %d", len(fit), len(vote), len(cert), wire.MaxGossipBytes)
	}
}
