package main

import (
	"os"
	"runtime/debug"
)

// setMemoryLimit gives the Go runtime the soft memory limit of limit bytes
// (runtime/debug.SetMemoryLimit), unless the GOMEMLIMIT environment variable
// is set: the runtime has then read it at start, and it wins. It returns the
// limit in force.
//
// Past the limit the collector runs more often and returns freed pages to
// the system at once, so RSS follows the live heap instead of the peak that
// badger's flushes and compactions left behind. It is a soft limit: a live
// heap above it is not refused, the collector only works harder.
func setMemoryLimit(limit int64) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	debug.SetMemoryLimit(limit)
	return limit
}
