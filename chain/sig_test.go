package chain

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// sigCase is a public key, message and signature, and Go's verdict on it.
type sigCase struct {
	name          string
	pub, msg, sig []byte
}

// sigVectors are the edge cases in testdata/ed25519 (README there).
func sigVectors(t testing.TB) []sigCase {
	t.Helper()
	read := func(name string, v any) {
		f, err := os.Open("testdata/ed25519/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		z, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.NewDecoder(z).Decode(v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var vectors []struct{ A, R, S, M string }
	read("ed25519vectors.json.gz", &vectors)
	var spec []struct {
		Message   string `json:"message"`
		PubKey    string `json:"pub_key"`
		Signature string `json:"signature"`
	}
	read("speccheck_cases.json.gz", &spec)
	var cases []sigCase
	for i, v := range vectors {
		cases = append(cases, sigCase{"ed25519vectors " + strconv.Itoa(i), unhex(v.A), []byte(v.M), append(unhex(v.R), unhex(v.S)...)})
	}
	for i, v := range spec {
		cases = append(cases, sigCase{"speccheck " + strconv.Itoa(i), unhex(v.PubKey), unhex(v.Message), unhex(v.Signature)})
	}
	if len(cases) != 768+12 {
		t.Fatalf("%d edge cases read, want 768 + 12", len(cases))
	}
	return cases
}

// TestTxSigAgreesWithStdlib: the chain's ed25519 (voi with Go's rules, an
// expanded key) gives crypto/ed25519's verdict on every edge case of the
// vectors and on valid signatures with one bit changed, and signs exactly
// as crypto/ed25519 does.
func TestTxSigAgreesWithStdlib(t *testing.T) {
	valid := 0
	for _, c := range sigVectors(t) {
		want := ed25519.Verify(c.pub, c.msg, c.sig)
		if got := verifySig(ident.Account(hex.EncodeToString(c.pub)), c.msg, c.sig); got != want {
			t.Errorf("%s: pub %x sig %x: verifySig = %v, crypto/ed25519 says %v", c.name, c.pub, c.sig, got, want)
		}
		if want {
			valid++
		}
	}
	if valid == 0 || valid == 768+12 {
		t.Fatalf("crypto/ed25519 accepts %d of the 780 edge cases; want some and not all (the vectors are not what they were)", valid)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		seed := make([]byte, ed25519.SeedSize)
		for j := range seed {
			seed[j] = byte(rng.Uint32())
		}
		priv := ed25519.NewKeyFromSeed(seed)
		pub := priv.Public().(ed25519.PublicKey)
		msg := make([]byte, rng.IntN(400))
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		sig := signEd25519(priv, msg)
		if want := ed25519.Sign(priv, msg); !bytes.Equal(sig, want) {
			t.Fatalf("key %d: signEd25519 = %x, crypto/ed25519 signs %x", i, sig, want)
		}
		acct := ident.AccountOf(pub)
		if !verifySig(acct, msg, sig) {
			t.Fatalf("key %d: verifySig rejects a valid signature", i)
		}
		// One bit changed in the signature or the message.
		bad, m := bytes.Clone(sig), bytes.Clone(msg)
		if bit := rng.IntN(512 + 8*len(msg)); bit < 512 {
			bad[bit/8] ^= 1 << (bit % 8)
		} else {
			bit -= 512
			m[bit/8] ^= 1 << (bit % 8)
		}
		if got, want := verifySig(acct, m, bad), ed25519.Verify(pub, m, bad); got != want {
			t.Errorf("key %d, one bit changed: verifySig = %v, crypto/ed25519 says %v", i, got, want)
		}
	}
	if verifySig(ident.AccountOf(make([]byte, 32)), nil, make([]byte, 63)) {
		t.Error("verifySig accepts a 63-byte signature")
	}
}

// FuzzTxSigAgreesWithStdlib: on any key, message and signature, the
// chain's verdict is crypto/ed25519's.
func FuzzTxSigAgreesWithStdlib(f *testing.F) {
	for i, c := range sigVectors(f) {
		if i%16 == 0 || i >= 768 {
			f.Add(c.pub, c.msg, c.sig)
		}
	}
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if len(pub) != ed25519.PublicKeySize {
			return
		}
		want := len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, msg, sig)
		if got := verifySig(ident.Account(hex.EncodeToString(pub)), msg, sig); got != want {
			t.Errorf("pub %x msg %x sig %x: verifySig = %v, crypto/ed25519 says %v", pub, msg, sig, got, want)
		}
	})
}

// BenchmarkSig: checking and making a tx's signature, with crypto/ed25519
// and as the chain does (chain/sig.go).
func BenchmarkSig(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := priv.Public().(ed25519.PublicKey)
	acct := ident.AccountOf(pub)
	msg := make([]byte, 200)
	sig := ed25519.Sign(priv, msg)
	b.Run("verify/crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			ed25519.Verify(pub, msg, sig)
		}
	})
	b.Run("verify/chain", func(b *testing.B) {
		for b.Loop() {
			verifySig(acct, msg, sig)
		}
	})
	b.Run("sign/crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			ed25519.Sign(priv, msg)
		}
	})
	b.Run("sign/chain", func(b *testing.B) {
		for b.Loop() {
			signEd25519(priv, msg)
		}
	})
}

// TestCheckTxs: CheckTxs gives each tx CheckTx's verdict: valid orders,
// a bad signature, a sender never admitted, a slot not open, a replay.
func TestCheckTxs(t *testing.T) {
	c := openMem(t, testGenesis())
	s := unit.Slot(5)
	done := orderTx(kAlice, market.Sell, s, 10, 60_000, 1)
	produce(t, c, ms(s, -200), done)
	bad := orderTx(kBob, market.Buy, s, 10, 290_000, 2)
	bad.Sig = bytes.Clone(bad.Sig)
	bad.Sig[3] ^= 1
	txs := []Tx{
		orderTx(kBob, market.Buy, s, 10, 290_000, 3),
		bad,
		orderTx(kMallory, market.Buy, s, 10, 290_000, 4),
		orderTx(kAlice, market.Sell, s+40, 10, 60_000, 5),
		done,
	}
	for i := range 40 { // enough for verifyAll to use every core
		txs = append(txs, orderTx(kAlice, market.Sell, s, unit.Wh(11+i), 60_000, uint64(10+i)))
	}
	now := ms(s, -190)
	got := c.CheckTxs(txs, now)
	if len(got) != len(txs) {
		t.Fatalf("CheckTxs returned %d verdicts for %d txs", len(got), len(txs))
	}
	valid := 0
	for i, tx := range txs {
		want := c.CheckTx(tx, now)
		if (got[i] == nil) != (want == nil) || got[i] != nil && got[i].Error() != want.Error() {
			t.Errorf("tx %d: CheckTxs says %v, CheckTx %v", i, got[i], want)
		}
		if want == nil {
			valid++
		}
	}
	if valid != 41 {
		t.Errorf("%d of the txs valid, want 41 (the test's cases are not what it meant)", valid)
	}
	if got[0] != nil || !errors.Is(got[1], ErrSignature) || got[2] == nil || got[3] == nil || got[4] == nil {
		t.Errorf("CheckTxs on a valid order, a bad signature, a stranger, a slot not open, a replay: %v; want nil, %v, then three errors", got[:5], ErrSignature)
	}
}
