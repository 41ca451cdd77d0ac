//go:build unix

package update

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestApplyAsRootKeepsOwner: `sudo gridmesh update apply` leaves the slots
// owned by the service's user (the owner of the data's parent directory).
func TestApplyAsRootKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own files as another user (not a tool: GRIDMESH_REQUIRE_ALL does not apply)")
	}
	pub, priv := newKey(t)
	dir := t.TempDir()
	parent := filepath.Join(dir, "var-lib-gridmesh")
	os.Mkdir(parent, 0o755)
	if err := os.Chown(parent, 4321, 4321); err != nil {
		t.Fatal(err)
	}
	s := Slots{Dir: filepath.Join(parent, "slots")}
	rel := writeRelease(t, filepath.Join(dir, "r"), priv, "v1.1.0", []byte("bin"), testNow, nil)
	must(s.Apply(context.Background(), must(NewSource(rel.dir, nil)), testOptions(pub)))
	n := 0
	filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		fi := must(os.Lstat(p))
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 4321 {
			t.Errorf("%s is owned by %d, want 4321", p, uid)
		}
		n++
		return nil
	})
	if n < 6 { // slots, a, a/gridmesh, manifests, state.json, locks
		t.Errorf("only %d entries under %s", n, s.Dir)
	}
}
