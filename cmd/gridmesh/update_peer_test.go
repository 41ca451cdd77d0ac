package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/update"
)

// peerHome is a home that took a release from the download server, runs
// it, and serves it over libp2p as the node does (node.Options.Releases).
type peerHome struct {
	slots update.Slots
	srv   *update.Server
}

func newPeerHome(t *testing.T, keyFile string, pub []byte, version, bin string) peerHome {
	t.Helper()
	rel := signRelease(t, keyFile, version, bin)
	keys, err := update.ParseKeys([]string{string(pub)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	opts := update.Options{Keys: keys, Running: "v1.0.0", Platform: platform(), Now: now, Window: time.Minute}
	h := peerHome{slots: update.Slots{Dir: filepath.Join(t.TempDir(), "slots")}}
	if _, err := h.slots.Apply(context.Background(), must(update.NewSource(rel, nil)), opts); err != nil {
		t.Fatal(err)
	}
	if _, err := h.slots.Launch("v1.0.0", now); err != nil {
		t.Fatal(err)
	}
	if _, err := h.slots.Commit(update.SlotA); err != nil {
		t.Fatal(err)
	}
	h.srv = update.NewServer(h.slots, platform(), 0)
	return h
}

// servePeer starts a p2p host of network that answers update/1 through
// handle, and returns its address.
func servePeer(t *testing.T, network string, handle func(ctx context.Context, req []byte) ([]byte, error)) string {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(nil)
	h, err := p2p.New(context.Background(), p2p.Config{Key: k, Network: network, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	h.Handle(update.PeerProtocol, update.MaxPeerRequest, func(ctx context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
		return handle(ctx, req)
	})
	return h.Addrs()[0]
}

// TestUpdateFromPeerOverLibp2p: `gridmesh update apply --from-peer` takes
// a release from another home over libp2p (the second home has no route to
// the download server, only to the first home), checked like any other:
// signature, then size and sha256; it lands in the inactive slot on trial.
// `update check --from-peer` says the same and writes nothing.
func TestUpdateFromPeerOverLibp2p(t *testing.T) {
	keyFile, pub := releaseKey(t)
	self, err := os.Executable() // a binary of some MB: several chunks
	if err != nil {
		t.Fatal(err)
	}
	first := newPeerHome(t, keyFile, []byte(update.PublicKeyText(pub)), "v1.1.0", self)
	addr := servePeer(t, "test-1", first.srv.Handle)

	second := newUpdNode(t, pub)
	stdout, stderr, code := gridmesh(t, "update", "check", "-c", second.cfg, "--from-peer", addr)
	if code != 0 || !strings.Contains(stdout, "v1.1.0 is signed by a release key of test-1") {
		t.Fatalf("update check --from-peer: exit %d\n%s%s", code, stdout, stderr)
	}
	// --from-peer bootstrap: the first bootstrap peer holds no release, the
	// second does.
	empty := servePeer(t, "test-1", update.NewServer(update.Slots{Dir: t.TempDir()}, platform(), 0).Handle)
	cfg, err := config.LoadNode(second.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Network.Bootstrap = []string{empty, addr}
	if err := os.WriteFile(second.cfg, cfg.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = gridmesh(t, "update", "check", "-c", second.cfg, "--from-peer", "bootstrap")
	if code != 0 || !strings.Contains(stdout, "v1.1.0 is signed by a release key of test-1") {
		t.Fatalf("update check --from-peer bootstrap: exit %d\n%s%s", code, stdout, stderr)
	}
	cfg.Network.Bootstrap = []string{empty}
	if err := os.WriteFile(second.cfg, cfg.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code = gridmesh(t, "update", "check", "-c", second.cfg, "--from-peer", "bootstrap"); code != 1 || !strings.Contains(stderr, "no bootstrap peer has a release this node takes") {
		t.Errorf("--from-peer bootstrap with none holding a release: got exit %d, %s; want exit 1 and why", code, stderr)
	}
	if second.slots.Exists() {
		t.Error("update check wrote the slot state")
	}
	stdout, stderr, code = gridmesh(t, "update", "apply", "-c", second.cfg, "--from-peer", addr, "--min-peers", "0", "--settle", "1s")
	if code != 0 || !strings.Contains(stdout, "installed v1.1.0") {
		t.Fatalf("update apply --from-peer: exit %d\n%s%s", code, stdout, stderr)
	}
	got, _ := os.ReadFile(second.slots.Binary(update.SlotA))
	want, _ := os.ReadFile(self)
	if !bytes.Equal(got, want) {
		t.Errorf("the binary from the peer: %d bytes, want %d identical", len(got), len(want))
	}
	if st := second.state(t); st.Trial == nil || st.Trial.Version != "v1.1.0" || st.Trial.Slot != update.SlotA {
		t.Errorf("second home's trial: got %+v, want v1.1.0 in slot a", st.Trial)
	}
	if s := first.srv.Stats(); s.Served < 3 || s.Bytes < int64(len(want)) {
		t.Errorf("the first home's counts: got %+v, want at least the manifest, signature and %d bytes of binary", s, len(want))
	}
}

// TestUpdateFromLyingPeer: a peer that changes a byte of the binary, cuts
// it short, changes the manifest or serves another network's release is
// refused with nothing in the slots changed, and the node says why.
func TestUpdateFromLyingPeer(t *testing.T) {
	keyFile, pub := releaseKey(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	first := newPeerHome(t, keyFile, []byte(update.PublicKeyText(pub)), "v1.1.0", self)
	stranger := newPeerHome(t, keyFile, []byte(update.PublicKeyText(pub)), "v1.1.0", self)
	// liar answers as first would, with the pin dropped (a changed manifest
	// has a hash first does not know), then changes the answer.
	liar := func(change func(file string, offset int64, b []byte) []byte) func(context.Context, []byte) ([]byte, error) {
		return func(ctx context.Context, req []byte) ([]byte, error) {
			name, off, _ := strings.Cut(string(req), " ")
			if i := strings.IndexByte(name, '/'); i >= 0 {
				name = name[i+1:]
			}
			b, err := first.srv.Handle(ctx, []byte(name+" "+off))
			if err != nil {
				return nil, err
			}
			o, _ := strconv.ParseInt(off, 10, 64)
			return change(name, o, append([]byte(nil), b...)), nil
		}
	}
	isBinary := func(file string) bool {
		return strings.HasPrefix(file, "gridmesh") && !strings.HasPrefix(file, "manifest")
	}

	second := newUpdNode(t, pub)
	for _, tc := range []struct {
		name   string
		handle func(context.Context, []byte) ([]byte, error)
		want   string
	}{
		{"a byte of the binary changed", liar(func(file string, off int64, b []byte) []byte {
			if isBinary(file) && off == update.PeerChunk {
				b[100] ^= 1
			}
			return b
		}), "update refused: update: the binary does not match the manifest"},
		{"the binary cut short", liar(func(file string, off int64, b []byte) []byte {
			if isBinary(file) && off > 0 {
				return b[:10]
			}
			return b
		}), "update refused: update: truncated download"},
		{"the manifest changed", liar(func(file string, off int64, b []byte) []byte {
			if file == "manifest.json" {
				return bytes.Replace(b, []byte("v1.1.0"), []byte("v1.9.0"), 1)
			}
			return b
		}), "update refused: update: bad signature"},
		{"nothing held", func(ctx context.Context, req []byte) ([]byte, error) {
			return update.NewServer(update.Slots{Dir: t.TempDir()}, platform(), 0).Handle(ctx, req)
		}, "update refused: update: read manifest.json: update: manifest.json at 0 from the peer: update: no such release file here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshotDir(second.slots.Dir)
			addr := servePeer(t, "test-1", tc.handle)
			stdout, stderr, code := gridmesh(t, "update", "apply", "-c", second.cfg, "--from-peer", addr, "--min-peers", "0", "--settle", "1s")
			if code != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("got exit %d\n%s%s\nwant exit 1 and %q", code, stdout, stderr, tc.want)
			}
			if after := snapshotDir(second.slots.Dir); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("the slots changed: before %v, after %v", keysOf(before), keysOf(after))
			}
		})
	}
	// A release of another network (its own protocol id) is not even asked for.
	t.Run("another network", func(t *testing.T) {
		addr := servePeer(t, "other-1", stranger.srv.Handle)
		_, stderr, code := gridmesh(t, "update", "apply", "-c", second.cfg, "--from-peer", addr, "--min-peers", "0", "--settle", "1s")
		if code != 1 || !strings.Contains(stderr, "protocols not supported") {
			t.Errorf("got exit %d, %s; want exit 1 and the protocol refused", code, stderr)
		}
	})
	if second.slots.Exists() && fileExists(second.slots.Binary(update.SlotA)) {
		t.Error("a refused release left a binary in slot a")
	}
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
