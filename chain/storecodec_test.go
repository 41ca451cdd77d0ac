package chain

import (
	"bytes"
	"math"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// bigSlot commits a slot of n orders from alice and bob (blocks and cleared
// and settled records of several KB) at slot s, nonces from nonce on.
func bigSlot(t *testing.T, c *Chain, s unit.Slot, n int, nonce uint64) {
	t.Helper()
	var txs []Tx
	for i := range n {
		k, side, p := kAlice, market.Sell, unit.Price(60_000+i*10)
		if i%2 == 1 {
			k, side, p = kBob, market.Buy, unit.Price(290_000-i*10)
		}
		txs = append(txs, orderTx(k, side, s, unit.Wh(1+i), p, nonce+uint64(i)))
	}
	produce(t, c, ms(s, -200), txs...)
	produce(t, c, ms(s, -60))
	produce(t, c, ms(s, 61), attestTx(kAlice, s, 0, 5000), attestTx(kBob, s, 5000, 0))
	produce(t, c, ms(s, 120))
}

// rawValues reads the stored (not unpacked) values of keys starting with pfx.
func rawValues(t *testing.T, dir, pfx string) map[string][]byte {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string][]byte{}
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfx)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().KeyCopy(nil))] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func countPacked(vs map[string][]byte) (packed, large int) {
	for _, v := range vs {
		if bytes.HasPrefix(v, zstdMagic) {
			packed++
		} else if len(v) >= 1<<10 {
			large++
		}
	}
	return packed, large
}

// TestUncompressedStoreOpens: a store written before values were compressed
// (every value as it is) opens, reads its old blocks and goes on with
// compressed ones; the status and the blocks are the same after each reopen.
func TestUncompressedStoreOpens(t *testing.T) {
	dir := t.TempDir()
	g := testGenesis()
	packMin = math.MaxInt
	c := openDir(t, dir, g)
	bigSlot(t, c, 10, 40, 1)
	old := c.Status()
	c.Close()
	packMin = 1 << 10
	t.Cleanup(func() { packMin = 1 << 10 })
	if p, l := countPacked(rawValues(t, dir, pfxBlock)); p != 0 || l == 0 {
		t.Fatalf("store written without compression: %d packed blocks, %d large plain ones; want 0 and some", p, l)
	}
	want, blocks := goOn(t, dir, g, old)
	if p, l := countPacked(rawValues(t, dir, pfxBlock)); p == 0 || l == 0 {
		t.Fatalf("%d packed blocks, %d large plain ones; want both old plain and new packed blocks", p, l)
	}
	if p, _ := countPacked(rawValues(t, dir, pfxState)); p == 0 {
		t.Fatalf("no state value stored packed")
	}
	c = reopenSame(t, dir, g, want, blocks)
	defer c.Close()
	if r, ok := c.Result(10); !ok || len(r.Trades) == 0 {
		t.Fatalf("slot 10's cleared record (stored plain): ok %v, %d trades", ok, len(r.Trades))
	}
}

func FuzzUnpack(f *testing.F) {
	f.Add([]byte(`{"a":1}`))
	f.Add(pack(bytes.Repeat([]byte(`{"kind":"order"},`), 100)))
	f.Add(append(append([]byte{}, zstdMagic...), 1, 2, 3))
	f.Fuzz(func(t *testing.T, v []byte) {
		unpack(v) // must not panic
		if bytes.HasPrefix(v, zstdMagic) {
			return // not a value the chain writes
		}
		got, err := unpack(pack(v))
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("unpack(pack(%q)) = %q, %v", v, got, err)
		}
	})
}
