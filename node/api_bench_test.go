package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// historyNode is a home node (loaded, not run) whose chain is replaced by an
// in-memory one holding `slots` settled 15-minute slots, each with one trade
// between the two homes: one block per slot with the orders of the next slot
// and the attestations of the last. GRIDMESH_BENCH_SLOTS overrides slots.
//
// The benchmarks share one such node, built at the first call (about 3
// minutes for 35,040 slots here: a block per slot through Propose and Commit)
// and left open until the process ends; its directory is removed then by
// removeHistory (TestMain is not used: this is the only shared fixture).
func historyNode(tb testing.TB, slots int) (*Node, ident.Account) {
	tb.Helper()
	history.once.Do(func() { history.n, history.self = buildHistory(tb, slots) })
	if history.n == nil {
		tb.Fatal("building the history failed")
	}
	return history.n, history.self
}

var history struct {
	once sync.Once
	n    *Node
	self ident.Account
}

func buildHistory(tb testing.TB, slots int) (*Node, ident.Account) {
	if s, err := strconv.Atoi(os.Getenv("GRIDMESH_BENCH_SLOTS")); err == nil && s > 0 {
		slots = s
	}
	dir, err := os.MkdirTemp("", "gridmesh-bench-")
	if err != nil {
		tb.Fatal(err)
	}
	opts := DefaultDemoOptions()
	opts.Homes, opts.Authorities = 2, 1
	paths, err := writeDemoNetwork(dir, opts, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	n, err := Load(context.Background(), paths[1], Options{})
	if err != nil {
		tb.Fatal(err)
	}
	buyer := nodeKeyTB(tb, paths[1])
	seller := nodeKeyTB(tb, paths[2])
	authority := ident.AccountOf(nodeKeyTB(tb, paths[0]).Public().(ed25519.PublicKey))
	g := n.gen
	g.SlotSeconds, g.OpenLeadSeconds, g.GateLeadSeconds, g.AttestWindowSeconds = 900, 3600, 300, 300
	g.Epoch = time.Now().Unix() - int64(slots+4)*900
	mem, err := chain.OpenMemory(g)
	if err != nil {
		tb.Fatal(err)
	}
	n.chain.Close()
	n.chain, n.gen = mem, g
	os.RemoveAll(dir) // the node reads nothing more from it
	var nonce uint64
	sign := func(k ed25519.PrivateKey, tx chain.Tx) chain.Tx {
		nonce++
		tx.ChainID, tx.From, tx.Nonce = g.ChainID, ident.AccountOf(k.Public().(ed25519.PublicKey)), nonce
		tx.Sign(k)
		return tx
	}
	mid := (g.Tariff.Floor + g.Tariff.Ceiling) / 2
	for s := unit.Slot(0); s <= unit.Slot(slots)+1; s++ {
		var txs []chain.Tx
		if s < unit.Slot(slots) {
			txs = append(txs,
				sign(buyer, chain.Tx{Kind: chain.TxOrder, Order: &chain.Order{Side: market.Buy, Slot: s + 1, Energy: 100, Price: mid}}),
				sign(seller, chain.Tx{Kind: chain.TxOrder, Order: &chain.Order{Side: market.Sell, Slot: s + 1, Energy: 100, Price: g.Tariff.Floor}}))
		}
		if s >= 2 {
			txs = append(txs,
				sign(buyer, chain.Tx{Kind: chain.TxAttest, Attest: &chain.Attest{Slot: s - 1, Import: 100}}),
				sign(seller, chain.Tx{Kind: chain.TxAttest, Attest: &chain.Attest{Slot: s - 1, Export: 100}}))
		}
		b, errs := mem.Propose(g.SlotStart(s)+100_000, authority, txs)
		for i, err := range errs {
			if err != nil {
				tb.Fatalf("slot %d: tx %d: %v", s, i, err)
			}
		}
		if _, err := mem.Commit(b, nil); err != nil {
			tb.Fatalf("slot %d: %v", s, err)
		}
	}
	n.publishStatus()
	if got := len(mem.Statement(n.self, 0, unit.Slot(slots)+2)); got < slots-2 {
		tb.Fatalf("built %d statement lines; want about %d", got, slots)
	}
	return n, n.self
}

func nodeKeyTB(tb testing.TB, path string) ed25519.PrivateKey {
	k, err := config.LoadKey(filepath.Join(filepath.Dir(path), "node.key"))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// benchGET times GET url on h b.N times and reports the p50 and p99.
func benchGET(b *testing.B, h http.Handler, url string) {
	b.Helper()
	benchGETAfter(b, h, url, nil)
}

// benchGETAfter is benchGET calling before (if not nil, untimed) ahead of
// every request.
func benchGETAfter(b *testing.B, h http.Handler, url string, before func()) {
	b.Helper()
	var ds []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		if before != nil {
			b.StopTimer()
			before()
			b.StartTimer()
		}
		req := httptest.NewRequest("GET", url, nil)
		req.Host = "127.0.0.1"
		w := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(w, req)
		ds = append(ds, time.Since(t0))
		if w.Code != 200 {
			b.Fatalf("GET %s: %d %s", url, w.Code, w.Body.String())
		}
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(ds[len(ds)/2]), "p50-ms")
	b.ReportMetric(ms(ds[(len(ds)*99)/100]), "p99-ms")
}

// BenchmarkAPIHome: GET /api/v1/home on a home whose chain holds a year of
// settled slots (35,040).
func BenchmarkAPIHome(b *testing.B) {
	n, _ := historyNode(b, 35_040)
	benchGET(b, n.guard(n.handler()), "/api/v1/home")
}

// BenchmarkAPIStatementYear: a statement over a year of settled 15-minute
// slots (35,040 lines), as JSON and as CSV. The lines come from the chain's
// account index; their prices from the node's price ring, which a running
// node fills as it commits blocks (apiCommit): the history here was
// committed without the loop, so one untimed request fills it first. "cold"
// empties the ring before every request: the first statement after a start
// over slots cleared before it, whose prices are read from the store.
func BenchmarkAPIStatementYear(b *testing.B) {
	n, self := historyNode(b, 35_040)
	h := n.guard(n.handler())
	url := func(f string) string { return fmt.Sprintf("/api/v1/accounts/%s/statement?from=0&format=%s", self, f) }
	warm := httptest.NewRecorder()
	req := httptest.NewRequest("GET", url("json"), nil)
	req.Host = "127.0.0.1"
	h.ServeHTTP(warm, req)
	for _, f := range []string{"json", "csv"} {
		b.Run(f, func(b *testing.B) { benchGET(b, h, url(f)) })
	}
	b.Run("cold", func(b *testing.B) {
		benchGETAfter(b, h, url("json"), func() {
			p := &n.surf.prices
			p.mu.Lock()
			p.slot, p.price = nil, nil
			p.mu.Unlock()
		})
	})
}
