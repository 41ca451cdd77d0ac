package chain

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseMapped pages out dir's SSTable, value-log and memtable-log (.mem)
// files mapped into this process (see releaseEvery) and returns the bytes of
// mappings it advised.
// An address range that badger unmaps meanwhile, even one reused for other
// memory, comes to no harm: MADV_PAGEOUT is a hint that keeps contents.
func releaseMapped(dir string) int64 {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	var n int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 6 {
			continue
		}
		path := string(fields[5])
		if filepath.Dir(path) != abs || !mappedStore(path) {
			continue
		}
		lo, hi, ok := strings.Cut(string(fields[0]), "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_PAGEOUT); errno == 0 {
			n += int64(end - start)
		}
	}
	return n
}

// mappedStore reports whether path is one of badger's mapped files:
// SSTables, the value log and the memtables' write-ahead logs (.mem, written
// through the mapping up to the memtable's size, 8 MiB, before it is
// flushed and a new one begun).
func mappedStore(path string) bool {
	return strings.HasSuffix(path, ".vlog") || strings.HasSuffix(path, ".sst") || strings.HasSuffix(path, ".mem")
}
