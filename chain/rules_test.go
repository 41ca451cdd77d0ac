package chain

import (
	"errors"
	"math"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// TestTxRules checks every state-machine rule through CheckTx, and that the same
// verdict holds when the tx is put in a proposed block.
func TestTxRules(t *testing.T) {
	const s = unit.Slot(10)
	aliceSell := orderTx(kAlice, market.Sell, s, 1000, 100_000, 1)
	bobBuy := orderTx(kBob, market.Buy, s, 500, 250_000, 1)
	// base: block 1 at start-200s holds both orders; block 2 at start+61s holds
	// alice's attestation (the slot clears at its end).
	// CheckTx and Propose change nothing committed, so the cases share the bases.
	base1 := openMem(t, testGenesis())
	produce(t, base1, ms(s, -200), aliceSell, bobBuy)
	base2 := openMem(t, testGenesis())
	produce(t, base2, ms(s, -200), aliceSell, bobBuy)
	produce(t, base2, ms(s, 61), attestTx(kAlice, s, 0, 1000))
	base := func(t *testing.T, upTo int) *Chain {
		if upTo >= 2 {
			return base2
		}
		return base1
	}
	otherNet := sign(kAlice, Tx{ChainID: "other-net", Order: &Order{Side: market.Sell, Slot: s, Energy: 10, Price: 100_000}})
	badSig := orderTx(kAlice, market.Sell, s, 10, 100_000, 7)
	badSig.Nonce = 8 // signature no longer matches
	forged := orderTx(kAlice, market.Sell, s, 10, 100_000, 9)
	forged.From = kBob.acct

	cases := []struct {
		name string
		upTo int // base blocks
		tx   Tx
		at   int64
		want error // nil = accepted
	}{
		{"admit by authority", 1, sign(kAuth, Tx{Admit: &Admit{Participant: kCarol.acct, Name: "carol"}}), ms(s, -150), nil},
		{"admit by participant", 1, sign(kAlice, Tx{Admit: &Admit{Participant: kCarol.acct}}), ms(s, -150), ErrNotAuthority},
		{"admit twice", 1, sign(kAuth, Tx{Admit: &Admit{Participant: kAlice.acct}}), ms(s, -150), ErrAdmitted},
		{"admit malformed account", 1, sign(kAuth, Tx{Admit: &Admit{Participant: "ABC"}}), ms(s, -150), ErrAccount},
		{"tariff by authority", 1, sign(kAuth, Tx{Tariff: &Tariff{Floor: 1, Ceiling: 10, Fee: 2, Seq: 1}}), ms(s, -150), nil},
		{"tariff by participant", 1, sign(kBob, Tx{Tariff: &Tariff{Floor: 1, Ceiling: 10, Fee: 2, Seq: 1}}), ms(s, -150), ErrNotAuthority},
		{"tariff seq not increasing", 1, sign(kAuth, Tx{Tariff: &Tariff{Floor: 1, Ceiling: 10, Fee: 2, Seq: 0}}), ms(s, -150), ErrTariffSeq},
		{"tariff invalid", 1, sign(kAuth, Tx{Tariff: &Tariff{Floor: 9, Ceiling: 10, Fee: 2, Seq: 1}}), ms(s, -150), ErrTariff},
		{"order ok", 1, orderTx(kBob, market.Buy, s, 10, 300_000, 2), ms(s, -150), nil},
		{"order from non-participant", 1, orderTx(kMallory, market.Buy, s, 10, 100_000, 1), ms(s, -150), ErrNotAdmitted},
		{"order from authority (not a participant)", 1, orderTx(kAuth, market.Buy, s, 10, 100_000, 1), ms(s, -150), ErrNotAdmitted},
		{"order below floor", 1, orderTx(kAlice, market.Sell, s, 10, 49_999, 2), ms(s, -150), ErrOrderBounds},
		{"order above ceiling", 1, orderTx(kBob, market.Buy, s, 10, 300_001, 2), ms(s, -150), ErrOrderBounds},
		{"order zero energy", 1, orderTx(kBob, market.Buy, s, 0, 100_000, 2), ms(s, -150), ErrTxShape},
		{"order energy too large", 1, orderTx(kBob, market.Buy, s, MaxEnergy+1, 100_000, 2), ms(s, -150), ErrTxShape},
		{"order bad side", 1, orderTx(kBob, market.Side(3), s, 10, 100_000, 2), ms(s, -150), ErrTxShape},
		{"order at gate closure (late)", 1, orderTx(kBob, market.Buy, s, 10, 100_000, 2), ms(s, -60), ErrSlotClosed},
		{"order just before gate closure", 1, orderTx(kBob, market.Buy, s, 10, 100_000, 2), ms(s, -60) - 1, nil},
		{"order before the slot opens", 1, orderTx(kBob, market.Buy, s+10, 10, 100_000, 2), ms(s, -150), ErrSlotClosed},
		{"order for a past slot", 1, orderTx(kBob, market.Buy, s-5, 10, 100_000, 2), ms(s, -150), ErrSlotClosed},
		{"order for an absurd slot", 1, orderTx(kBob, market.Buy, math.MaxInt64/1000, 10, 100_000, 2), ms(s, -150), ErrSlotClosed},
		// Slot 10 + 2^59 has the same start as slot 10 in wrapped int64 arithmetic.
		{"order for a slot aliasing an open one", 1, orderTx(kBob, market.Buy, s+1<<59, 10, 100_000, 2), ms(s, -150), ErrSlotClosed},
		{"order for the lowest slot", 1, orderTx(kBob, market.Buy, math.MinInt64, 10, 100_000, 2), ms(s, -150), ErrSlotClosed},
		{"attest for an absurd slot", 1, attestTx(kBob, math.MaxInt64/60, 1, 0), ms(s, 70), ErrAttestWindow},
		{"attest for the lowest slot", 1, attestTx(kBob, math.MinInt64+5, 1, 0), ms(s, 70), ErrAttestWindow},
		{"replayed order", 1, aliceSell, ms(s, -150), ErrDuplicate},
		{"other network", 1, otherNet, ms(s, -150), ErrChainID},
		{"bad signature", 1, badSig, ms(s, -150), ErrSignature},
		{"forged sender", 1, forged, ms(s, -150), ErrSignature},
		{"cancel own order", 1, sign(kAlice, Tx{Cancel: &Cancel{Order: aliceSell.Hash()}}), ms(s, -150), nil},
		{"cancel by non-owner", 1, sign(kBob, Tx{Cancel: &Cancel{Order: aliceSell.Hash()}}), ms(s, -150), ErrNotOwner},
		{"cancel unknown order", 1, sign(kAlice, Tx{Cancel: &Cancel{Order: ident.Hash{9}}}), ms(s, -150), ErrNoOrder},
		{"cancel another's order", 1, sign(kAlice, Tx{Cancel: &Cancel{Order: bobBuy.Hash()}}), ms(s, -150), ErrNotOwner},
		{"cancel a non-order tx", 2, sign(kAlice, Tx{Cancel: &Cancel{Order: attestTx(kAlice, s, 0, 1000).Hash()}}), ms(s, 70), ErrNoOrder},
		{"cancel after gate closure", 1, sign(kAlice, Tx{Cancel: &Cancel{Order: aliceSell.Hash()}}), ms(s, -60), ErrSlotClosed},
		{"attest in window", 1, attestTx(kBob, s, 500, 0), ms(s, 60), nil},
		{"attest before slot end", 1, attestTx(kBob, s, 500, 0), ms(s, 59), ErrAttestWindow},
		{"attest at settle time", 2, attestTx(kBob, s, 500, 0), ms(s, 120), ErrAttestWindow},
		{"attest twice", 2, attestTx(kAlice, s, 0, 999), ms(s, 70), ErrAttested},
		{"attest by non-participant", 2, attestTx(kMallory, s, 0, 999), ms(s, 70), ErrNotAdmitted},
		{"attest slot without orders", 2, attestTx(kBob, s+1, 5, 0), ms(s+1, 70), ErrNothingToSettle},
		{"attest negative", 2, attestTx(kBob, s, -1, 0), ms(s, 70), ErrTxShape},
		{"two payloads", 1, sign(kAlice, Tx{Order: &Order{Side: market.Sell, Slot: s, Energy: 1, Price: 60_000}, Cancel: &Cancel{Order: ident.Hash{1}}}), ms(s, -150), ErrTxShape},
		{"kind mismatch", 1, func() Tx {
			tx := Tx{ChainID: "test-net", Kind: TxAttest, From: kAlice.acct, Order: &Order{Side: market.Sell, Slot: s, Energy: 1, Price: 60_000}}
			tx.Sign(kAlice.priv)
			return tx
		}(), ms(s, -150), ErrTxShape},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base(t, tc.upTo)
			err := c.CheckTx(tc.tx, tc.at)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("CheckTx = %v, want %v", err, tc.want)
			}
			_, errs := c.Propose(tc.at, kAuth.acct, []Tx{tc.tx})
			if got := errs[0]; (got == nil) != (err == nil) {
				t.Fatalf("Propose verdict %v, CheckTx verdict %v", got, err)
			}
		})
	}
}

