//go:build !unix

package node

import "time"

// processCPU is the CPU time the process has used so far; 0: not read here.
func processCPU() time.Duration { return 0 }
