package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// The reference for the hand-written encoding is encoding/json, as the chain
// used it before: json.Marshal to encode, and to decode a strict json.Decoder
// (unknown fields refused, nothing after the value) followed by the check that
// the value re-encodes to the input.

func jsonTx(t testing.TB, tx Tx) []byte {
	t.Helper()
	b, err := json.Marshal(tx)
	if err != nil {
		t.Fatalf("json.Marshal(tx) = %v", err)
	}
	return b
}

func jsonBlock(t testing.TB, b Block) []byte {
	t.Helper()
	if b.Txs == nil {
		b.Txs = []Tx{}
	}
	enc, err := json.Marshal(b)
	if err != nil {
		t.Fatalf("json.Marshal(block) = %v", err)
	}
	return enc
}

func refDecodeTx(b []byte) (Tx, error) {
	if len(b) > MaxTxBytes {
		return Tx{}, fmt.Errorf("%w: tx is %d bytes, limit %d", ErrTooLarge, len(b), MaxTxBytes)
	}
	var tx Tx
	if err := strictDecode(b, &tx); err != nil {
		return Tx{}, err
	}
	if enc, _ := json.Marshal(tx); !bytes.Equal(enc, b) {
		return Tx{}, fmt.Errorf("%w: not canonical", ErrEncoding)
	}
	return tx, nil
}

func refDecodeBlock(b []byte) (Block, error) {
	if len(b) > MaxBlockBytes {
		return Block{}, fmt.Errorf("%w: block is %d bytes, limit %d", ErrTooLarge, len(b), MaxBlockBytes)
	}
	var blk Block
	if err := strictDecode(b, &blk); err != nil {
		return Block{}, err
	}
	if blk.Txs == nil {
		return Block{}, fmt.Errorf("%w: txs missing", ErrEncoding)
	}
	if enc, _ := json.Marshal(blk); !bytes.Equal(enc, b) {
		return Block{}, fmt.Errorf("%w: not canonical", ErrEncoding)
	}
	for i, tx := range blk.Txs {
		if enc, _ := json.Marshal(tx); len(enc) > MaxTxBytes {
			return Block{}, fmt.Errorf("tx %d: %w", i, ErrTooLarge)
		}
	}
	return blk, nil
}

