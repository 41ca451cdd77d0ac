package portlease

import (
	"testing"
	"time"
)

func TestLeasesDiffer(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		port, err := TCP(time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if seen[port] {
			t.Fatalf("port %d leased twice while its first lease holds", port)
		}
		seen[port] = true
	}
}