// TestReplayWithinBlock: the same tx twice in one proposal is included once.
func TestReplayWithinBlock(t *testing.T) {
	c := openMem(t, testGenesis())
	tx := orderTx(kAlice, market.Sell, 10, 100, 100_000, 1)
	b, errs := c.Propose(ms(10, -200), kAuth.acct, []Tx{tx, tx})
	if errs[0] != nil || !errors.Is(errs[1], ErrDuplicate) || len(b.Txs) != 1 {
		t.Fatalf("errs = %v, txs %d; want [nil, ErrDuplicate], 1 tx", errs, len(b.Txs))
	}
}

// TestCancelledOrderNotCleared: a cancelled order takes no part in clearing.
func TestCancelledOrderNotCleared(t *testing.T) {
	c := openMem(t, testGenesis())
	const s = unit.Slot(10)
	sell := orderTx(kAlice, market.Sell, s, 100, 100_000, 1)
	produce(t, c, ms(s, -200), sell, orderTx(kBob, market.Buy, s, 100, 200_000, 1))
	produce(t, c, ms(s, -100), sign(kAlice, Tx{Cancel: &Cancel{Order: sell.Hash()}}))
	if err := c.CheckTx(sign(kAlice, Tx{Cancel: &Cancel{Order: sell.Hash()}, Nonce: 1}), ms(s, -90)); !errors.Is(err, ErrNoOrder) {
		t.Fatalf("second cancel: %v, want ErrNoOrder", err)
	}
	_, evs := produce(t, c, ms(s, -60))
	if cl := evs[0].(SlotCleared); cl.Result.Volume != 0 {
		t.Fatalf("volume = %d, want 0 after cancel", cl.Result.Volume)
	}
}

