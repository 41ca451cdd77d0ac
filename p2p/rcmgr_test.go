package p2p

import (
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// TestManyHomesBehindOneAddress opens inbound connections from one public
// address, as the homes behind one NAT router make them: the resource
// manager takes as many as MaxConns (libp2p's default refused the ninth,
// and a new one every 5 s after 16), and refuses the next, over the
// host's whole limit.
func TestManyHomesBehindOneAddress(t *testing.T) {
	cfg := Config{}
	cfg.setDefaults()
	rm, err := newResourceManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	for _, ip := range []string{"/ip4/198.51.100.7", "/ip6/2001:db8::7"} {
		var scopes []network.ConnManagementScope
		for i := range cfg.MaxConns {
			addr := multiaddr.StringCast(fmt.Sprintf("%s/tcp/%d", ip, 10000+i))
			s, err := rm.OpenConnection(network.DirInbound, true, addr)
			if err != nil {
				t.Fatalf("connection %d from %s refused: %v; want up to MaxConns (%d) from one address", i+1, ip, err, cfg.MaxConns)
			}
			scopes = append(scopes, s)
			// Each home is its own peer: after the handshake the
			// connection leaves the transient scope for its peer's.
			_, pub, err := crypto.GenerateEd25519Key(nil)
			if err != nil {
				t.Fatal(err)
			}
			id, err := peer.IDFromPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetPeer(id); err != nil {
				t.Fatalf("connection %d from %s: set peer: %v", i+1, ip, err)
			}
		}
		addr := multiaddr.StringCast(fmt.Sprintf("%s/tcp/9999", ip))
		if s, err := rm.OpenConnection(network.DirInbound, true, addr); err == nil {
			s.Done()
			t.Errorf("connection %d from %s accepted; want it refused (MaxConns in all)", cfg.MaxConns+1, ip)
		}
		for _, s := range scopes {
			s.Done()
		}
	}
}
