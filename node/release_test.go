package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/update"
)

// platformHere is this machine's platform, as the release servers name it.
var platformHere = runtime.GOOS + "/" + runtime.GOARCH

// writeTestRelease writes a release of version for platformHere into dir,
// signed by key (as `gridmesh release sign` does), with created as its
// creation time, and returns the manifest's bytes and sha256.
func writeTestRelease(t *testing.T, dir string, key minisign.PrivateKey, version string, created time.Time) ([]byte, string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "gridmesh-"+version)
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho "+version+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, size, err := update.FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	m := update.Manifest{Format: update.ManifestFormat, Version: version, Created: created.UTC().Truncate(time.Second),
		Expires: created.Add(30 * 24 * time.Hour).UTC().Truncate(time.Second),
		Targets: map[string]update.Target{platformHere: {File: filepath.Base(bin), SHA256: sum, Size: size}}}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := update.Sign(key, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json.minisig"), sig, 0o644); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return b, hex.EncodeToString(h[:])
}

// liar is a libp2p peer that answers every update/1 request with the
// files of release dir (another release than the one asked for).
func liar(t *testing.T, network, dir string, dial string) *p2p.Host {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.New(context.Background(), p2p.Config{Key: key, Network: network, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: []string{dial}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	h.Handle(update.PeerProtocol, update.MaxPeerRequest, func(_ context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
		name, off, _ := strings.Cut(string(req), " ")
		if _, file, ok := strings.Cut(name, "/"); ok {
			name = file
		}
		if !strings.HasPrefix(name, "manifest.json") {
			name = "gridmesh-v1.5.0"
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		o, _ := strconv.Atoi(off)
		if err != nil || o > len(b) {
			return nil, errors.New("no such file")
		}
		return b[o:min(len(b), o+update.PeerChunk)], nil
	})
	return h
}

// TestReleaseAnnounced runs four authorities and two homes on loopback:
// once upgrade release-votes is in force, one authority's announcement of
// v1.5.0 does nothing; three of four announce it, and home-2 ([updates]
// auto, running v1.4.0) asks its peers for it by hash: a peer that serves
// another manifest is refused (last refused names the peer and why), and
// the release from authority-1's slots is installed into home-2's inactive
// slot, on trial. authority-1's /metrics counts what it served. Then three
// authorities rotate the release keys: home-2 verifies with the new key and
// refuses a manifest signed by the old one.
func TestReleaseAnnounced(t *testing.T) {
	if testing.Short() {
		t.Skip("runs six nodes for a minute; without -short")
	}
	prevEvery, prevRetry := releaseEvery, releaseRetry
	releaseEvery, releaseRetry = 200*time.Millisecond, 500*time.Millisecond
	t.Cleanup(func() { releaseEvery, releaseRetry = prevEvery, prevRetry })

	dir := t.TempDir()
	paths := slotNet(t, 2, 4, 2*time.Second)
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		g, err := config.LoadGenesis(filepath.Join(filepath.Dir(p), "genesis.toml"))
		if err != nil {
			t.Fatal(err)
		}
		g.Updates.Keys = []string{update.PublicKeyText(pub)}
		if err := os.WriteFile(filepath.Join(filepath.Dir(p), "genesis.toml"), g.TOML(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	homePath := paths[5]
	c, err := config.LoadNode(homePath)
	if err != nil {
		t.Fatal(err)
	}
	c.Updates = config.Updates{Auto: true}
	if err := os.WriteFile(homePath, c.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	good, goodHash := writeTestRelease(t, filepath.Join(dir, "release"), priv, "v1.5.0", now.Add(-time.Hour))
	_, otherHash := writeTestRelease(t, filepath.Join(dir, "other"), priv, "v1.5.0", now.Add(-2*time.Hour))
	var nodes []*running
	for _, p := range paths {
		slots := update.Slots{Dir: filepath.Join(filepath.Dir(p), "slots")}
		nodes = append(nodes, start(t, p, Options{Releases: update.NewServer(slots, platformHere, 0), Version: "v1.4.0"}))
	}
	auth, home := nodes[0].n, nodes[5].n
	homeSlots := home.opts.Releases.Slots
	liar(t, home.gen.ChainID, filepath.Join(dir, "other"), home.Addrs()[0])
	waitFor(t, "home-2 to follow the chain and meet its peers", 60*time.Second, func() bool {
		return home.Status().Height > 0 && len(home.host.Peers()) >= 5
	})

	submit := func(i int, tx chain.Tx) {
		t.Helper()
		if _, err := Submit(context.Background(), paths[i], nodes[i].n.api.Addr().String(), tx); err != nil {
			t.Fatalf("%s: %v", paths[i], err)
		}
	}
	h := auth.Status().Height + 6
	for i := range 3 {
		submit(i, chain.Tx{Kind: chain.TxUpgrade, Upgrade: &chain.UpgradeVote{Name: chain.UpgradeReleaseVotes, Height: h}})
	}
	waitFor(t, "upgrade release-votes in force on home-2", 90*time.Second, func() bool { return home.Status().Height >= h })

	m := ident.Hash(sha256.Sum256(good))
	announce := chain.Tx{Kind: chain.TxRelease, Release: &chain.ReleaseVote{Version: "v1.5.0", Manifest: &m}}
	submit(0, announce)
	waitFor(t, "one authority's announcement vote on home-2", 60*time.Second, func() bool {
		v := home.Status().ReleaseVotes
		return len(v) == 1 && v[0].Votes == 1
	})
	time.Sleep(2 * time.Second) // runReleases looks ten times
	if a := home.Status().Announced; a != nil || homeSlots.OnTrial() {
		t.Fatalf("after 1 of 4 votes: announced %+v, on trial %v; want nothing", a, homeSlots.OnTrial())
	}

	submit(1, announce)
	submit(2, announce)
	// No honest peer holds v1.5.0 yet: the liar's manifest is refused.
	waitFor(t, "home-2 to refuse the liar's manifest", 90*time.Second, func() bool {
		e, _ := homeSlots.LastRefusal()
		return e != nil
	})
	checkLiarRefused(t, homeSlots, otherHash, goodHash)
	if homeSlots.OnTrial() {
		t.Fatal("home-2 installed a release no honest peer holds")
	}
	// authority-1 takes v1.5.0 from a web server; home-2 then gets it from it.
	authSlots := auth.opts.Releases.Slots
	src, err := update.NewSource(filepath.Join(dir, "release"), nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := update.ParseKeys([]string{update.PublicKeyText(pub)})
	if _, err := authSlots.Apply(context.Background(), src, update.Options{Keys: keys, Running: "v1.4.0", Platform: platformHere, Now: now,
		Window: time.Minute, MinPeers: 1, Settle: time.Second}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "v1.5.0 installed on home-2, on trial", 90*time.Second, homeSlots.OnTrial)
	a := home.Status().Announced
	if a == nil || a.Version != "v1.5.0" || a.Manifest != goodHash || a.Votes != 3 {
		t.Errorf("home-2's status: announced %+v; want v1.5.0, manifest %s, 3 votes", a, goodHash)
	}
	st, err := homeSlots.Load()
	if err != nil {
		t.Fatal(err)
	}
	if st.Trial == nil || st.Trial.Version != "v1.5.0" || st.Trial.Slot != update.SlotA || st.Slots[update.SlotA].Version != "v1.5.0" {
		t.Errorf("home-2's slots: %+v; want v1.5.0 on trial in slot a", st)
	}
	// The slots say "on trial" as soon as Apply has written them; the status
	// says so when fetchAnnounced returns from Apply, a moment later (until
	// then it still names the liar's refusal: seen at load average 22).
	var au string
	if !eventually(10*time.Second, func() bool {
		au = home.Status().AutoUpdate
		return strings.Contains(au, "installed into slot a from peer")
	}) {
		t.Errorf("home-2's auto_update %q; want installed from a peer", au)
	}
	net, ok, err := homeSlots.LoadNetwork()
	if err != nil || !ok || net.Announced == nil || net.Announced.Manifest != goodHash {
		t.Errorf("home-2's network.json: %+v (%v, %v); want the announcement", net, ok, err)
	}

	// What authority-1 served, in its status and on /metrics.
	served := auth.opts.Releases.Stats()
	_, fams := scrape(t, auth)
	if v, _ := value(fams, "gridmesh_update_served_total"); served.Served < 3 || v < 3 {
		t.Errorf("authority-1 served %d release chunks, /metrics says %v; want at least 3 (manifest, signature, binary)", served.Served, v)
	}
	if v, _ := value(fams, "gridmesh_update_served_bytes_total"); v < float64(len(good)) {
		t.Errorf("gridmesh_update_served_bytes_total = %v; want at least the manifest's %d bytes", v, len(good))
	}

	checkKeyRotation(t, nodes, paths, submit, priv)
}

// checkLiarRefused checks that the last refusal recorded on home-2 is the
// liar's manifest of another hash, naming both hashes and the peer.
func checkLiarRefused(t *testing.T, slots update.Slots, otherHash, goodHash string) {
	t.Helper()
	e, err := slots.LastRefusal()
	if err != nil {
		t.Fatal(err)
	}
	if e == nil {
		t.Fatal("home-2 recorded no refusal; want the liar's manifest refused")
	}
	t.Logf("home-2 refused: %s", e.Reason)
	for _, want := range []string{"the manifest is not the announced release", otherHash, goodHash, "from peer "} {
		if !strings.Contains(e.Reason, want) {
			t.Errorf("home-2's last refusal %q lacks %q", e.Reason, want)
		}
	}
}

// checkKeyRotation: one authority's key vote changes nothing; three of four
// replace the release keys, and home-2 then verifies with the new key only.
func checkKeyRotation(t *testing.T, nodes []*running, paths []string, submit func(int, chain.Tx), old minisign.PrivateKey) {
	t.Helper()
	home := nodes[5].n
	newPub, newPriv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	rotate := chain.Tx{Kind: chain.TxRelease, Release: &chain.ReleaseVote{Keys: []string{update.PublicKeyText(newPub)}}}
	submit(3, rotate)
	waitFor(t, "one authority's key vote on home-2", 60*time.Second, func() bool { return len(home.Status().ReleaseVotes) == 1 })
	if k := home.Status().ReleaseKeys; k != nil {
		t.Fatalf("one authority replaced the release keys: %+v", k)
	}
	submit(0, rotate)
	submit(1, rotate)
	waitFor(t, "the new release keys on home-2", 60*time.Second, func() bool { return home.Status().ReleaseKeys != nil })
	keys, err := home.releaseKeys()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	oldM, _ := writeTestRelease(t, filepath.Join(dir, "old"), old, "v1.6.0", time.Now().Add(-time.Hour))
	oldSig, _ := os.ReadFile(filepath.Join(dir, "old", "manifest.json.minisig"))
	if _, err := update.Verify(keys, oldM, oldSig); !errors.Is(err, update.ErrBadSignature) {
		t.Errorf("a manifest signed by the old key after the rotation: %v; want %v", err, update.ErrBadSignature)
	}
	newM, _ := writeTestRelease(t, filepath.Join(dir, "new"), newPriv, "v1.6.0", time.Now().Add(-time.Hour))
	newSig, _ := os.ReadFile(filepath.Join(dir, "new", "manifest.json.minisig"))
	if _, err := update.Verify(keys, newM, newSig); err != nil {
		t.Errorf("a manifest signed by the new key after the rotation: %v; want it verified", err)
	}
	waitFor(t, "network.json to carry the new keys", 10*time.Second, func() bool {
		net, _, _ := home.opts.Releases.Slots.LoadNetwork()
		return slices.Equal(net.Keys, []string{update.PublicKeyText(newPub)})
	})
}

// TestReleasesChanged: network.json is rewritten when the announcement or
// the keys change, not when only the height moves.
func TestReleasesChanged(t *testing.T) {
	base := update.Network{ChainID: "c", Height: 10}
	announced := base
	announced.Announced = &update.Announcement{Version: "v1.1.0", Manifest: "ab", Height: 9, Votes: 3}
	later := announced
	later.Height = 11
	keys := later
	keys.Keys, keys.KeysHeight = []string{"RWQ"}, 11
	for _, c := range []struct {
		name string
		last *update.Network
		net  update.Network
		want bool
	}{
		{"nothing written yet", nil, base, true},
		{"height only", &base, update.Network{ChainID: "c", Height: 12}, false},
		{"announced", &base, announced, true},
		{"announced, height moved", &announced, later, false},
		{"keys voted", &later, keys, true},
	} {
		if got := releasesChanged(c.last, c.net); got != c.want {
			t.Errorf("%s: releasesChanged = %v, want %v", c.name, got, c.want)
		}
	}
}
