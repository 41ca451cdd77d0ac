package chain

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

func sampleTxs() []Tx {
	return []Tx{
		orderTx(kAlice, market.Sell, 10, 1000, 100_000, 1),
		orderTx(kBob, market.Buy, -3, 1, 0, 1<<63),
		attestTx(kAlice, 10, 0, 800),
		sign(kAuth, Tx{Admit: &Admit{Participant: kCarol.acct, Name: "Carol <house & garden> \u00e9"}}),
		sign(kAuth, Tx{Tariff: &Tariff{Floor: 1, Ceiling: 10, Fee: 2, Seq: 3}}),
		sign(kAuth, Tx{Tariff: &Tariff{Floor: 1, Ceiling: 10, Fee: 2, Seq: 4, LateSeconds: 10_800}}),
		sign(kAlice, Tx{Cancel: &Cancel{Order: ident.Hash{1, 2, 3}}}),
	}
}

func TestTxRoundTrip(t *testing.T) {
	for _, tx := range sampleTxs() {
		enc := tx.Encode()
		got, err := DecodeTx(enc)
		if err != nil {
			t.Fatalf("DecodeTx(%s) = %v", enc, err)
		}
		if !bytes.Equal(got.Encode(), enc) || got.Hash() != tx.Hash() {
			t.Fatalf("round trip changed %s to %s", enc, got.Encode())
		}
		if err := got.Verify(); err != nil {
			t.Fatalf("Verify(decoded %s) = %v", tx.Kind, err)
		}
	}
}

func TestDecodeTxStrict(t *testing.T) {
	tx := orderTx(kAlice, market.Sell, 10, 1000, 100_000, 1)
	enc := string(tx.Encode())
	cases := map[string]string{
		"trailing data":   enc + " ",
		"two values":      enc + enc,
		"unknown field":   strings.Replace(enc, `"nonce":1`, `"nonce":1,"extra":1`, 1),
		"case-folded key": strings.Replace(enc, `"nonce"`, `"Nonce"`, 1),
		"duplicate key":   strings.Replace(enc, `"nonce":1`, `"nonce":1,"nonce":1`, 1),
		"whitespace":      strings.Replace(enc, `"nonce":1`, `"nonce": 1`, 1),
		"field order":     strings.Replace(strings.Replace(enc, `"kind":3,`, ``, 1), `"nonce":1`, `"nonce":1,"kind":3`, 1),
		"float":           strings.Replace(enc, `"nonce":1`, `"nonce":1.0`, 1),
		"uppercase hash":  strings.Replace(string(sign(kAlice, Tx{Cancel: &Cancel{Order: ident.Hash{0xab}}}).Encode()), `"ab00`, `"AB00`, 1),
		"empty sig":       strings.Replace(enc, enc[strings.Index(enc, `,"sig"`):], `,"sig":""}`, 1),
		"null payload":    strings.Replace(enc, `"order":`, `"admit":null,"order":`, 1),
		"not json":        "\x00",
		"empty":           "",
		"too large":       `{"chain_id":"` + strings.Repeat("a", MaxTxBytes) + `"}`,
	}
	for name, in := range cases {
		if _, err := DecodeTx([]byte(in)); err == nil {
			t.Errorf("%s: DecodeTx accepted %q", name, in)
		}
	}
	upper := tx
	upper.From = ident.Account(strings.ToUpper(string(tx.From)))
	if _, err := DecodeTx(upper.Encode()); err != nil {
		t.Errorf("DecodeTx(uppercase from) = %v: accounts are checked by Verify, not the decoder", err)
	}
	if err := upper.Verify(); !errors.Is(err, ErrAccount) {
		t.Errorf("Verify(uppercase from) = %v, want ErrAccount", err)
	}
	if _, err := DecodeTx([]byte(cases["too large"])); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v, want ErrTooLarge", err)
	}
}

func TestSignatureCoversChainID(t *testing.T) {
	tx := orderTx(kAlice, market.Sell, 10, 1000, 100_000, 1)
	tx.ChainID = "other-net"
	if err := tx.Verify(); !errors.Is(err, ErrSignature) {
		t.Fatalf("Verify after changing chain id = %v, want ErrSignature", err)
	}
}

func sampleBlock() Block {
	txs := sampleTxs()
	return Block{Header: Header{ChainID: "test-net", Height: 7, Time: 1_700_000_000_123, Parent: ident.Hash{9},
		TxRoot: TxRoot(txs), StateHash: ident.Hash{4}, Proposer: kAuth.acct}, Txs: txs}
}

