package chain

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// TestRandomScenario runs many blocks of random orders, cancels and attestations
// (valid and invalid) over many slots on a disk store, with a follower that
// validates every block, and checks after every block: equal state hashes,
// balances sum to zero, no slot cleared or settled twice, every slot with orders
// eventually settled; and at the end that a reopened store has the same state.
func TestRandomScenario(t *testing.T) {
	g := testGenesis()
	g.SlotSeconds, g.OpenLeadSeconds, g.GateLeadSeconds, g.AttestWindowSeconds = 10, 40, 5, 10
	dir := t.TempDir()
	c, err := Open(dir, g)
	if err != nil {
		t.Fatal(err)
	}
	follower := openMem(t, g)
	rng := rand.New(rand.NewPCG(1, 2))
	homes := []key{kAlice, kBob, kCarol, newKey("dave"), newKey("erin")}
	cleared := map[unit.Slot]bool{}
	settled := map[unit.Slot]bool{}
	ordered := map[unit.Slot]bool{}
	var orders []Tx
	now := g.Epoch*1000 + 1000
	nonce := uint64(0)
	// Admit the homes that are not in genesis.
	var admits []Tx
	for _, h := range homes[2:] {
		admits = append(admits, sign(kAuth, Tx{Admit: &Admit{Participant: h.acct}}))
	}
	b, errs := c.Propose(now, kAuth.acct, admits)
	for _, e := range errs {
		if e != nil {
			t.Fatal(e)
		}
	}
	commitBoth := func(b Block) []Event {
		t.Helper()
		if err := follower.Validate(b, b.Header.Time); err != nil {
			t.Fatalf("follower Validate %d: %v", b.Header.Height, err)
		}
		evs, err := c.Commit(b, nil)
		if err != nil {
			t.Fatalf("Commit %d: %v", b.Header.Height, err)
		}
		if _, err := follower.Commit(b, nil); err != nil {
			t.Fatalf("follower Commit %d: %v", b.Header.Height, err)
		}
		return evs
	}
	commitBoth(b)
	included := 0
	for step := 0; step < 100; step++ {
		now += int64(500 + rng.IntN(2500))
		var txs []Tx
		for range rng.IntN(8) {
			h := homes[rng.IntN(len(homes))]
			nonce++
			open := c.OpenSlots(now)
			switch r := rng.IntN(10); {
			case r < 6 && len(open) > 0:
				side := market.Buy
				if rng.IntN(2) == 0 {
					side = market.Sell
				}
				tx := orderTx(h, side, open[rng.IntN(len(open))], unit.Wh(1+rng.IntN(2000)), unit.Price(40_000+rng.IntN(270_000)), nonce)
				txs = append(txs, tx)
			case r < 7 && len(orders) > 0:
				o := orders[rng.IntN(len(orders))]
				owner := h
				for _, hh := range homes {
					if hh.acct == o.From && rng.IntN(2) == 0 {
						owner = hh
					}
				}
				txs = append(txs, sign(owner, Tx{Nonce: nonce, Cancel: &Cancel{Order: o.Hash()}}))
			default:
				s := g.SlotAt(now) - unit.Slot(rng.IntN(3))
				txs = append(txs, attestTx(h, s, unit.Wh(rng.IntN(3000)), unit.Wh(rng.IntN(3000))))
			}
		}
		if len(txs) == 0 && !c.Due(now) {
			continue
		}
		b, errs := c.Propose(now, kAuth.acct, txs)
		for i, e := range errs {
			if e == nil {
				included++
				if txs[i].Kind == TxOrder {
					orders = append(orders, txs[i])
					ordered[txs[i].Order.Slot] = true
				}
			}
		}
		for _, ev := range commitBoth(b) {
			switch ev := ev.(type) {
			case SlotCleared:
				if cleared[ev.Slot] {
					t.Fatalf("slot %d cleared twice", ev.Slot)
				}
				cleared[ev.Slot] = true
			case SlotSettled:
				if settled[ev.Slot] || !cleared[ev.Slot] {
					t.Fatalf("slot %d settled twice or before clearing", ev.Slot)
				}
				settled[ev.Slot] = true
			}
		}
		if c.Status() != follower.Status() {
			t.Fatalf("height %d: status %+v, follower %+v", b.Header.Height, c.Status(), follower.Status())
		}
		if step%5 == 0 {
			// The committed entries rebuild the same state, entry for entry.
			all := allEntries(c)
			if _, err := loadState(all); err != nil {
				t.Fatalf("height %d: committed entries do not rebuild the state: %v", b.Header.Height, err)
			}
			if got := stateHash(nil, all); got != c.Status().StateHash {
				t.Fatalf("height %d: state hash from scratch %s, committed %s", b.Header.Height, got, c.Status().StateHash)
			}
		}
		if s := sumBalances(c.Balances()); s != 0 {
			t.Fatalf("height %d: balances sum to %d", b.Header.Height, s)
		}
	}
	// Run time forward until nothing is due.
	for c.Due(now + 1_000_000) {
		now += 1_000_000
		b, _ := c.Propose(now, kAuth.acct, nil)
		for _, ev := range commitBoth(b) {
			if ev, ok := ev.(SlotSettled); ok {
				settled[ev.Slot] = true
			}
		}
	}
	for s := range ordered {
		if !settled[s] {
			t.Errorf("slot %d had orders but never settled", s)
		}
	}
	if included < 100 || len(settled) < 10 {
		t.Fatalf("scenario too thin: %d txs included, %d slots settled", included, len(settled))
	}
	traded := false
	for s := range settled {
		if st, _ := c.Settlement(s); st.Energy > 0 {
			traded = true
		}
	}
	if !traded {
		t.Fatalf("no energy settled in the scenario")
	}
	t.Logf("%d txs included, %d slots settled, height %d, balances %v", included, len(settled), c.Status().Height, c.Balances())
	want := c.Status()
	c.Close()
	c, err = Open(dir, g)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer c.Close()
	if c.Status() != want {
		t.Fatalf("reopened status %+v, want %+v", c.Status(), want)
	}
}

// TestConcurrentReads: readers during commits (run with -race).
func TestConcurrentReads(t *testing.T) {
	c := openMem(t, testGenesis())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = c.Status()
				_ = c.Balances()
				_ = c.Due(ms(10, 0))
				_ = c.CheckTx(orderTx(kAlice, market.Sell, 10, 1, 100_000, 99), ms(10, -100))
				_, _, _ = c.Blocks(0, 5)
			}
		}()
	}
	for i := range 20 {
		produce(t, c, ms(10, -200)+int64(i)*1000, orderTx(kAlice, market.Sell, 10, 1, 100_000, uint64(i)))
	}
	close(stop)
	wg.Wait()
}

// allEntries is every committed state entry, history included, as stored.
func allEntries(c *Chain) map[string]entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	all, err := storedEntries(c)
	if err != nil {
		panic(err)
	}
	return all
}
