package node

import "golang.org/x/sys/unix"

// kernelClockSynced reports whether the kernel says its clock is synchronised
// (NTP has set it: adjtimex reports neither TIME_ERROR nor STA_UNSYNC).
func kernelClockSynced() bool {
	var t unix.Timex
	state, err := unix.Adjtimex(&t)
	return err == nil && state != unix.TIME_ERROR && t.Status&unix.STA_UNSYNC == 0
}
