package chain

import (
	"crypto/sha256"
	"encoding/json"
	"sync"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// The encoding benchmarks compare the hand-written encoding (impl=append) with
// the encoding/json one it replaced (impl=json, kept here as the reference):
//
//	go test -run '^$' -bench 'TxEncode|TxHash|DecodeTx|BlockEncode2000|DecodeBlock2000' -benchmem ./chain/

var benchBlock = sync.OnceValue(func() Block {
	txs := make([]Tx, 0, 2000)
	for i := range 2000 {
		switch i % 10 {
		case 9:
			txs = append(txs, attestTx(kAlice, unit.Slot(i), unit.Wh(i), 800))
		default:
			txs = append(txs, orderTx(kBob, market.Side(1+i%2), unit.Slot(1000+i/100), unit.Wh(1000+i), unit.Price(100_000+i), uint64(i)))
		}
	}
	return Block{Header: Header{ChainID: "test-net", Height: 123456, Time: 1_700_000_000_123, Parent: ident.Hash{9},
		TxRoot: TxRoot(txs), StateHash: ident.Hash{4}, Proposer: kAuth.acct}, Txs: txs}
})

// encSink keeps results alive, so that the compiler cannot drop the work or
// keep the encoding on the stack.
var encSink []byte

func benchTx() Tx { return orderTx(kAlice, market.Sell, 10, 1000, 100_000, 1) }

func BenchmarkTxEncode(b *testing.B) {
	tx := benchTx()
	b.Run("impl=json", func(b *testing.B) {
		for b.Loop() {
			encSink = jsonTx(b, tx)
		}
	})
	b.Run("impl=append", func(b *testing.B) {
		for b.Loop() {
			encSink = tx.Encode()
		}
	})
}

func BenchmarkTxHash(b *testing.B) {
	tx := benchTx()
	b.Run("impl=json", func(b *testing.B) {
		for b.Loop() {
			_ = sha256.Sum256(jsonTx(b, tx))
		}
	})
	b.Run("impl=append", func(b *testing.B) {
		for b.Loop() {
			tx.Hash()
		}
	})
}

func BenchmarkDecodeTx(b *testing.B) {
	enc := benchTx().Encode()
	b.Run("impl=json", func(b *testing.B) {
		for b.Loop() {
			if _, err := refDecodeTx(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=append", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeTx(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkBlockEncode2000(b *testing.B) {
	blk := benchBlock()
	b.Run("impl=json", func(b *testing.B) {
		for b.Loop() {
			var err error
			if encSink, err = json.Marshal(blk); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=append", func(b *testing.B) {
		for b.Loop() {
			encSink = blk.Encode()
		}
	})
}

func BenchmarkDecodeBlock2000(b *testing.B) {
	enc := benchBlock().Encode()
	b.Run("impl=json", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if _, err := refDecodeBlock(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=append", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if _, err := DecodeBlock(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
