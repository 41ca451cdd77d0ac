package chain

import (
	"errors"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

func replaceTx(k key, old Tx, e unit.Wh, p unit.Price, nonce uint64) Tx {
	h := old.Hash()
	o := *old.Order
	o.Energy, o.Price, o.Replaces = e, p, &h
	return sign(k, Tx{Nonce: nonce, Order: &o})
}

// TestOrderLifecycle checks replace, expiry and the three replays the
// lifecycle names (chain/doc.go): the same signed order twice, an old order
// after a replace, an order from another network.
func TestOrderLifecycle(t *testing.T) {
	const s = unit.Slot(10)
	a1 := orderTx(kAlice, market.Sell, s, 1000, 200_000, 1)
	bob := orderTx(kBob, market.Buy, s, 500, 250_000, 1)
	c := openMem(t, testGenesis())
	produce(t, c, ms(s, -200), a1, bob) // height 1
	a2 := replaceTx(kAlice, a1, 900, 150_000, 2)
	produce(t, c, ms(s, -190), a2) // height 2: a2 replaces a1

	got := c.Orders(s)
	if len(got) != 2 || got[0].ID == a1.Hash().String() || got[1].ID == a1.Hash().String() {
		t.Fatalf("orders after replace: got %v, want bob's and a2 only", got)
	}
	expired := orderTx(kBob, market.Buy, s, 10, 100_000, 5)
	expired.Order.Expires = 2
	expired = sign(kBob, expired)
	fresh := orderTx(kBob, market.Buy, s, 10, 100_000, 6)
	fresh.Order.Expires = 3
	fresh = sign(kBob, fresh)
	otherSlot := orderTx(kAlice, market.Sell, s+1, 10, 100_000, 7)
	otherSlot.Order.Replaces = ptr(a2.Hash())
	otherSlot = sign(kAlice, otherSlot)
	otherNet := a2
	otherNet.ChainID = "other-net"
	otherNet.Nonce = 99
	otherNet = sign(kAlice, otherNet)

	at := ms(s, -180) // the next block is height 3
	cases := []struct {
		name string
		tx   Tx
		at   int64
		want error
	}{
		{"same signed order twice", a2, at, ErrDuplicate},
		{"old order again after a replace", a1, at, ErrDuplicate},
		{"old order replaced again (stale replace)", replaceTx(kAlice, a1, 800, 140_000, 3), at, ErrReplaced},
		{"replace of a replace", replaceTx(kAlice, a2, 800, 140_000, 3), at, nil},
		{"replace of another's order", replaceTx(kAlice, bob, 800, 240_000, 3), at, ErrNotOwner},
		{"replace of an unknown order", sign(kAlice, Tx{Nonce: 4, Order: &Order{Side: market.Sell, Slot: s, Energy: 1, Price: 100_000, Replaces: &ident.Hash{7}}}), at, ErrNoOrder},
		{"replace for another slot", otherSlot, ms(s, -120), ErrReplaceSlot},
		{"replace after gate closure", replaceTx(kAlice, a2, 800, 140_000, 3), ms(s, -60), ErrSlotClosed},
		{"cancel of a replaced order", sign(kAlice, Tx{Cancel: &Cancel{Order: a1.Hash()}}), at, ErrNoOrder},
		{"order from another network", otherNet, at, ErrChainID},
		{"expired order (expires 2, block 3)", expired, at, ErrExpired},
		{"order within its expiry (expires 3, block 3)", fresh, at, nil},
		{"replaces the zero hash", sign(kAlice, Tx{Nonce: 8, Order: &Order{Side: market.Sell, Slot: s, Energy: 1, Price: 100_000, Replaces: &ident.Hash{}}}), at, ErrTxShape},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.CheckTx(tc.tx, tc.at)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("CheckTx: got %v, want %v", err, tc.want)
			}
		})
	}

	// The lifecycle fields round-trip through the canonical encoding, and an
	// order without them encodes exactly as before they existed.
	for _, tx := range []Tx{a2, fresh} {
		back, err := DecodeTx(tx.Encode())
		if err != nil || back.Hash() != tx.Hash() {
			t.Fatalf("DecodeTx(%s): got %v, hash %s, want %s", tx.Encode(), err, back.Hash(), tx.Hash())
		}
	}
	want := `"order":{"side":2,"slot":10,"energy":1000,"price":200000},`
	if enc := string(a1.Encode()); !strings.Contains(enc, want) {
		t.Fatalf("plain order encoding: got %s, want it to contain %s", enc, want)
	}
	zeroExp := []byte(strings.Replace(string(a1.Encode()), `"price":200000}`, `"price":200000,"expires":0}`, 1))
	if _, err := DecodeTx(zeroExp); !errors.Is(err, ErrEncoding) {
		t.Fatalf("expires 0 written out: got %v, want ErrEncoding", err)
	}

	// The slot clears with the replacement only: alice's 900 Wh at 0.15.
	_, evs := produce(t, c, ms(s, 1))
	var res market.Result
	for _, ev := range evs {
		if sc, ok := ev.(SlotCleared); ok && sc.Slot == s {
			res = sc.Result
		}
	}
	if res.Volume != 500 || len(res.Trades) != 1 || res.Trades[0].Sell != a2.Hash().String() {
		t.Fatalf("cleared: got %+v, want 500 Wh sold by the replacement %s", res, a2.Hash())
	}
}

func ptr[T any](v T) *T { return &v }
