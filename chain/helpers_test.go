package chain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

type key struct {
	priv ed25519.PrivateKey
	acct ident.Account
}

func newKey(name string) key {
	seed := sha256.Sum256([]byte("test key " + name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	return key{priv: priv, acct: ident.AccountOf(priv.Public().(ed25519.PublicKey))}
}

var (
	kAuth     = newKey("authority")
	kOperator = newKey("operator")
	kAlice    = newKey("alice")
	kBob      = newKey("bob")
	kCarol    = newKey("carol")
	kMallory  = newKey("mallory") // never admitted
)

const testEpoch = 1_700_000_000

func testGenesis() Genesis {
	return Genesis{
		ChainID:             "test-net",
		Epoch:               testEpoch,
		SlotSeconds:         60,
		OpenLeadSeconds:     300,
		GateLeadSeconds:     60,
		AttestWindowSeconds: 60,
		Authorities:         []ident.Account{kAuth.acct},
		Participants:        []ident.Account{kAlice.acct, kBob.acct},
		Operator:            kOperator.acct,
		Tariff:              market.Tariff{Floor: 50_000, Ceiling: 300_000, Fee: 20_000},
		Params:              market.DefaultParams(),
		Dev:                 true,
	}
}

func sign(k key, tx Tx) Tx {
	if tx.ChainID == "" {
		tx.ChainID = "test-net"
	}
	tx.From = k.acct
	switch {
	case tx.Admit != nil:
		tx.Kind = TxAdmit
	case tx.Tariff != nil:
		tx.Kind = TxTariff
	case tx.Order != nil:
		tx.Kind = TxOrder
	case tx.Cancel != nil:
		tx.Kind = TxCancel
	case tx.Attest != nil:
		tx.Kind = TxAttest
	}
	tx.Sign(k.priv)
	return tx
}

func orderTx(k key, side market.Side, slot unit.Slot, e unit.Wh, p unit.Price, nonce uint64) Tx {
	return sign(k, Tx{Nonce: nonce, Order: &Order{Side: side, Slot: slot, Energy: e, Price: p}})
}

func attestTx(k key, slot unit.Slot, imp, exp unit.Wh) Tx {
	return sign(k, Tx{Attest: &Attest{Slot: slot, Import: imp, Export: exp, Journal: ident.Hash{1}}})
}

func openMem(t *testing.T, g Genesis) *Chain {
	t.Helper()
	c, err := OpenMemory(g)
	if err != nil {
		t.Fatalf("OpenMemory: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// produce proposes a block at nowMs with txs, requires every tx to be included,
// validates it as another node would and commits it.
func produce(t *testing.T, c *Chain, nowMs int64, txs ...Tx) (Block, []Event) {
	t.Helper()
	b, errs := c.Propose(nowMs, kAuth.acct, txs)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Propose at %d: tx %d (%s) dropped: %v", nowMs, i, txs[i].Kind, err)
		}
	}
	evs, err := c.Commit(b, []byte("cert"))
	if err != nil {
		t.Fatalf("Commit height %d: %v", b.Header.Height, err)
	}
	return b, evs
}

// ms is a time in ms relative to the start of slot s of testGenesis.
func ms(s unit.Slot, offsetSec int64) int64 { return testGenesis().SlotStart(s) + offsetSec*1000 }
