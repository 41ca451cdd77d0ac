package p2p_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log"
	"time"

	"github.com/gridmesh/gridmesh/p2p"
)

// Two nodes of network "demo": an authority that others bootstrap from, and a
// home that publishes an order and asks the authority for its chain height.
func Example() {
	ctx := context.Background()
	key := func(b byte) ed25519.PrivateKey {
		seed := make([]byte, ed25519.SeedSize)
		seed[0] = b
		return ed25519.NewKeyFromSeed(seed)
	}
	authority, err := p2p.New(ctx, p2p.Config{
		Key: key(1), Network: "demo", Listen: []string{"/ip4/127.0.0.1/tcp/0"},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer authority.Close()
	home, err := p2p.New(ctx, p2p.Config{
		Key: key(2), Network: "demo", Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		Bootstrap: authority.Addrs(), // kept connected, redialled with backoff
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer home.Close()

	// Request/response: /gridmesh/demo/height/1.
	authority.Handle("height/1", 64, func(ctx context.Context, from ed25519.PublicKey, req []byte) ([]byte, error) {
		return []byte("42"), nil
	})

	// Gossip: /gridmesh/demo/tx/1; the validator sees only signed, current envelopes.
	accept := func(from ed25519.PublicKey, payload []byte) p2p.Verdict { return p2p.Accept }
	txA, err := authority.Join("tx", accept)
	if err != nil {
		log.Fatal(err)
	}
	txH, err := home.Join("tx", accept)
	if err != nil {
		log.Fatal(err)
	}
	for len(txH.Peers()) == 0 || len(txA.Peers()) == 0 {
		time.Sleep(10 * time.Millisecond)
	}

	height, err := home.Request(ctx, authority.ID(), "height/1", nil, 64)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("height", string(height))

	if err := txH.Publish(ctx, []byte("sell 500 Wh")); err != nil {
		log.Fatal(err)
	}
	m, err := txA.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fromHome, _ := p2p.PeerID(m.From)
	fmt.Println(string(m.Payload), fromHome == home.ID())
	// Output:
	// height 42
	// sell 500 Wh true
}
