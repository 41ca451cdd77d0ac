package chain

import (
	"errors"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
)

// TestValidateRejects: every header rule and re-execution rule of Validate.
func TestValidateRejects(t *testing.T) {
	g := testGenesis()
	now := ms(10, -200)
	good := func(t *testing.T) (*Chain, Block) {
		c := openMem(t, g)
		produce(t, c, ms(10, -250))
		b, errs := c.Propose(now, kAuth.acct, []Tx{orderTx(kAlice, market.Sell, 10, 100, 100_000, 1)})
		if errs[0] != nil {
			t.Fatal(errs[0])
		}
		// A fresh chain at the same head, so nothing is cached.
		v := openMem(t, g)
		blk, cert, err := c.Block(1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Commit(blk, cert); err != nil {
			t.Fatal(err)
		}
		return v, b
	}
	resign := func(b Block) Block { b.Header.TxRoot = TxRoot(b.Txs); return b }
	cases := []struct {
		name   string
		mutate func(b Block) Block
		now    int64
	}{
		{"wrong chain id", func(b Block) Block { b.Header.ChainID = "x"; return b }, now},
		{"wrong height", func(b Block) Block { b.Header.Height = 3; return b }, now},
		{"wrong parent", func(b Block) Block { b.Header.Parent[0] ^= 1; return b }, now},
		{"time not after parent", func(b Block) Block { b.Header.Time = ms(10, -250); return b }, now},
		{"time too far ahead", func(b Block) Block { return b }, now - MaxClockSkewMs - 1},
		{"proposer not an authority", func(b Block) Block { b.Header.Proposer = kAlice.acct; return b }, now},
		{"tx root", func(b Block) Block { b.Header.TxRoot[0] ^= 1; return b }, now},
		{"state hash", func(b Block) Block { b.Header.StateHash[0] ^= 1; return b }, now},
		{"invalid tx included", func(b Block) Block {
			b.Txs = append(b.Txs, orderTx(kMallory, market.Sell, 10, 100, 100_000, 1))
			return resign(b)
		}, now},
		{"tx with bad signature", func(b Block) Block {
			tx := b.Txs[0]
			tx.Nonce++
			b.Txs = []Tx{tx}
			return resign(b)
		}, now},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, b := good(t)
			if err := v.Validate(b, now); err != nil {
				t.Fatalf("Validate(good block) = %v", err)
			}
			v, b = good(t)
			bad := tc.mutate(b)
			if err := v.Validate(bad, tc.now); !errors.Is(err, ErrBlock) {
				t.Fatalf("Validate = %v, want ErrBlock", err)
			}
			if _, err := v.Commit(bad, nil); err == nil && tc.name != "time too far ahead" {
				t.Fatalf("Commit(bad block) = nil error")
			}
		})
	}
}

// TestCommitWithoutValidate: a decided block from elsewhere is validated at
// Commit, without the clock check, and a bad one is refused.
func TestCommitWithoutValidate(t *testing.T) {
	g := testGenesis()
	a, b := openMem(t, g), openMem(t, g)
	blk, _ := produce(t, a, ms(10, -200), orderTx(kAlice, market.Sell, 10, 100, 100_000, 1))
	bad := blk
	bad.Header.StateHash = ident.Hash{1}
	if _, err := b.Commit(bad, nil); !errors.Is(err, ErrBlock) {
		t.Fatalf("Commit(bad) = %v, want ErrBlock", err)
	}
	if _, err := b.Commit(blk, []byte("c")); err != nil {
		t.Fatalf("Commit(good) = %v", err)
	}
	if a.Status() != b.Status() {
		t.Fatalf("status %+v, want %+v", b.Status(), a.Status())
	}
	got, cert, err := b.Block(1)
	if err != nil || got.Hash() != blk.Hash() || string(cert) != "c" {
		t.Fatalf("Block(1) = %v, %q, %v", got.Hash(), cert, err)
	}
	bs, certs, err := b.Blocks(0, 10)
	if err != nil || len(bs) != 2 || len(certs) != 2 || bs[0].Header.Height != 0 || certs[0] != nil {
		t.Fatalf("Blocks(0, 10) = %d blocks, certs %q, %v; want genesis and block 1", len(bs), certs, err)
	}
	if bs, _, _ := b.Blocks(5, 10); len(bs) != 0 {
		t.Fatalf("Blocks(5) = %d blocks, want 0", len(bs))
	}
	if _, _, err := b.Block(2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Block(2) = %v, want ErrNotFound", err)
	}
}