func TestBlockRoundTrip(t *testing.T) {
	for _, b := range []Block{sampleBlock(), {Header: Header{ChainID: "x"}}} {
		enc := b.Encode()
		got, err := DecodeBlock(enc)
		if err != nil {
			t.Fatalf("DecodeBlock = %v", err)
		}
		if got.Hash() != b.Hash() || !bytes.Equal(got.Encode(), enc) {
			t.Fatalf("round trip changed the block")
		}
	}
	enc := string(Block{Header: Header{ChainID: "x"}}.Encode())
	for _, bad := range []string{strings.Replace(enc, `"txs":[]`, `"txs":null`, 1), strings.Replace(enc, `,"txs":[]`, ``, 1), enc + "\n"} {
		if _, err := DecodeBlock([]byte(bad)); err == nil {
			t.Errorf("DecodeBlock accepted %q", bad)
		}
	}
}

func TestTxRootOrderMatters(t *testing.T) {
	txs := sampleTxs()
	rev := []Tx{txs[1], txs[0]}
	if TxRoot(txs[:2]) == TxRoot(rev) || TxRoot(nil) == TxRoot(txs[:1]) {
		t.Fatalf("TxRoot does not commit to order and content")
	}
}

// FuzzDecodeTx: DecodeTx accepts exactly what encoding/json's strict decode
// accepts and re-encodes to the same bytes, with the same value; anything
// accepted re-encodes to the same bytes, and Verify never panics on it.
func FuzzDecodeTx(f *testing.F) {
	for _, tx := range sampleTxs() {
		f.Add(tx.Encode())
	}
	for _, b := range fuzzSeedTxs() {
		f.Add(b)
	}
	f.Add([]byte(`{"chain_id":"a","kind":9,"from":"","nonce":0}`))
	f.Add([]byte(`{}`))
	// An upgrade vote (upgrade.go) and a transaction of a later format.
	up := upgradeTx(kAuth, UpgradeTariffSeqNext, 12, 1).Encode()
	f.Add(up)
	f.Add(append([]byte(`{"format":2,`), up[1:]...))
	// Release votes (release.go): an announcement, a key rotation, and an
	// empty keys array (no canonical form).
	f.Add(announceTx(kAuth, "v1.5.0", "manifest", 1).Encode())
	f.Add(keysTx(kAuth, 1, releaseKeyString("a"), releaseKeyString("b")).Encode())
	f.Add([]byte(`{"chain_id":"a","kind":9,"from":"","nonce":0,"release":{"keys":[]}}`))
	// The order lifecycle's optional fields (order_rules.go).
	life := orderTx(kAlice, market.Sell, 10, 5, 100_000, 3)
	life.Order.Replaces, life.Order.Expires = &ident.Hash{0xab}, 42
	f.Add(sign(kAlice, life).Encode())
	// A curve order (order_rules.go, Curve orders), and one step too many.
	f.Add(curveTx(kAlice, market.Buy, 10, 4, []CurveStep{{100, 250_000}, {200, 200_000}}).Encode())
	var long []CurveStep
	for i := range MaxCurveSteps + 1 {
		long = append(long, CurveStep{Energy: 1, Price: unit.Price(100_000 + i)})
	}
	f.Add(curveTx(kAlice, market.Sell, 10, 5, long).Encode())
	c, err := OpenMemory(testGenesis())
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeTx(t, b)
		tx, err := DecodeTx(b)
		if err != nil {
			return
		}
		if enc := tx.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("accepted non-canonical %q (canonical %q)", b, enc)
		}
		_ = tx.Hash()
		if err := tx.Verify(); err == nil {
			_ = c.CheckTx(tx, ms(10, -100))
		}
	})
}

// FuzzDecodeBlock: DecodeBlock accepts exactly what encoding/json's strict
// decode accepts and re-encodes to the same bytes, with the same value; anything
// accepted re-encodes to the same bytes.
func FuzzDecodeBlock(f *testing.F) {
	f.Add(sampleBlock().Encode())
	for _, b := range fuzzSeedBlocks() {
		f.Add(b)
	}
	f.Add(Block{}.Encode())
	f.Add([]byte(`{"header":{},"txs":[{}]}`))
	c, err := OpenMemory(testGenesis())
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	good, _ := c.Propose(ms(10, -200), kAuth.acct, sampleTxs())
	f.Add(good.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeBlock(t, b)
		blk, err := DecodeBlock(b)
		if err != nil {
			return
		}
		if enc := blk.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("accepted non-canonical %q (canonical %q)", b, enc)
		}
		_ = blk.Hash()
		// Validation must not panic on any decodable block; it changes nothing.
		_ = c.Validate(blk, ms(10, -100))
	})
}
