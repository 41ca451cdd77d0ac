package chain

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

// TestOldMemtableLogOpens: a store an older release (16 MiB memtables) left
// with more in its memtable log than today's memtable holds, as a killed
// node does, opens with today's options and keeps every entry.
func TestOldMemtableLogOpens(t *testing.T) {
	dir, crashed := t.TempDir(), t.TempDir()
	db, err := badger.Open(storeOptions(dir).WithMemTableSize(oldMemTableSize))
	if err != nil {
		t.Fatal(err)
	}
	const n = 100_000 // about 11 MB of log, more than today's 8 MiB memtable
	val := make([]byte, 100)
	for i := 0; i < n; {
		wb := db.NewWriteBatch()
		for end := i + 5000; i < end; i++ {
			if err := wb.Set(fmt.Appendf(nil, "k/%07d", i), val); err != nil {
				t.Fatal(err)
			}
		}
		if err := wb.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// The copy is the store as a kill would leave it: the log not flushed.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	big := false
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Ext(e.Name()) == ".mem" && int64(len(b)) > 2*storeOptions(dir).MemTableSize {
			big = true
		}
		if err := os.WriteFile(filepath.Join(crashed, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if !big {
		t.Fatalf("the old store has no memtable log over twice today's memtable; the test tests nothing")
	}
	if err := flushOldLogs(crashed); err != nil {
		t.Fatalf("flushOldLogs: %v", err)
	}
	db, err = badger.Open(storeOptions(crashed))
	if err != nil {
		t.Fatalf("open with today's options after flushOldLogs: %v", err)
	}
	defer db.Close()
	got := 0
	if err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			got++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Errorf("reopened: %d entries, want %d", got, n)
	}
}