// oddStrings are pieces that exercise every branch of JSON string escaping.
var oddStrings = []string{
	"", "a", "test-net", "\x00", "\x01", "\x1f", "\x7f", "\b", "\f", "\n", "\r", "\t",
	`"`, `\`, "/", "<", ">", "&", "<script>&amp;", "\u00e9", "\u2027", "\u2028", "\u2029", "\u202a",
	"\ufffd", "\ufeff", "\U0001F600", "\U0010FFFF", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xc0\x80",
	"\xf4\x90\x80\x80", "\xf0\x9f\x98", "é\xffé", "\\u0041", "a\"b\\c",
}

type txGen struct{ r *rand.Rand }

func (g txGen) str() string {
	var sb strings.Builder
	for n := g.r.IntN(5); n > 0; n-- {
		switch g.r.IntN(3) {
		case 0:
			sb.WriteString(oddStrings[g.r.IntN(len(oddStrings))])
		case 1:
			sb.WriteByte(byte(g.r.IntN(256)))
		default:
			sb.WriteString(string(kAlice.acct[:g.r.IntN(len(kAlice.acct)+1)]))
		}
	}
	return sb.String()
}

var edgeInts = []int64{0, 1, -1, 9, 10, -10, 99, 255, 256, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1}

func (g txGen) i64() int64 {
	if g.r.IntN(2) == 0 {
		return edgeInts[g.r.IntN(len(edgeInts))]
	}
	return g.r.Int64() >> g.r.IntN(64) * int64(1-2*g.r.IntN(2))
}

func (g txGen) u64() uint64 {
	switch g.r.IntN(3) {
	case 0:
		return []uint64{0, 1, 10, math.MaxUint64, math.MaxUint64 - 1, 1 << 63}[g.r.IntN(6)]
	case 1:
		return g.r.Uint64()
	}
	return g.r.Uint64() >> g.r.IntN(64)
}

func (g txGen) bytes() []byte {
	switch g.r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, g.r.IntN(70))
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g txGen) hash() (h ident.Hash) {
	if g.r.IntN(3) > 0 {
		for i := range h {
			h[i] = byte(g.r.Uint32())
		}
	}
	return h
}

func (g txGen) account() ident.Account {
	if g.r.IntN(3) == 0 {
		return ident.Account(g.str())
	}
	return []ident.Account{kAlice.acct, kBob.acct, kAuth.acct}[g.r.IntN(3)]
}

// tx returns a transaction with any combination of payloads (not only the
// valid one-payload shapes: the encoding must not depend on Verify).
func (g txGen) tx() Tx {
	tx := Tx{ChainID: g.str(), Kind: TxKind(g.r.IntN(256)), From: g.account(), Nonce: g.u64()}
	if g.r.IntN(2) == 0 {
		tx.ChainID = "test-net"
	}
	one := g.r.IntN(8) // usually exactly one payload, sometimes none or several
	set := func(i int) bool { return one == i || g.r.IntN(8) == 0 }
	if set(0) {
		tx.Admit = &Admit{Participant: g.account(), Name: g.str()}
	}
	if set(1) {
		tx.Tariff = &Tariff{Floor: unit.Price(g.i64()), Ceiling: unit.Price(g.i64()), Fee: unit.Price(g.i64()), Seq: g.u64(), LateSeconds: g.i64()}
	}
	if set(2) {
		tx.Order = &Order{Side: market.Side(g.r.IntN(256)), Slot: unit.Slot(g.i64()), Energy: unit.Wh(g.i64()), Price: unit.Price(g.i64())}
		g.lifecycle(tx.Order)
	}
	if set(3) {
		tx.Cancel = &Cancel{Order: g.hash()}
	}
	if set(4) {
		tx.Attest = &Attest{Slot: unit.Slot(g.i64()), Import: unit.Wh(g.i64()), Export: unit.Wh(g.i64()), Journal: g.hash()}
	}
	if set(5) {
		tx.Evidence = &Evidence{A: g.bytes(), B: g.bytes()}
	}
	if set(6) {
		tx.Authority = &AuthorityChange{Add: g.r.IntN(2) == 0, Key: g.account()}
	}
	tx.Sig = g.bytes()
	return tx
}

// lifecycle sometimes sets an order's optional fields: replaces, expires and
// a curve (nil, empty or up to 30 steps, beyond MaxCurveSteps).
func (g txGen) lifecycle(o *Order) {
	if g.r.IntN(4) == 0 {
		h := g.hash()
		o.Replaces = &h
	}
	if g.r.IntN(4) == 0 {
		o.Expires = g.u64()
	}
	switch g.r.IntN(4) {
	case 0:
		o.Curve = []CurveStep{}
	case 1:
		for n := 1 + g.r.IntN(30); n > 0; n-- {
			o.Curve = append(o.Curve, CurveStep{Energy: unit.Wh(g.i64()), Price: unit.Price(g.i64())})
		}
	}
}

func (g txGen) header() Header {
	return Header{ChainID: g.str(), Height: g.u64(), Time: g.i64(), Parent: g.hash(), TxRoot: g.hash(), StateHash: g.hash(), Proposer: g.account()}
}

func (g txGen) block() Block {
	b := Block{Header: g.header()}
	switch g.r.IntN(4) {
	case 0: // nil Txs
	case 1:
		b.Txs = []Tx{}
	default:
		for n := 1 + g.r.IntN(5); n > 0; n-- {
			b.Txs = append(b.Txs, g.tx())
		}
	}
	return b
}

// edgeTxs are hand-picked values on top of the random ones.
func edgeTxs() []Tx {
	txs := sampleTxs()
	for _, s := range oddStrings {
		txs = append(txs, Tx{ChainID: s, From: ident.Account(s), Admit: &Admit{Participant: ident.Account(s), Name: s}})
	}
	for _, v := range edgeInts {
		txs = append(txs,
			Tx{Kind: TxKind(v), Nonce: uint64(v), Tariff: &Tariff{Floor: unit.Price(v), Ceiling: unit.Price(-v), Fee: unit.Price(v), Seq: uint64(v), LateSeconds: -v}},
			Tx{Order: &Order{Side: market.Side(v), Slot: unit.Slot(v), Energy: unit.Wh(v), Price: unit.Price(v)}},
			Tx{Order: &Order{Side: market.Side(v), Curve: []CurveStep{{Energy: unit.Wh(v), Price: unit.Price(-v)}, {Energy: unit.Wh(-v), Price: unit.Price(v)}}}},
			Tx{Attest: &Attest{Slot: unit.Slot(v), Import: unit.Wh(v), Export: unit.Wh(-v)}})
	}
	for _, sig := range [][]byte{nil, {}, {0}, {0, 1}, {0, 1, 2}, {0xff, 0xfe, 0xfd, 0xfc}} {
		txs = append(txs,
			Tx{Sig: sig, Evidence: &Evidence{A: sig, B: sig}},
			Tx{Sig: sig, Evidence: &Evidence{A: nil, B: []byte{}}},
			Tx{Sig: sig, Authority: &AuthorityChange{Add: true, Key: kBob.acct}},
			Tx{Sig: sig, Authority: &AuthorityChange{}},
			Tx{Sig: sig, Cancel: &Cancel{}})
	}
	return append(txs, Tx{}, Tx{Admit: &Admit{}, Tariff: &Tariff{}, Order: &Order{}, Cancel: &Cancel{}, Attest: &Attest{},
		Evidence: &Evidence{}, Authority: &AuthorityChange{}, Sig: []byte("x")})
}

// testTxs returns the edge cases and n random transactions.
func testTxs(n int) []Tx {
	g := txGen{rand.New(rand.NewPCG(1, 2))}
	txs := edgeTxs()
	for range n {
		txs = append(txs, g.tx())
	}
	return txs
}

func TestAppendMatchesJSON(t *testing.T) {
	decoded := 0
	for i, tx := range testTxs(5000) {
		want := jsonTx(t, tx)
		if got := tx.Encode(); !bytes.Equal(got, want) {
			t.Fatalf("tx %d: Encode =\n%s\njson.Marshal =\n%s", i, got, want)
		}
		if got := appendTx([]byte("prefix"), tx); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("tx %d: appendTx to a non-empty slice = %q, want prefix%q", i, got, want)
		}
		// Canonical bytes decode to a value equal to what encoding/json decodes.
		if len(want) > MaxTxBytes {
			continue
		}
		// (Not every value round-trips: invalid UTF-8 becomes \ufffd.)
		checkDecodeTx(t, want)
		if _, err := DecodeTx(want); err == nil {
			decoded++
		}
	}
	if decoded < 2500 {
		t.Errorf("only %d of the test transactions decode again; the generator makes too few canonical ones", decoded)
	}
	g := txGen{rand.New(rand.NewPCG(3, 4))}
	blocks := 0
	for i := range 1000 {
		b := g.block()
		want := jsonBlock(t, b)
		if got := b.Encode(); !bytes.Equal(got, want) {
			t.Fatalf("block %d: Encode =\n%s\njson.Marshal =\n%s", i, got, want)
		}
		hdr, err := json.Marshal(b.Header)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendHeader(nil, b.Header); !bytes.Equal(got, hdr) {
			t.Fatalf("block %d: appendHeader =\n%s\njson.Marshal =\n%s", i, got, hdr)
		}
		if got := appendHeader(nil, b.Header); !bytes.Equal(got, hdr) {
			t.Fatalf("block %d: recordJSON(header) =\n%s\njson.Marshal =\n%s", i, got, hdr)
		}
		checkDecodeBlock(t, want)
		if _, err := DecodeBlock(want); err == nil {
			blocks++
		}
	}
	if blocks < 200 {
		t.Errorf("only %d of the test blocks decode again; the generator makes too few canonical ones", blocks)
	}
}

// TestEncodingGolden pins a few encodings byte for byte, independent of
// encoding/json (hashes and signatures depend on them).
func TestEncodingGolden(t *testing.T) {
	for _, c := range []struct {
		tx   Tx
		want string
	}{
		{Tx{}, `{"chain_id":"","kind":0,"from":"","nonce":0}`},
		{Tx{ChainID: "n", Kind: TxOrder, From: "a", Nonce: math.MaxUint64, Order: &Order{Side: market.Sell, Slot: -1, Energy: math.MinInt64, Price: math.MaxInt64}, Sig: []byte{0xff, 0xfe}},
			`{"chain_id":"n","kind":3,"from":"a","nonce":18446744073709551615,"order":{"side":2,"slot":-1,"energy":-9223372036854775808,"price":9223372036854775807},"sig":"//4="}`},
		{Tx{ChainID: "<&>\u2028\x00\x1f\"\\\xff\t/é", Admit: &Admit{Name: "\b\f\n\r"}},
			`{"chain_id":"\u003c\u0026\u003e\u2028\u0000\u001f\"\\\ufffd\t/é","kind":0,"from":"","nonce":0,"admit":{"participant":"","name":"\b\f\n\r"}}`},
		{Tx{Order: &Order{Side: market.Buy, Slot: 7, Energy: 300, Price: 200_000, Expires: 9, Curve: []CurveStep{{Energy: 100, Price: 200_000}, {Energy: 200, Price: -1}}}},
			`{"chain_id":"","kind":0,"from":"","nonce":0,"order":{"side":1,"slot":7,"energy":300,"price":200000,"expires":9,"curve":[{"energy":100,"price":200000},{"energy":200,"price":-1}]}}`},
		{Tx{Order: &Order{Side: market.Sell, Curve: []CurveStep{}}},
			`{"chain_id":"","kind":0,"from":"","nonce":0,"order":{"side":2,"slot":0,"energy":0,"price":0}}`},
		{Tx{Evidence: &Evidence{B: []byte{}}, Sig: []byte{}},
			`{"chain_id":"","kind":0,"from":"","nonce":0,"evidence":{"a":null,"b":""}}`},
		{Tx{Cancel: &Cancel{Order: ident.Hash{0xab}}, Authority: &AuthorityChange{Add: true}},
			`{"chain_id":"","kind":0,"from":"","nonce":0,"cancel":{"order":"ab00000000000000000000000000000000000000000000000000000000000000"},"authority":{"add":true,"key":""}}`},
	} {
		if got := string(c.tx.Encode()); got != c.want {
			t.Errorf("Encode(%+v) =\n%s\nwant\n%s", c.tx, got, c.want)
		}
	}
	if got, want := string(Block{}.Encode()), `{"header":{"chain_id":"","height":0,"time":0,"parent":"`+strings.Repeat("0", 64)+`","tx_root":"`+strings.Repeat("0", 64)+`","state_hash":"`+strings.Repeat("0", 64)+`","proposer":""},"txs":[]}`; got != want {
		t.Errorf("Block{}.Encode() =\n%s\nwant\n%s", got, want)
	}
}

// TestDecodeErrorsSayWhere: a rejection names the byte offset and what was
// expected there. Each case's offset is where its mark first occurs in the input.
func TestDecodeErrorsSayWhere(t *testing.T) {
	enc := string(orderTx(kAlice, market.Sell, 10, 1000, 100_000, 1).Encode())
	blk := string(Block{}.Encode())
	for _, c := range []struct {
		block      bool
		in         string
		mark, want string
	}{
		{false, "", "", "expected `{\"chain_id\":`, found end of input"},
		{false, " " + enc, " ", "expected `{\"chain_id\":`"},
		{false, strings.Replace(enc, `"nonce":1`, `"nonce": 1`, 1), " 1", "expected an unsigned integer"},
		{false, strings.Replace(enc, `"nonce":1`, `"nonce":01`, 1), `01,"order"`, "expected an unsigned integer without leading zeros"},
		{false, strings.Replace(enc, `"kind":3`, `"kind":256`, 1), "256", "expected an unsigned integer at most 255"},
		{false, strings.Replace(enc, `"slot":10`, `"slot":-0`, 1), "-0", "expected an integer (not -0)"},
		{false, strings.Replace(enc, `"nonce":1`, `"nonce":1.0`, 1), ".0", "expected `}` or the next field"},
		{false, strings.Replace(enc, `"test-net"`, `"test\/net"`, 1), `\/`, "expected a canonical escape"},
		{false, strings.Replace(enc, `"test-net"`, `"a\u003Cb"`, 1), `\u003C`, "expected a canonical escape"},
		{false, strings.Replace(enc, `"test-net"`, `"a<b"`, 1), "<", "expected byte 0x3c escaped"},
		{false, strings.Replace(enc, `"test-net"`, "\"a\u2028b\"", 1), "\u2028", "expected U+2028 escaped"},
		{false, strings.Replace(enc, `"test-net"`, "\"a\xffb\"", 1), "\xff", "expected valid UTF-8"},
		{false, enc + "\x00", "\x00", "expected end of input"},
		{false, strings.Replace(enc, `"sig":"`, `"sig":"*`, 1), "*", "expected a standard base64 character"},
		{false, strings.Replace(enc, `"sig":"`, `"sig":"A`, 1), "A", "expected canonical padded base64"},
		{false, strings.Replace(enc, `"order":{`, `"order":null,"x":{`, 1), "null", "expected `{\"side\":`"},
		{true, strings.Replace(blk, `,"txs":[]`, ``, 1), "", "txs missing"},
		{true, strings.Replace(blk, `[]`, `null`, 1), "", "txs missing"},
		{true, strings.Replace(blk, `[]`, `[{}]`, 1), "{}]", "expected `{\"chain_id\":`"},
		{true, strings.Replace(blk, `[]}`, `[`, 1), "", "expected `{\"chain_id\":`, found end of input"},
		{true, strings.Replace(blk, `"time":0`, `"time":-`, 1), `,"parent"`, "expected an integer"},
		{true, strings.Replace(blk, `"parent":"0`, `"parent":"A`, 1), "A", "expected a lowercase hex digit"},
	} {
		var err error
		if c.block {
			_, err = DecodeBlock([]byte(c.in))
		} else {
			_, err = DecodeTx([]byte(c.in))
		}
		want := c.want
		if c.mark != "" {
			want = fmt.Sprintf("at byte %d: %s", strings.Index(c.in, c.mark), c.want)
		}
		if err == nil || !errors.Is(err, ErrEncoding) || !strings.Contains(err.Error(), want) {
			t.Errorf("decode %q = %v, want an ErrEncoding containing %q", c.in, err, want)
		}
	}
}

