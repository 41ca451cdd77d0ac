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

// historyNode is a home node (loaded, not run) whose chain is replaced by one
// in a directory of its own holding `slots` settled 15-minute slots, each with
// one trade between the two homes (buildHistory). GRIDMESH_BENCH_SLOTS
// overrides slots.
//
// The benchmarks share one such node, built at the first call (about 3
// minutes for 35,040 slots here: a block per slot through Propose and Commit)
// and left open until the process ends; TestMain closes it and removes its
// directory.
func historyNode(tb testing.TB, slots int) (*Node, ident.Account) {
	tb.Helper()
	history.once.Do(func() {
		if s, err := strconv.Atoi(os.Getenv("GRIDMESH_BENCH_SLOTS")); err == nil && s > 0 {
			slots = s
		}
		dir, err := os.MkdirTemp("", "gridmesh-bench-")
		if err != nil {
			tb.Fatal(err)
		}
		history.dir = dir
		history.n, history.self = buildHistory(tb, slots, dir, time.Now().Unix()-int64(slots+4)*900)
	})
	if history.n == nil {
		tb.Fatal("building the history failed")
	}
	return history.n, history.self
}

var history struct {
	once sync.Once
	dir  string // of the chain, removed by TestMain
	n    *Node
	self ident.Account
}

func TestMain(m *testing.M) {
	code := m.Run()
	if history.n != nil {
		history.n.chain.Close()
	}
	if history.dir != "" {
		os.RemoveAll(history.dir)
	}
	os.Exit(code)
}

// buildHistory makes a home node of a demo network of two homes whose chain,
// with 15-minute slots from epoch (unix seconds) on, holds `slots` settled
// slots: one block per slot with the orders of the next slot (a buy at a
// price that varies from slot to slot, a sell at the floor) and the
// attestations of the last. The chain is kept in dir/chain, or in memory if
// dir is "".
func buildHistory(tb testing.TB, slots int, dir string, epoch int64) (*Node, ident.Account) {
	tb.Helper()
	cfgDir, err := os.MkdirTemp("", "gridmesh-history-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(cfgDir) // the node reads nothing more from it
	opts := DefaultDemoOptions()
	opts.Homes, opts.Authorities = 2, 1
	paths, err := WriteDemoNetwork(cfgDir, opts, time.Now())
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
	g.Epoch = epoch
	var c *chain.Chain
	if dir == "" {
		c, err = chain.OpenMemory(g)
	} else {
		c, err = chain.Open(filepath.Join(dir, "chain"), g)
	}
	if err != nil {
		tb.Fatal(err)
	}
	n.chain.Close()
	n.chain, n.gen = c, g
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
			bid := mid + unit.Price(s%7)*1000
			txs = append(txs,
				sign(buyer, chain.Tx{Kind: chain.TxOrder, Order: &chain.Order{Side: market.Buy, Slot: s + 1, Energy: 100, Price: bid}}),
				sign(seller, chain.Tx{Kind: chain.TxOrder, Order: &chain.Order{Side: market.Sell, Slot: s + 1, Energy: 100, Price: g.Tariff.Floor}}))
		}
		if s >= 2 {
			txs = append(txs,
				sign(buyer, chain.Tx{Kind: chain.TxAttest, Attest: &chain.Attest{Slot: s - 1, Import: 100}}),
				sign(seller, chain.Tx{Kind: chain.TxAttest, Attest: &chain.Attest{Slot: s - 1, Export: 100}}))
		}
		b, errs := c.Propose(g.SlotStart(s)+100_000, authority, txs)
		for i, err := range errs {
			if err != nil {
				tb.Fatalf("slot %d: tx %d: %v", s, i, err)
			}
		}
		if _, err := c.Commit(b, nil); err != nil {
			tb.Fatalf("slot %d: %v", s, err)
		}
	}
	n.publishStatus()
	if got := len(c.Statement(n.self, 0, unit.Slot(slots)+2)); got < slots-2 {
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

// discard is a ResponseWriter that keeps only the status and the size of the
// body, as a socket takes it: the benchmarks time and count the handler's
// work, not a recorder's growing buffer.
type discard struct {
	h    http.Header
	code int
	n    int
}

func (d *discard) Header() http.Header { return d.h }
func (d *discard) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}
func (d *discard) Write(p []byte) (int, error) {
	d.WriteHeader(200)
	d.n += len(p)
	return len(p), nil
}

// benchGETAfter is benchGET calling before (if not nil, untimed) ahead of
// every request. Besides the p50 and p99 of the requests' wall time it
// reports cpu-ms/op, the CPU time the whole process used during a request on
// average (the handler, the garbage collector, badger's goroutines): on a
// machine that other work loads, wall time waits for a core, CPU time does
// not.
func benchGETAfter(b *testing.B, h http.Handler, url string, before func()) {
	b.Helper()
	var ds []time.Duration
	b.ReportAllocs()
	size := 0
	var cpu time.Duration // of the whole process during the requests
	for b.Loop() {
		if before != nil {
			b.StopTimer()
			before()
			b.StartTimer()
		}
		req := httptest.NewRequest("GET", url, nil)
		req.Host = "127.0.0.1"
		w := &discard{h: http.Header{}}
		c0, t0 := processCPU(), time.Now()
		h.ServeHTTP(w, req)
		ds = append(ds, time.Since(t0))
		cpu += processCPU() - c0
		if w.code != 200 {
			b.Fatalf("GET %s: %d", url, w.code)
		}
		size = w.n
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(ds[len(ds)/2]), "p50-ms")
	b.ReportMetric(ms(ds[(len(ds)*99)/100]), "p99-ms")
	b.ReportMetric(float64(size), "body-bytes")
	b.ReportMetric(ms(cpu/time.Duration(len(ds))), "cpu-ms/op")
}

// BenchmarkAPIHome: GET /api/v1/home on a home whose chain holds a year of
// settled slots (35,040).
func BenchmarkAPIHome(b *testing.B) {
	n, _ := historyNode(b, 35_040)
	benchGET(b, n.guard(n.handler()), "/api/v1/home")
}

// BenchmarkAPIStatementYear: a statement over a year of settled 15-minute
// slots (35,040 lines), as JSON and as CSV, each line (price included) read
// from the chain's account index. "cold" closes and reopens the chain before
// every request (untimed): the first statement after a start, with badger's
// caches empty (the operating system's page cache is not dropped).
func BenchmarkAPIStatementYear(b *testing.B) {
	n, self := historyNode(b, 35_040)
	h := n.guard(n.handler())
	url := func(f string) string { return fmt.Sprintf("/api/v1/accounts/%s/statement?from=0&format=%s", self, f) }
	for _, f := range []string{"json", "csv"} {
		b.Run(f, func(b *testing.B) { benchGET(b, h, url(f)) })
	}
	reopen := func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		g := n.chain.Genesis()
		n.chain.Close()
		c, err := chain.Open(filepath.Join(history.dir, "chain"), g)
		if err != nil {
			b.Fatal(err)
		}
		n.chain = c
	}
	for _, f := range []string{"json", "csv"} {
		b.Run("cold-"+f, func(b *testing.B) { benchGETAfter(b, h, url(f), reopen) })
	}
}
