package p2p

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIdleFootprint measures what idle hosts cost when GRIDMESH_IDLE is set:
//
//	GRIDMESH_IDLE=1 go test ./p2p -run TestIdleFootprint -v
//
// It starts 7 fully connected hosts (each has 6 peers) on two topics, lets them
// idle for 20 s and prints, per host, goroutines, resident memory and CPU.
func TestIdleFootprint(t *testing.T) {
	if os.Getenv("GRIDMESH_IDLE") == "" {
		t.Skip("set GRIDMESH_IDLE=1 to run")
	}
	const n = 7
	runtime.GC()
	g0, rss0 := runtime.NumGoroutine(), rssMB()
	hosts := make([]*Host, n)
	for i := range hosts {
		h, err := New(context.Background(), Config{Key: testKey(byte(60 + i)), Network: testNet,
			Listen: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		hosts[i] = h
	}
	for i := range hosts {
		for j := i + 1; j < n; j++ {
			connect(t, hosts[i], hosts[j])
		}
	}
	for _, h := range hosts {
		for _, name := range []string{"tx", "consensus"} {
			if _, err := h.Join(name, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(5 * time.Second)
	cpu0 := cpuTime()
	const idle = 20 * time.Second
	time.Sleep(idle)
	cpu := cpuTime() - cpu0
	runtime.GC()
	out := map[string]float64{
		"hosts":                   n,
		"peers_each":              float64(len(hosts[0].Peers())),
		"goroutines_per_host":     float64(runtime.NumGoroutine()-g0) / n,
		"rss_mb_per_host":         (rssMB() - rss0) / n,
		"cpu_percent_per_host":    100 * cpu.Seconds() / idle.Seconds() / n,
		"process_rss_mb_with_all": rssMB(),
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