// checkDecodeTx fails unless DecodeTx accepts b exactly when encoding/json's
// strict decode does and re-encodes it to b, with the same value.
func checkDecodeTx(t *testing.T, b []byte) {
	t.Helper()
	got, err := DecodeTx(b)
	want, wantErr := refDecodeTx(b)
	checkSameOutcome(t, b, got, err, want, wantErr)
}

func checkDecodeBlock(t *testing.T, b []byte) {
	t.Helper()
	got, err := DecodeBlock(b)
	want, wantErr := refDecodeBlock(b)
	checkSameOutcome(t, b, got, err, want, wantErr)
}

func checkSameOutcome(t *testing.T, in []byte, got any, err error, want any, wantErr error) {
	t.Helper()
	switch {
	case err == nil && wantErr != nil:
		t.Fatalf("decoded %q, which encoding/json refuses (%v)", in, wantErr)
	case err != nil && wantErr == nil:
		t.Fatalf("refused %q (%v), which encoding/json accepts as canonical", in, err)
	case err != nil:
		if errors.Is(err, ErrTooLarge) != errors.Is(wantErr, ErrTooLarge) || !errors.Is(err, ErrEncoding) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%q: error %v, encoding/json's %v (want both ErrTooLarge or both ErrEncoding)", in, err, wantErr)
		}
	case !reflect.DeepEqual(got, want):
		t.Fatalf("%q decoded to %#v, encoding/json gives %#v", in, got, want)
	}
}

