package chain

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// The constants below were taken from the code before issue 18's refactoring
// (one identity and hash type, the codec as the specification, the applyTx
// dispatch). A change here means an encoding, a hash or the state machine
// changed: every node of a running network would disagree with the others.

// pinnedTxs is one transaction of every kind, signed with the test keys
// (ed25519 signatures are deterministic).
func pinnedTxs() []Tx {
	return []Tx{
		sign(kAuth, Tx{Nonce: 1, Admit: &Admit{Participant: kCarol.acct, Name: "Carol \"C\" <c@x> é\u2028"}}),
		sign(kAuth, Tx{Nonce: 2, Tariff: &Tariff{Floor: 60_000, Ceiling: 280_000, Fee: 15_000, Seq: 1}}),
		orderTx(kAlice, market.Sell, 42, 1500, 120_000, 3),
		sign(kBob, Tx{Nonce: 4, Cancel: &Cancel{Order: ident.Hash{0xde, 0xad, 0xbe, 0xef}}}),
		attestTx(kAlice, 41, 250, 1750),
		sign(kAuth, Tx{Kind: TxEvidence, Nonce: 6, Evidence: &Evidence{A: []byte{1, 2, 3}, B: []byte("four")}}),
		sign(kAuth, Tx{Kind: TxAuthority, Nonce: 7, Authority: &AuthorityChange{Add: true, Key: kCarol.acct}}),
	}
}

func TestPinnedEncodings(t *testing.T) {
	txs := pinnedTxs()
	wantTx := []string{
		"admit 44817169db088f81e1b1fd2aaddbc3b462e81983d4360dc08b60517b2e629558 350 bytes",
		"tariff ccc186620756ef36fdfeb118e2f8ccd1254a920d8282f455f62abe657d48f027 275 bytes",
		"order dfcc26346d0a28c943e2ee7f54be276c82832ccc3992c4dc490f25e16d7760ae 271 bytes",
		"cancel 2d84530e265248d8f9239235748e5cbf1469c46cb3c86dae46a71bc68c713106 299 bytes",
		"attest b95fec402bfff74575563ff5add0e85b8e268f4d400f39183d9f8248f96ee510 338 bytes",
		"evidence 9bcde88db754e3117b0e977a23236d78b9bf5699fb6fdb5563617480a248fe87 252 bytes",
		"authority cdf89b87a1bdc81dfe0d6c50b1f4cc82d155287516f212e0709fac9318df9628 311 bytes",
	}
	for i, tx := range txs {
		enc := tx.Encode()
		got := fmt.Sprintf("%s %s %d bytes", tx.Kind, tx.Hash(), len(enc))
		if got != wantTx[i] {
			t.Errorf("tx %d (%s): got %q, want %q", i, tx.Kind, got, wantTx[i])
		}
	}
	// The full bytes of one order, so a reader sees the format.
	const wantOrder = `{"chain_id":"test-net","kind":3,"from":"d3212259999f628d9bd6ea801f88cc5858fa55850f0e66a48ed54f41e6e50a8b","nonce":3,"order":{"side":2,"slot":42,"energy":1500,"price":120000},"sig":"XGdr7CjFdqLSjLyaSYx2vy19f4GXIJ5rfhTqWX9fzlBdZ0G64RPwaG4KVY25jGSpQ9kim6TpBF7u7Gsh4w7yDA=="}`
	if got := string(txs[2].Encode()); got != wantOrder {
		t.Errorf("order encoding:\n got %s\nwant %s", got, wantOrder)
	}
	b := Block{Header: Header{ChainID: "test-net", Height: 7, Time: 1_700_000_123_456, Parent: ident.Hash{1}, TxRoot: TxRoot(txs), StateHash: ident.Hash{2}, Proposer: kAuth.acct}, Txs: txs}
	got := fmt.Sprintf("%x %s %s", sha256.Sum256(b.Encode()), b.Hash(), b.Header.TxRoot)
	if want := "8742475a4762771170b76bdc88d6381bff54ad7703933aa3620835292a0a46a8 071e596a1843fc1b26f0e682cda5efd1054986d997a8b0bd6a9020580759e925 e99114aa611b38eb452cd5038a7525c3344d973c58e9350de96eb600a91d7132"; got != want {
		t.Errorf("block: got %q, want %q", got, want)
	}
	// The genesis hash (encoding/json of Genesis, a store record).
	if got, want := testGenesis().Hash().String(), "af66972901ce7a5c09d2c78b16e67b702f7eca81e9c158cdf10b2e36bdd58b4d"; got != want {
		t.Errorf("genesis hash %s, want %s", got, want)
	}
	empty := Block{Header: Header{ChainID: "test-net", Height: 1, Time: 1, Proposer: kAuth.acct}}
	if got, want := string(empty.Encode()), `{"header":{"chain_id":"test-net","height":1,"time":1,"parent":"0000000000000000000000000000000000000000000000000000000000000000","tx_root":"0000000000000000000000000000000000000000000000000000000000000000","state_hash":"0000000000000000000000000000000000000000000000000000000000000000","proposer":"f3df53f10f0a826b67bcaabff5a1028f6fe456263fbaf1ee39ee8b561877d63c"},"txs":[]}`; got != want {
		t.Errorf("empty block encoding:\n got %s\nwant %s", got, want)
	}
}

