package main

import (
	"golang.org/x/sys/unix"
)

// kernelClockState reads the kernel's NTP state as the node does
// (node/clock_linux.go): synced unless adjtimex reports TIME_ERROR or
// STA_UNSYNC.
func kernelClockState() (synced, known bool) {
	var t unix.Timex
	state, err := unix.Adjtimex(&t)
	if err != nil {
		return false, false
	}
	return state != unix.TIME_ERROR && t.Status&unix.STA_UNSYNC == 0, true
}

// diskFree returns the bytes free for unprivileged users and the size of the
// file system holding dir.
func diskFree(dir string) (free, total int64, err error) {
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		return 0, 0, err
	}
	return int64(s.Bavail) * int64(s.Bsize), int64(s.Blocks) * int64(s.Bsize), nil
}
