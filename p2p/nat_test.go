package p2p

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
)

func TestRelayCarriesGossipForAdmittedPeers(t *testing.T) {
	admitted := map[string]bool{}
	for _, seed := range []byte{41, 42} { // a and b; c (43) is not admitted
		id, err := peerIDOfKey(testKey(seed))
		if err != nil {
			t.Fatal(err)
		}
		admitted[id] = true
	}
	relay := newTestHost(t, 40, func(c *Config) {
		c.RelayService = true
		c.RelayAllow = func(id string) bool { return admitted[id] }
	})
	home := func(seed byte) *Host {
		return newTestHost(t, seed, func(c *Config) {
			c.NATTraversal = true
			c.Bootstrap = relay.Addrs()
		})
	}
	a, b, c := home(41), home(42), home(43)
	for _, h := range []*Host{a, b, c} {
		eventually(t, patience, "homes to reach the relay", func() bool { return len(h.Peers()) >= 1 })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	relayInfo := peer.AddrInfo{ID: relay.h.ID(), Addrs: relay.h.Addrs()}

	// The relay refuses a reservation from a peer it does not admit.
	if _, err := client.Reserve(ctx, c.h, relayInfo); err == nil {
		t.Errorf("reservation by an unadmitted peer: err = nil, want refusal")
	}
	if _, err := client.Reserve(ctx, b.h, relayInfo); err != nil {
		t.Fatalf("reservation by an admitted peer: %v", err)
	}
	circuit := fmt.Sprintf("%s/p2p-circuit/p2p/%s", relay.Addrs()[0], b.ID())
	if err := a.Connect(ctx, circuit); err != nil {
		t.Fatalf("connect through the relay: %v", err)
	}
	for _, conn := range a.h.Network().ConnsToPeer(b.h.ID()) {
		if conn.Stat().Limited {
			t.Errorf("connection %s is limited; gossipsub would not use it", conn.RemoteMultiaddr())
		}
	}
	ta, tb := joinBoth(t, "tx", a, b)
	waitMesh(t, ta, b)
	waitMesh(t, tb, a)
	if err := ta.Publish(ctx, []byte("via relay")); err != nil {
		t.Fatal(err)
	}
	m, err := tb.Next(ctx)
	if err != nil || string(m.Payload) != "via relay" {
		t.Errorf("b got %q, %v; want \"via relay\"", m.Payload, err)
	}
}