// mutations returns variants of a canonical encoding that are almost canonical.
func mutations(enc []byte) [][]byte {
	s := string(enc)
	var out [][]byte
	add := func(s string) { out = append(out, []byte(s)) }
	for _, r := range [][2]string{
		{`"kind":`, `"kind": `}, {`"kind":`, `"Kind":`}, {`"nonce":`, `"nonce":-`}, {`"nonce":`, `"nonce":0`},
		{`":"`, `":"\u0041`}, {`":"`, `":"\/`}, {`":"`, "\":\"\xff"}, {`":"`, `":"<`}, {`":"`, `":"\u003C`},
		{`":"`, `":"\u003c`}, {`":"`, `":"\u2028`}, {`":"`, "\":\"\u2028"}, {`":"`, `":"\ufffd`}, {`":"`, `":"\u0008`},
		{`"sig":"`, `"sig":"\n`}, {`"sig":"`, `"sig":""`}, {`"sig":"`, `"sig":null,"x":"`}, {`="`, `"`}, {`=",`, `A=",`},
		{`"a":null`, `"a":""`}, {`"a":`, `"a":null,"a":`}, {`true`, `false`}, {`true`, `1`}, {`"order":"`, `"order":"A`},
		{`":{`, `":null,"x":{`}, {`}`, `,"admit":null}`}, {`0`, `1e0`}, {`"txs":[`, `"txs":[{},`}, {`"txs":[]`, `"txs":null`},
		{`,"txs":[]`, ``}, {`}]`, `},]`},
		{`"curve":[`, `"curve":[],"x":[`}, {`"curve":[`, `"curve":null,"x":[`}, {`}]}`, `}],"curve":[]}`},
		{`"price":`, `"Price":`}, {`},{"energy"`, `} ,{"energy"`}, {`}]`, `}`},
	} {
		if strings.Contains(s, r[0]) {
			add(strings.Replace(s, r[0], r[1], 1))
		}
	}
	add(s + " ")
	add(s + s)
	if len(s) > 1 {
		add(s[:len(s)-1])
		add(s[:len(s)/2])
	}
	return out
}

