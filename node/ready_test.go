package node

import (
	"sync/atomic"
	"testing"
	"time"
)

// Ready is called once, after the node is up; Heartbeat by the loop on every
// tick while it runs.
func TestReadyAndHeartbeat(t *testing.T) {
	paths := demoNet(t, 1, 1, nil)
	var ready, beats atomic.Int64
	r := start(t, paths[0], Options{
		Ready:     func() { ready.Add(1) },
		Heartbeat: func() { beats.Add(1) },
	})
	waitFor(t, "Ready", 10*time.Second, func() bool { return ready.Load() > 0 })
	waitFor(t, "heartbeats", 10*time.Second, func() bool { return beats.Load() >= 5 })
	r.Halt(t)
	if got := ready.Load(); got != 1 {
		t.Errorf("Ready called %d times; want 1", got)
	}
}
