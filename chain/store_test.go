package chain

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

func openDir(t *testing.T, dir string, g Genesis) *Chain {
	t.Helper()
	c, err := Open(dir, g)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return c
}

// fill commits a whole slot's life on c: orders, clearing, attestations, settlement,
// and one open order for the next slot (so state has every kind of entry).
func fill(t *testing.T, c *Chain) {
	const s = unit.Slot(10)
	produce(t, c, ms(s, -200), orderTx(kAlice, market.Sell, s, 1000, 100_000, 1), orderTx(kBob, market.Buy, s, 600, 200_000, 1),
		sign(kAuth, Tx{Admit: &Admit{Participant: kCarol.acct, Name: "carol"}}))
	produce(t, c, ms(s, -60))
	produce(t, c, ms(s, 61), attestTx(kAlice, s, 0, 500), orderTx(kCarol, market.Buy, s+4, 100, 100_000, 1))
	produce(t, c, ms(s, 120))
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	g := testGenesis()
	c := openDir(t, dir, g)
	fill(t, c)
	want := c.Status()
	wantBal := c.Balances()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c = openDir(t, dir, g)
	defer c.Close()
	if got := c.Status(); got != want {
		t.Fatalf("reopened status %+v, want %+v", got, want)
	}
	if got := c.Balances(); len(got) != len(wantBal) || got[kAlice.acct] != wantBal[kAlice.acct] {
		t.Fatalf("reopened balances %v, want %v", got, wantBal)
	}
	if _, ok := c.Settlement(10); !ok {
		t.Fatalf("settlement of slot 10 lost on reopen")
	}
	if got := len(c.Orders(14)); got != 1 {
		t.Fatalf("orders of slot 14 after reopen = %d, want 1", got)
	}
	// The reopened chain continues, and matches a chain that never closed.
	mem := openMem(t, g)
	fill(t, mem)
	b, _ := produce(t, c, ms(14, -60))
	if _, err := mem.Commit(b, nil); err != nil {
		t.Fatalf("memory chain refuses the reopened chain's block: %v", err)
	}
	if c.Status() != mem.Status() {
		t.Fatalf("status %+v, memory chain %+v", c.Status(), mem.Status())
	}
}

func TestOpenWrongGenesis(t *testing.T) {
	dir := t.TempDir()
	c := openDir(t, dir, testGenesis())
	c.Close()
	g := testGenesis()
	g.SlotSeconds = 30
	if _, err := Open(dir, g); !errors.Is(err, ErrGenesis) {
		t.Fatalf("Open with changed genesis = %v, want ErrGenesis", err)
	}
	g = testGenesis()
	g.ChainID = "other"
	if _, err := Open(dir, g); err == nil || !strings.Contains(err.Error(), `"test-net"`) {
		t.Fatalf("Open with other chain id = %v, want an error naming the stored chain", err)
	}
}

// damage opens the store with plain badger and changes it.
func damage(t *testing.T, dir string, f func(txn *badger.Txn) error) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(f); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCorrupt(t *testing.T) {
	cases := []struct {
		name string
		f    func(txn *badger.Txn) error
	}{
		{"head key deleted", func(txn *badger.Txn) error { return txn.Delete([]byte(keyHead)) }},
		{"head block deleted", func(txn *badger.Txn) error { return txn.Delete(heightKey(pfxBlock, 4)) }},
		{"head record garbage", func(txn *badger.Txn) error { return txn.Set([]byte(keyHead), []byte("{")) }},
		{"state entry changed", func(txn *badger.Txn) error { return txn.Set([]byte(pfxState+"b/"+string(kAlice.acct)), []byte("1")) }},
		{"state entry added", func(txn *badger.Txn) error { return txn.Set([]byte(pfxState+"b/"+string(kCarol.acct)), []byte("5")) }},
		{"state entry deleted", func(txn *badger.Txn) error { return txn.Delete([]byte(pfxState + "y")) }},
		{"genesis deleted", func(txn *badger.Txn) error { return txn.Delete([]byte(keyGenesis)) }},
	}
	src := t.TempDir()
	c := openDir(t, src, testGenesis())
	fill(t, c)
	c.Close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, src, dir)
			damage(t, dir, tc.f)
			_, err := Open(dir, testGenesis())
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "store at "+dir+" is corrupt") {
				t.Fatalf("Open = %v, want a corrupt-store error naming %s", err, dir)
			}
		})
	}
}