// TestTariffTxApplies: a later tariff bounds later orders and clears later slots.
func TestTariffTxApplies(t *testing.T) {
	c := openMem(t, testGenesis())
	const s = unit.Slot(10)
	produce(t, c, ms(s, -250), sign(kAuth, Tx{Tariff: &Tariff{Floor: 10_000, Ceiling: 500_000, Fee: 30_000, Seq: 5}}))
	if got := c.Tariff(); got.Seq != 5 || got.Ceiling != 500_000 {
		t.Fatalf("tariff = %+v, want seq 5 ceiling 500000", got)
	}
	produce(t, c, ms(s, -200), orderTx(kBob, market.Buy, s, 100, 400_000, 1), orderTx(kAlice, market.Sell, s, 100, 20_000, 1))
	_, evs := produce(t, c, ms(s, -60))
	if cl := evs[0].(SlotCleared); cl.Result.Volume != 100 {
		t.Fatalf("volume = %d, want 100", cl.Result.Volume)
	}
	produce(t, c, ms(s, 61), attestTx(kAlice, s, 0, 100))
	_, evs = produce(t, c, ms(s, 120))
	st := evs[0].(SlotSettled).Settlement
	if len(st.Trades) != 1 || st.Trades[0].Fee != 3000 {
		t.Fatalf("settlement = %+v, want one trade with fee 3000 (100 Wh at the new fee 30000/kWh)", st)
	}
}

// TestVerifiedCache: a tx verified once is not trusted in any other form.
func TestVerifiedCache(t *testing.T) {
	c := openMem(t, testGenesis())
	tx := orderTx(kAlice, market.Sell, 10, 100, 100_000, 1)
	if err := c.CheckTx(tx, ms(10, -200)); err != nil {
		t.Fatal(err)
	}
	for _, mutate := range []func(*Tx){
		func(tx *Tx) { tx.Nonce++ },
		func(tx *Tx) { tx.Order = &Order{Side: market.Sell, Slot: 10, Energy: 101, Price: 100_000} },
		func(tx *Tx) { tx.From = kBob.acct },
	} {
		bad := tx
		mutate(&bad)
		if err := c.CheckTx(bad, ms(10, -200)); !errors.Is(err, ErrSignature) {
			t.Errorf("CheckTx(tampered after a cached verify) = %v, want ErrSignature", err)
		}
	}
}
