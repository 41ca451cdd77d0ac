//go:build !unix

package update

// lockDir is a no-op where flock does not exist: gridmesh's devices run
// Linux, and one process at a time updates there.
func lockDir(string) (func(), error) { return func() {}, nil }

func tryLock(string) (func(), error) { return func() {}, nil }

func (Slots) matchOwner() {}
