package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/p2p"
)

// TestRelayAllowed checks an authority's relay allowlist: admitted participants
// and authorities, nobody else.
func TestRelayAllowed(t *testing.T) {
	paths := demoNet(t, 1, 1, nil)
	n := loaded(t, paths[0])
	id := func(pub ed25519.PublicKey) string {
		s, err := p2p.PeerID(pub)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	stranger, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		who    string
		peerID string
		want   bool
	}{
		{"the home (admitted)", id(nodeKey(t, paths[1]).Public().(ed25519.PublicKey)), true},
		{"the authority", n.host.ID(), true},
		{"a stranger", id(stranger), false},
		{"not a peer id", "nonsense", false},
	}
	for _, c := range cases {
		if got := n.relayAllowed(c.peerID); got != c.want {
			t.Errorf("relayAllowed(%s) = %t; want %t", c.who, got, c.want)
		}
	}
}

// TestHomesMeetThroughDHT runs two homes that know only the authority (no
// mDNS) with [network] dht on: they must find and connect to each other through
// the network's DHT, whose server is the authority.
func TestHomesMeetThroughDHT(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-node run; runs without -short")
	}
	paths := demoNet(t, 2, 1, nil)
	for _, p := range paths {
		editConfig(t, p, func(c *config.Node) { c.Network.MDNS, c.Network.DHT = false, true })
	}
	start(t, paths[0], Options{})
	a, b := start(t, paths[1], Options{}), start(t, paths[2], Options{})
	waitFor(t, "the two homes to connect through the DHT", 30*time.Second, func() bool {
		return slices.Contains(a.n.host.Peers(), b.n.host.ID())
	})
}
