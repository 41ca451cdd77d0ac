package node

import (
	"context"
	"errors"
	"io"
	"time"
)

// DemoOptions are the flags of `gridmesh demo`.
type DemoOptions struct {
	Homes       int
	Authorities int
	Slot        time.Duration
	For         time.Duration
	Seed        int64
	Data        string // "" = a temporary directory removed at exit
	JSON        bool
}

// DefaultDemoOptions are the demo's defaults.
func DefaultDemoOptions() DemoOptions {
	return DemoOptions{Homes: 6, Authorities: 1, Slot: 5 * time.Second, For: 90 * time.Second, Seed: 1}
}

// Demo runs a whole simulated microgrid in this process (`gridmesh demo`).
func Demo(ctx context.Context, opts DemoOptions, stdout, stderr io.Writer) error {
	return errors.New("node: demo not built yet")
}

// RunConfig runs one node from the config file at path (`gridmesh run -c path`).
func RunConfig(ctx context.Context, path string, stdout, stderr io.Writer) error {
	return errors.New("node: run not built yet")
}
