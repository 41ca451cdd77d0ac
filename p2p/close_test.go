package p2p

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// A host that closes while its keep-alive loop is dialling a direct peer
// must not crash. The swarm's dial worker outlives the Connect that Close
// cancels; a force-direct dial then reached a closed swarm's nil transport
// in go-libp2p's Swarm.nonProxyAddr (see clearBackoff). Many addresses that
// refuse the dial widen the window in which the worker chooses them; with
// WithForceDirectDial the process crashed within a few closes.
func TestCloseWhileDialling(t *testing.T) {
	id, err := peerIDOfKey(testKey(200)) // no host has this key
	if err != nil {
		t.Fatal(err)
	}
	var direct []string
	for i := range 400 {
		direct = append(direct, fmt.Sprintf("/ip4/127.0.0.%d/tcp/%d/p2p/%s", 2+i%200, 1+i, id))
	}
	for range 10 {
		h, err := New(context.Background(), Config{Key: testKey(1), Network: testNet, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Direct: direct}, nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		time.Sleep(time.Duration(rand.N(3000)) * time.Microsecond)
		if err := h.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}
