package p2psim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Run closes every host it starts; no goroutine of theirs may outlive it.
	goleak.VerifyTestMain(m)
}

// testHeartbeat shortens gossipsub's heartbeat so that meshes form quickly.
const testHeartbeat = 100 * time.Millisecond

func TestRunSim(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts 6 hosts twice: skipped with -short")
	}
	tests := []struct {
		name string
		cfg  Config
	}{
		// Settle is a deadline for stragglers, not a pause: Run ends as soon
		// as every host has every payload, so a long one only helps a loaded
		// machine.
		{"clean", Config{Nodes: 6, Orders: 30, Rate: 100, Seed: 1, Settle: 30 * time.Second, Heartbeat: testHeartbeat}},
		{"loss and latency", Config{Nodes: 6, Orders: 30, Rate: 100, Loss: 0.2, Latency: 20 * time.Millisecond,
			Every: 300 * time.Millisecond, Settle: 30 * time.Second, Seed: 2, Heartbeat: testHeartbeat}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := Run(ctx, tt.cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			t.Logf("%+v", res)
			if res.DeliveryRatio != 1 {
				t.Errorf("delivery ratio = %v, want 1", res.DeliveryRatio)
			}
			if res.Duplicates != 0 {
				t.Errorf("duplicates = %d, want 0", res.Duplicates)
			}
			if res.P50Ms <= 0 || res.P50Ms > res.P99Ms {
				t.Errorf("p50 = %v ms, p99 = %v ms: want 0 < p50 <= p99", res.P50Ms, res.P99Ms)
			}
			if tt.cfg.Latency > 0 && res.P50Ms < float64(tt.cfg.Latency)/1e6 {
				t.Errorf("p50 = %v ms with %v injected latency, want at least the latency", res.P50Ms, tt.cfg.Latency)
			}
			if res.BytesPerNode < int64(tt.cfg.Orders)*200 {
				t.Errorf("bytes per node = %d, want at least orders x payload = %d", res.BytesPerNode, tt.cfg.Orders*200)
			}
		})
	}
}

// TestSimFromEnv runs a larger simulation when GRIDMESH_SIM is set, e.g.
//
//	GRIDMESH_SIM='{"Nodes":50,"Orders":1000}' go test ./p2p/p2psim -run TestSimFromEnv -v
//
// and prints its result as one JSON line. Without the variable it is skipped.
func TestConfigRejected(t *testing.T) {
	for _, cfg := range []Config{{Nodes: 1}, {Loss: 1}, {Loss: -0.1}} {
		if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("Run(%+v): err = %v, want ErrConfig", cfg, err)
		}
	}
}

func TestSimFromEnv(t *testing.T) {
	spec := os.Getenv("GRIDMESH_SIM")
	if spec == "" {
		t.Skip("set GRIDMESH_SIM to a JSON Config to run")
	}
	var cfg Config
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		t.Fatalf("GRIDMESH_SIM: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
}
