//go:build unix

package update

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive flock on path (created if missing) and returns
// the function that releases it. The kernel releases it if the process dies.
func lockDir(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// tryLock is lockDir that fails at once if another process holds the lock.
func tryLock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// matchOwner gives everything under s.Dir (and s.Dir) the owner of its
// parent directory, when run as root: `sudo gridmesh update apply` must not
// leave a slots directory that the service's own user cannot write (it
// could not start the trial nor record its result). Best effort: until it
// has run, the service runs its installed binary, which is safe.
func (s Slots) matchOwner() {
	if os.Geteuid() != 0 {
		return
	}
	fi, err := os.Stat(filepath.Dir(filepath.Clean(s.Dir)))
	if err != nil {
		return
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return
	}
	filepath.WalkDir(s.Dir, func(p string, _ fs.DirEntry, err error) error {
		if err == nil {
			os.Lchown(p, int(st.Uid), int(st.Gid))
		}
		return nil
	})
}
