package chain

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// releaseMapped advises badger's mapped files in the directory (.sst,
// .vlog, .mem) and nothing else mapped from it.
func TestReleaseMapped(t *testing.T) {
	dir := t.TempDir()
	const size = 1 << 20
	mapFile := func(name string) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Munmap(b) })
		for i := 0; i < size; i += 4096 {
			b[i] = 1 // resident and dirty
		}
	}
	for _, name := range []string{"000001.sst", "000001.vlog", "00002.mem", "MANIFEST", "other.dat"} {
		mapFile(name)
	}
	if got, want := releaseMapped(dir), int64(3*size); got != want {
		t.Errorf("releaseMapped advised %d bytes, want %d (the .sst, .vlog and .mem mappings only)", got, want)
	}
	if got := releaseMapped(t.TempDir()); got != 0 {
		t.Errorf("releaseMapped of a directory with nothing mapped: %d bytes, want 0", got)
	}
}
