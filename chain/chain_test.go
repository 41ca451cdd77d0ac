package chain

import (
	"errors"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

func sumBalances(m map[ident.Account]unit.Money) unit.Money {
	var s unit.Money
	for _, v := range m {
		s += v
	}
	return s
}

// TestEndToEnd drives the state machine through admission, orders, gate closure,
// attestations and settlement over several blocks, on a second chain too, which
// validates every block and must reach the same state hashes.
func TestEndToEnd(t *testing.T) {
	g := testGenesis()
	c := openMem(t, g)
	follower := openMem(t, g)
	const s = unit.Slot(10)

	step := func(now int64, txs ...Tx) []Event {
		t.Helper()
		b, evs := produce(t, c, now, txs...)
		if err := follower.Validate(b, now); err != nil {
			t.Fatalf("follower Validate height %d: %v", b.Header.Height, err)
		}
		fevs, err := follower.Commit(b, []byte("cert"))
		if err != nil {
			t.Fatalf("follower Commit: %v", err)
		}
		if len(fevs) != len(evs) {
			t.Fatalf("follower events %d, want %d", len(fevs), len(evs))
		}
		if got, want := follower.Status().StateHash, c.Status().StateHash; got != want {
			t.Fatalf("height %d: follower state hash %s, want %s", b.Header.Height, got, want)
		}
		return evs
	}

	// Block 1: admit carol; alice sells, bob buys (slot open: start-300s .. start-60s).
	sell := orderTx(kAlice, market.Sell, s, 1000, 100_000, 1)
	buy := orderTx(kBob, market.Buy, s, 600, 200_000, 1)
	admit := sign(kAuth, Tx{Admit: &Admit{Participant: kCarol.acct, Name: "carol"}})
	if evs := step(ms(s, -200), admit, sell, buy); len(evs) != 0 {
		t.Fatalf("block 1 events = %v, want none", evs)
	}
	if c.Due(ms(s, -61)) {
		t.Fatalf("Due before gate closure = true, want false")
	}
	if !c.Due(ms(s, -60)) {
		t.Fatalf("Due at gate closure = false, want true")
	}
	// Block 2: carol (just admitted) buys too.
	buy2 := orderTx(kCarol, market.Buy, s, 300, 150_000, 1)
	step(ms(s, -100), buy2)
	if got := len(c.Orders(s)); got != 3 {
		t.Fatalf("orders in slot = %d, want 3", got)
	}

	// Block 3 at gate closure: the slot clears.
	evs := step(ms(s, -60))
	if len(evs) != 1 {
		t.Fatalf("gate closure events = %#v, want one SlotCleared", evs)
	}
	cl, ok := evs[0].(SlotCleared)
	if !ok || cl.Slot != s || cl.Result.Volume != 900 {
		t.Fatalf("cleared = %#v, want slot %d volume 900", evs[0], s)
	}
	if r, ok := c.Result(s); !ok || r.Volume != 900 {
		t.Fatalf("Result(%d) = %v, %v; want volume 900", s, r, ok)
	}
	if st := c.Status(); st.LastCleared != s || st.LastSettled != -1 {
		t.Fatalf("status = %+v, want last cleared %d, settled -1", st, s)
	}
	if c.Due(ms(s, 119)) {
		t.Fatalf("Due before settle time = true")
	}

	// Block 4 after the slot ends: attestations. alice exported only 800 of 900.
	step(ms(s, 61), attestTx(kAlice, s, 0, 800), attestTx(kBob, s, 600, 0))
	// carol does not attest: she is taken to have consumed what she bought.

	// Block 5 at SettleAt: settlement.
	evs = step(ms(s, 120))
	if len(evs) != 1 {
		t.Fatalf("settle events = %#v, want one SlotSettled", evs)
	}
	se, ok := evs[0].(SlotSettled)
	if !ok || se.Slot != s {
		t.Fatalf("settled = %#v", evs[0])
	}
	if se.Settlement.Energy != 800 {
		t.Fatalf("settled energy = %d, want 800", se.Settlement.Energy)
	}
	bal := c.Balances()
	if got := sumBalances(bal); got != 0 {
		t.Fatalf("balances sum = %d, want 0 (%v)", got, bal)
	}
	if bal[kAlice.acct] <= 0 || bal[kBob.acct] >= 0 || bal[kOperator.acct] <= 0 {
		t.Fatalf("balances = %v: want alice > 0, bob < 0, operator > 0", bal)
	}
	if st := c.Status(); st.LastSettled != s {
		t.Fatalf("LastSettled = %d, want %d", st.LastSettled, s)
	}
	if c.Due(ms(s, 1000)) {
		t.Fatalf("Due after settlement = true, want false")
	}

	// Nothing is settled twice: later blocks leave balances alone.
	step(ms(s, 500))
	if got := c.Balances(); len(got) != len(bal) || got[kAlice.acct] != bal[kAlice.acct] {
		t.Fatalf("balances changed after settlement: %v, want %v", got, bal)
	}
	// Replays of settled-slot txs are refused (by timing, after pruning).
	for _, tx := range []Tx{sell, buy, attestTx(kAlice, s, 0, 800)} {
		if err := c.CheckTx(tx, ms(s, 500)); err == nil {
			t.Errorf("CheckTx(replayed %s) = nil, want error", tx.Kind)
		}
	}
}

// TestNoTradesClosesAtOnce: a slot with orders but no trades clears with volume 0
// and settles in the same block.
func TestNoTradesClosesAtOnce(t *testing.T) {
	c := openMem(t, testGenesis())
	const s = unit.Slot(3)
	produce(t, c, ms(s, -200), orderTx(kAlice, market.Sell, s, 100, 290_000, 1), orderTx(kBob, market.Buy, s, 100, 60_000, 1))
	_, evs := produce(t, c, ms(s, -60))
	if len(evs) != 2 {
		t.Fatalf("events = %#v, want SlotCleared and SlotSettled", evs)
	}
	if cl, ok := evs[0].(SlotCleared); !ok || cl.Result.Volume != 0 {
		t.Fatalf("first event = %#v, want SlotCleared volume 0", evs[0])
	}
	if _, ok := evs[1].(SlotSettled); !ok {
		t.Fatalf("second event = %#v, want SlotSettled", evs[1])
	}
	if c.Due(ms(s, 1000)) {
		t.Fatalf("Due = true after the slot closed")
	}
	if err := c.CheckTx(attestTx(kAlice, s, 0, 100), ms(s, 61)); !errors.Is(err, ErrNothingToSettle) {
		t.Fatalf("attest for closed slot: %v, want ErrNothingToSettle", err)
	}
}

// TestResultsAreCopies: changing what Commit, Result or Settlement returned does
// not change the chain.
func TestResultsAreCopies(t *testing.T) {
	g := testGenesis()
	c, other := openMem(t, g), openMem(t, g)
	const s = unit.Slot(10)
	step := func(now int64, txs ...Tx) []Event {
		b, evs := produce(t, c, now, txs...)
		if _, err := other.Commit(b, nil); err != nil {
			t.Fatal(err)
		}
		return evs
	}
	step(ms(s, -200), orderTx(kAlice, market.Sell, s, 100, 100_000, 1), orderTx(kBob, market.Buy, s, 100, 200_000, 1))
	evs := step(ms(s, -60))
	evs[0].(SlotCleared).Result.Trades[0].Energy = 1
	r, _ := c.Result(s)
	r.Trades[0].Buyer = "x"
	gen := c.Genesis()
	gen.Authorities[0] = kAlice.acct
	step(ms(s, 61), attestTx(kAlice, s, 0, 100))
	evs = step(ms(s, 120))
	evs[0].(SlotSettled).Settlement.Transfers[0].Amount = 1
	if r, _ := c.Result(s); r.Trades[0].Energy != 100 || r.Trades[0].Buyer != string(kBob.acct) {
		t.Fatalf("stored result changed through a returned copy: %+v", r.Trades[0])
	}
	if c.Genesis().Authorities[0] != kAuth.acct {
		t.Fatalf("genesis changed through a returned copy")
	}
	if c.Status() != other.Status() {
		t.Fatalf("status %+v differs from an untouched chain's %+v", c.Status(), other.Status())
	}
}

func TestStatement(t *testing.T) {
	c := openMem(t, testGenesis())
	for _, s := range []unit.Slot{10, 20} {
		produce(t, c, ms(s, -200), orderTx(kAlice, market.Sell, s, 1000, 100_000, 1), orderTx(kBob, market.Buy, s, 500, 200_000, 1))
		produce(t, c, ms(s, -60))
		produce(t, c, ms(s, 61), attestTx(kAlice, s, 0, 400))
		produce(t, c, ms(s, 120))
	}
	bal := c.Balances()
	for _, k := range []key{kAlice, kBob, kOperator} {
		lines := c.Statement(k.acct, 0, 100)
		if len(lines) != 2 || lines[0].Slot != 10 || lines[1].Slot != 20 {
			t.Fatalf("statement of %s = %+v, want slots 10 and 20", k.acct[:8], lines)
		}
		var net unit.Money
		for _, l := range lines {
			net += l.Net
		}
		if net != bal[k.acct] {
			t.Errorf("statement of %s nets %d, balance %d", k.acct[:8], net, bal[k.acct])
		}
	}
	a := c.Statement(kAlice.acct, 11, 21)
	if len(a) != 1 || a[0].Sold != 400 || a[0].Received <= 0 || a[0].Net != a[0].Received {
		t.Fatalf("alice's slot 20 = %+v, want 400 Wh sold, net = received", a)
	}
	if got := c.Statement(kCarol.acct, 0, 100); len(got) != 0 {
		t.Fatalf("carol's statement = %+v, want none", got)
	}
}