// TestOpenCorruptFiles flips bytes in every data file in turn: Open must fail
// with an error (or, if badger does not read the damaged part, succeed with the
// same state), never panic.
func TestOpenCorruptFiles(t *testing.T) {
	src := t.TempDir()
	c := openDir(t, src, testGenesis())
	fill(t, c)
	want := c.Status()
	c.Close()
	files, _ := filepath.Glob(filepath.Join(src, "*"))
	tested := 0
	for _, f := range files {
		ext := filepath.Ext(f)
		if ext != ".sst" && ext != ".vlog" && ext != ".mem" && !strings.HasSuffix(f, "MANIFEST") {
			continue
		}
		tested++
		t.Run(filepath.Base(f), func(t *testing.T) {
			dir := t.TempDir()
			for _, g := range files {
				b, err := os.ReadFile(g)
				if err != nil {
					t.Fatal(err)
				}
				if g == f && len(b) > 0 {
					for i := len(b) / 3; i < len(b)/3+64 && i < len(b); i++ {
						b[i] ^= 0x5a
					}
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(g)), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Open(dir, testGenesis())
			if err != nil {
				t.Logf("Open = %v", err)
				return
			}
			defer c.Close()
			if got := c.Status(); got != want {
				t.Fatalf("Open succeeded with status %+v, want %+v or an error", got, want)
			}
		})
	}
	if tested == 0 {
		t.Fatalf("no data files in %s", src)
	}
}

// TestOpenCorruptValueLog: the head block is larger than the value threshold, so
// it lives in the value log; damaging or truncating that file must make Open fail.
func TestOpenCorruptValueLog(t *testing.T) {
	src := t.TempDir()
	c := openDir(t, src, testGenesis())
	fill(t, c)
	var big []Tx
	for i := range 8 {
		big = append(big, orderTx(kAlice, market.Sell, 14, unit.Wh(i+1), 100_000, uint64(100+i)))
	}
	blk, _ := produce(t, c, ms(10, 121), big...)
	if n := len(blk.Encode()); n <= 1<<10 {
		t.Fatalf("head block is %d bytes, want > 1 KiB so it goes to the value log", n)
	}
	c.Close()
	vlogs, _ := filepath.Glob(filepath.Join(src, "*.vlog"))
	if len(vlogs) == 0 {
		t.Fatalf("no value log in %s", src)
	}
	for _, mode := range []string{"flip", "truncate"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			files, _ := filepath.Glob(filepath.Join(src, "*"))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if filepath.Ext(f) == ".vlog" {
					// The head block is the last large value written.
					end := len(b)
					for end > 0 && b[end-1] == 0 {
						end--
					}
					switch mode {
					case "flip":
						for i := end - 600; i < end-100; i++ {
							b[i] ^= 0xff
						}
					case "truncate":
						b = b[:end-700]
					}
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Open(dir, testGenesis())
			if err == nil {
				c.Close()
				t.Fatalf("Open succeeded on a damaged value log")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			t.Logf("Open = %v", err)
		})
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(src, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenTwice: a store in use by another Chain is refused, and not called corrupt.
func TestOpenTwice(t *testing.T) {
	dir := t.TempDir()
	c := openDir(t, dir, testGenesis())
	defer c.Close()
	_, err := Open(dir, testGenesis())
	if err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("second Open = %v, want a not-corrupt error", err)
	}
}

func TestClosed(t *testing.T) {
	c, err := OpenMemory(testGenesis())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := c.CheckTx(orderTx(kAlice, market.Sell, 10, 1, 100_000, 1), ms(10, -100)); !errors.Is(err, ErrClosed) {
		t.Errorf("CheckTx after Close = %v, want ErrClosed", err)
	}
	if _, errs := c.Propose(ms(10, -100), kAuth.acct, []Tx{{}}); !errors.Is(errs[0], ErrClosed) {
		t.Errorf("Propose after Close = %v, want ErrClosed", errs)
	}
	if _, err := c.Commit(Block{}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestOpenUnwritable(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("as root every directory is writable: this needs a non-root user, not a tool (GRIDMESH_REQUIRE_ALL does not apply)")
	}
	parent := t.TempDir()
	if err := os.Chmod(parent, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(parent, 0o700)
	_, err := Open(filepath.Join(parent, "chain"), testGenesis())
	if err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open in a read-only directory = %v, want a not-corrupt error", err)
	}
}
