package chain

import (
	"fmt"
	"os"
	"path/filepath"

	badger "github.com/dgraph-io/badger/v4"
)

// oldMemTableSize is the largest memtable a chain store has been written
// with (16 MiB, until a28284b; storeOptions' is smaller now).
const oldMemTableSize = 16 << 20

// flushOldLogs opens and closes the store in dir with the old memtable size
// when it holds a memtable log larger than the current size's (badger makes
// a log twice its memtable's size). badger replays a log at open into an
// arena of the current memtable's size, and a log a killed node of an older
// release left with more than that in it would not fit (badger panics:
// "Arena too small"); opened with the size it was written with, the log is
// replayed and, at close, flushed into a table and removed, so the store
// then opens with the current size. Nothing happens otherwise.
func flushOldLogs(dir string) error {
	logs, err := filepath.Glob(filepath.Join(dir, "*.mem"))
	if err != nil {
		return err
	}
	cur := storeOptions(dir)
	for _, l := range logs {
		fi, err := os.Stat(l)
		if err != nil || fi.Size() <= 2*cur.MemTableSize {
			continue
		}
		db, err := badger.Open(cur.WithMemTableSize(oldMemTableSize))
		if err != nil {
			return fmt.Errorf("chain: open %s to flush the memtable log of an older release: %w", dir, err)
		}
		return db.Close()
	}
	return nil
}
