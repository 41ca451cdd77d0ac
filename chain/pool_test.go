package chain

import (
	"errors"
	"testing"

	"github.com/gridmesh/gridmesh/market"
)

func TestPool(t *testing.T) {
	p := NewPool(3)
	a := orderTx(kAlice, market.Sell, 10, 1, 100_000, 1)
	b := orderTx(kBob, market.Buy, 10, 1, 100_000, 1)
	c := orderTx(kAlice, market.Sell, 10, 1, 100_000, 2)
	d := orderTx(kAlice, market.Sell, 10, 1, 100_000, 3)
	for _, tx := range []Tx{b, a, c} {
		if err := p.Add(tx); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	if err := p.Add(a); !errors.Is(err, ErrInPool) {
		t.Fatalf("Add(dup) = %v, want ErrInPool", err)
	}
	if err := p.Add(d); !errors.Is(err, ErrPoolFull) {
		t.Fatalf("Add(over limit) = %v, want ErrPoolFull", err)
	}
	got := p.Pending(0)
	if len(got) != 3 || got[0].Hash() != b.Hash() || got[1].Hash() != a.Hash() || got[2].Hash() != c.Hash() {
		t.Fatalf("Pending = %v, want arrival order b, a, c", got)
	}
	if got := p.Pending(2); len(got) != 2 || got[0].Hash() != b.Hash() {
		t.Fatalf("Pending(2) = %d txs", len(got))
	}
	p.Remove([]Tx{a, d})
	if p.Len() != 2 || p.Has(a.Hash()) {
		t.Fatalf("after Remove: Len %d, Has(a) %v; want 2, false", p.Len(), p.Has(a.Hash()))
	}
	dropped := p.Recheck(func(tx Tx) error {
		if tx.From == kBob.acct {
			return errors.New("stale")
		}
		return nil
	})
	if dropped != 1 || p.Len() != 1 || !p.Has(c.Hash()) {
		t.Fatalf("Recheck dropped %d, Len %d; want 1 dropped, c kept", dropped, p.Len())
	}
}

// TestPoolWithChain: the usual cycle of CheckTx, Add, Propose(Pending), Commit,
// Remove, Recheck.
func TestPoolWithChain(t *testing.T) {
	c := openMem(t, testGenesis())
	p := NewPool(100)
	now := ms(10, -200)
	txs := []Tx{orderTx(kAlice, market.Sell, 10, 5, 100_000, 1), orderTx(kBob, market.Buy, 10, 5, 100_000, 1),
		orderTx(kMallory, market.Buy, 10, 5, 100_000, 1)}
	for _, tx := range txs {
		if err := c.CheckTx(tx, now); err == nil {
			if err := p.Add(tx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if p.Len() != 2 {
		t.Fatalf("pool holds %d, want 2 (mallory refused by CheckTx)", p.Len())
	}
	// A tx that was valid when pooled but is late by the time of the block.
	late := orderTx(kAlice, market.Sell, 10, 5, 100_000, 9)
	p.Add(late)
	b, _ := produce(t, c, now, p.Pending(2)...)
	p.Remove(b.Txs)
	p.Recheck(func(tx Tx) error { return c.CheckTx(tx, ms(10, -60)) })
	if p.Len() != 0 {
		t.Fatalf("pool holds %d after commit and recheck past gate closure, want 0", p.Len())
	}
}
