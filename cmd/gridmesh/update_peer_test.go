package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/update"
)

// TestUpdateFromPeerOverLibp2p: a release travels between two of the
// project's p2p hosts on loopback through update.Server on one and
// update.NewPeerSource on the other, as the node will wire them
// (host.Handle(update.PeerProtocol, ...) and host.Request), and is checked
// like any other: signature, then size and sha256.
func TestUpdateFromPeerOverLibp2p(t *testing.T) {
	keyFile, pub := releaseKey(t)
	self, err := os.Executable() // a binary of some MB: several chunks
	if err != nil {
		t.Fatal(err)
	}
	rel := signRelease(t, keyFile, "v1.1.0", self)
	now := time.Now()
	opts := update.Options{Keys: update.Keys{pub}, Running: "v1.0.0", Platform: platform(), Now: now, Window: time.Minute}

	// The first home took v1.1.0 from the download server and runs it.
	first := update.Slots{Dir: filepath.Join(t.TempDir(), "slots")}
	if _, err := first.Apply(context.Background(), must(update.NewSource(rel, nil)), opts); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Launch("v1.0.0", now); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Commit(update.SlotA); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	host := func() *p2p.Host {
		_, k, _ := ed25519.GenerateKey(nil)
		h, err := p2p.New(ctx, p2p.Config{Key: k, Network: "test-1", Listen: []string{"/ip4/127.0.0.1/tcp/0"}}, nil) // the default PeerReqRate: 10 chunks of 1 MiB a second
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	a, b := host(), host()
	srv := update.NewServer(first, platform(), 0)
	a.Handle(update.PeerProtocol, update.MaxPeerRequest, func(ctx context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
		return srv.Handle(ctx, req)
	})
	peerAddr := a.Addrs()[0]
	src := update.NewPeerSource(peerAddr, func(ctx context.Context, req []byte, maxResp int) ([]byte, error) {
		return b.Request(ctx, peerAddr, update.PeerProtocol, req, maxResp)
	})

	// The second home has no route to the server, only to the first home.
	second := update.Slots{Dir: filepath.Join(t.TempDir(), "slots")}
	p, err := second.Apply(ctx, src, opts)
	if err != nil {
		t.Fatalf("apply from the peer: %v", err)
	}
	got, _ := os.ReadFile(second.Binary(p.Slot))
	want, _ := os.ReadFile(self)
	if !bytes.Equal(got, want) {
		t.Errorf("the binary from the peer: %d bytes, want %d identical", len(got), len(want))
	}
	if st, _ := second.Load(); st.Trial == nil || st.Trial.Version != "v1.1.0" {
		t.Errorf("second home's state: %+v", st)
	}
}
