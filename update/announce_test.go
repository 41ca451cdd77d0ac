package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAnnouncedManifest: with Options.Manifest, a release of another
// manifest hash is refused before anything is written, naming both hashes
// and with the note; the announced one from a pinned peer source is
// installed.
func TestAnnouncedManifest(t *testing.T) {
	pub, priv := newKey(t)
	dir := t.TempDir()
	rel := writeRelease(t, filepath.Join(dir, "r"), priv, "v1.1.0", []byte("new binary"), testNow, nil)
	first := Slots{Dir: filepath.Join(dir, "first")}
	srv := NewServer(first, testPlatform, 0)
	must(first.Apply(context.Background(), must(NewSource(rel.dir, nil)), testOptions(pub)))
	b := must(os.ReadFile(filepath.Join(rel.dir, "manifest.json")))
	sum := sha256.Sum256(b)
	announced := hex.EncodeToString(sum[:])

	second := Slots{Dir: filepath.Join(dir, "second")}
	o := testOptions(pub)
	o.Manifest, o.Note = strings.Repeat("ab", 32), "announced at height 9"
	_, err := second.Apply(context.Background(), NewPeerSource("first", servedBy(srv, nil)), o)
	if !errors.Is(err, ErrNotAnnounced) || !strings.Contains(err.Error(), announced) {
		t.Fatalf("a manifest of another hash: %v; want %v naming %s", err, ErrNotAnnounced, announced)
	}
	if second.Exists() {
		t.Error("a refused release wrote the slot state")
	}
	if e := must(second.LastRefusal()); e == nil || !strings.HasSuffix(e.Reason, "(announced at height 9)") {
		t.Errorf("last refusal %+v; want the reason with the note", e)
	}

	o.Manifest = announced
	if _, err := second.Apply(context.Background(), NewPinnedPeerSource("first", announced, servedBy(srv, nil)), o); err != nil {
		t.Fatalf("the announced release from a pinned peer source: %v", err)
	}
	if _, err := second.Check(context.Background(), NewPinnedPeerSource("first", strings.Repeat("cd", 32), servedBy(srv, nil)), o); !errors.Is(err, ErrNotHeld) {
		t.Errorf("a release the peer does not hold: %v; want %v", err, ErrNotHeld)
	}
}

// TestNetworkFile: SaveNetwork and LoadNetwork round-trip; no file is
// "none"; unknown fields are refused.
func TestNetworkFile(t *testing.T) {
	s := Slots{Dir: filepath.Join(t.TempDir(), "slots")}
	if _, ok, err := s.LoadNetwork(); ok || err != nil {
		t.Fatalf("no network.json: ok %v, err %v; want none", ok, err)
	}
	want := Network{ChainID: "n", Height: 7, Announced: &Announcement{Version: "v1.2.0", Manifest: strings.Repeat("0", 64), Height: 5, Votes: 3}, Keys: []string{"RWQ"}, KeysHeight: 6}
	if err := s.SaveNetwork(want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.LoadNetwork()
	if err != nil || !ok || got.ChainID != want.ChainID || *got.Announced != *want.Announced || got.KeysHeight != 6 || len(got.Keys) != 1 {
		t.Errorf("LoadNetwork = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if err := os.WriteFile(s.networkPath(), []byte(`{"chain_id":"n","height":1,"extra":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadNetwork(); err == nil {
		t.Error("network.json with an unknown field: no error")
	}
}