// TestPinnedScenario runs a fixed random scenario (orders, cancels,
// attestations, a tariff change, an admission) through Propose and Commit and
// pins the head: height, block hash and state hash.
func TestPinnedScenario(t *testing.T) {
	g := testGenesis()
	g.SlotSeconds, g.OpenLeadSeconds, g.GateLeadSeconds, g.AttestWindowSeconds = 10, 40, 5, 10
	c := openMem(t, g)
	rng := rand.New(rand.NewPCG(18, 2026))
	homes := []key{kAlice, kBob, kCarol}
	now := g.Epoch*1000 + 1000
	var orders []Tx
	nonce := uint64(0)
	commit := func(txs []Tx) {
		t.Helper()
		b, _ := c.Propose(now, kAuth.acct, txs)
		if _, err := c.Commit(b, nil); err != nil {
			t.Fatalf("commit %d: %v", b.Header.Height, err)
		}
		for _, tx := range b.Txs {
			if tx.Kind == TxOrder {
				orders = append(orders, tx)
			}
		}
	}
	commit([]Tx{sign(kAuth, Tx{Admit: &Admit{Participant: kCarol.acct, Name: "carol"}})})
	for step := range 60 {
		now += int64(500 + rng.IntN(2500))
		var txs []Tx
		if step == 30 {
			txs = append(txs, sign(kAuth, Tx{Nonce: 99, Tariff: &Tariff{Floor: 60_000, Ceiling: 290_000, Fee: 10_000, Seq: 1}}))
		}
		for range rng.IntN(6) {
			h := homes[rng.IntN(len(homes))]
			nonce++
			open := c.OpenSlots(now)
			switch r := rng.IntN(10); {
			case r < 6 && len(open) > 0:
				side := market.Buy
				if rng.IntN(2) == 0 {
					side = market.Sell
				}
				txs = append(txs, orderTx(h, side, open[rng.IntN(len(open))], unit.Wh(1+rng.IntN(2000)), unit.Price(60_000+rng.IntN(220_000)), nonce))
			case r < 7 && len(orders) > 0:
				o := orders[rng.IntN(len(orders))]
				txs = append(txs, sign(h, Tx{Nonce: nonce, Cancel: &Cancel{Order: o.Hash()}}))
			default:
				txs = append(txs, attestTx(h, g.SlotAt(now)-unit.Slot(rng.IntN(3)), unit.Wh(rng.IntN(3000)), unit.Wh(rng.IntN(3000))))
			}
		}
		if len(txs) == 0 && !c.Due(now) {
			continue
		}
		commit(txs)
	}
	for c.Due(now + 1_000_000) {
		now += 1_000_000
		commit(nil)
	}
	st := c.Status()
	h := c.Head()
	got := fmt.Sprintf("height %d block %s state %s balances %v", st.Height, h.Hash(), st.StateHash, c.Balances())
	if want := "height 56 block 79796394bff40258d2fe68ffa61b0a4bdd0403e27b9f7ef5080869086450c310 state c928f4ecf4593db987eeb2059afbe69deac26e5984d13a5737d4ce8ecebda159 balances map[524764ce9a3979c8304a48bdea842b79ea1950175340e387623fbf2fa73548db:0.194309 b23764047e9044bf7f418b70006d3cfd053a3f4c065b54dd7a75bd51fdfb72d3:0.032806 b781df71532097942ba24aaaa94ff2478c07a621a25dfd8f1517ad279d95acf1:0.077500 d3212259999f628d9bd6ea801f88cc5858fa55850f0e66a48ed54f41e6e50a8b:-0.304615]"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