func TestDecodeMatchesJSON(t *testing.T) {
	for _, tx := range testTxs(300) {
		enc := tx.Encode()
		checkDecodeTx(t, enc)
		for _, m := range mutations(enc) {
			checkDecodeTx(t, m)
		}
	}
	g := txGen{rand.New(rand.NewPCG(5, 6))}
	for range 300 {
		enc := g.block().Encode()
		checkDecodeBlock(t, enc)
		for _, m := range mutations(enc) {
			checkDecodeBlock(t, m)
		}
	}
	// A block whose second tx is over MaxTxBytes.
	big := sampleBlock()
	big.Txs[1].Admit = &Admit{Name: strings.Repeat("<", MaxTxBytes/6)}
	checkDecodeBlock(t, big.Encode())
	if _, err := DecodeBlock(big.Encode()); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "tx 1:") {
		t.Errorf("DecodeBlock(block with a large tx 1) = %v, want ErrTooLarge naming tx 1", err)
	}
}

// fuzzSeedTxs are the encodings the tx fuzzer starts from.
func fuzzSeedTxs() [][]byte {
	var seeds [][]byte
	for i, tx := range testTxs(40) {
		enc := tx.Encode()
		seeds = append(seeds, enc)
		if i%4 == 0 {
			seeds = append(seeds, mutations(enc)...)
		}
	}
	return seeds
}

func fuzzSeedBlocks() [][]byte {
	g := txGen{rand.New(rand.NewPCG(7, 8))}
	seeds := [][]byte{sampleBlock().Encode()}
	seeds = append(seeds, mutations(seeds[0])...)
	for range 10 {
		enc := g.block().Encode()
		seeds = append(seeds, enc)
		seeds = append(seeds, mutations(enc)...)
	}
	return seeds
}
