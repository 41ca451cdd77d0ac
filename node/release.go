package node

// Releases announced on chain (chain/release.go; update/announce.go).
//
// A node whose composition root gave it its update slots (Options.Releases)
// runs runReleases beside its loop. Every releaseEvery it
//
//   - writes what the chain says about releases (the announced release, the
//     release keys the authorities voted) to the slots' network.json, so
//     that `gridmesh update status` shows the announcement and `gridmesh
//     update check|apply` verify with the voted keys;
//   - if [updates] auto is true and the announced release is newer than
//     what this node runs, not rolled back here before, and no release is
//     on trial: after a random wait within [updates] window (a street does
//     not restart at once), asks its connected peers in turn for the
//     release by its manifest's hash (update.NewPinnedPeerSource) and
//     installs it as `gridmesh update apply` does (update.Slots.Apply,
//     with Options.Manifest: a manifest of another hash is refused before
//     its signature is looked at, and the signature must be by a release
//     key in force). A peer that does not hold it is skipped without a
//     note; any other refusal is recorded (refused.json: `update status`
//     shows it as "last refused", with the peer it came from). If no peer
//     gave it, it tries again after releaseRetry. Once installed, the
//     launcher side of `gridmesh run` (cmd/gridmesh: watchForTrial) ends
//     the node with status 75 and the supervisor starts the new version on
//     trial, as after a manual apply.
//
// The trial's terms are apply's defaults (5 minutes to have a peer for 30
// seconds). The state of this (AutoUpdate) is in the status.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"

	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/update"
)

// How often runReleases looks at the chain, and how long it waits after
// no peer gave the announced release.
var (
	releaseEvery = 2 * time.Second
	releaseRetry = time.Minute
)

// The trial's terms of an automatic update (gridmesh update apply's defaults).
const (
	autoTrialWindow = 5 * time.Minute
	autoTrialPeers  = 1
	autoTrialSettle = 30 * time.Second
)

// AnnouncedStatus is the release the authorities announced on chain.
type AnnouncedStatus struct {
	Version  string `json:"version"`
	Manifest string `json:"manifest"` // sha256 of its manifest.json
	Height   uint64 `json:"height"`   // the block that decided it
	Votes    int    `json:"votes"`    // authorities that voted for it
}

// ReleaseVoteStatus is an open release vote: an announcement (Version,
// Manifest) or a key set (Keys), held by Votes authorities.
type ReleaseVoteStatus struct {
	Version  string   `json:"version,omitempty"`
	Manifest string   `json:"manifest,omitempty"`
	Keys     []string `json:"keys,omitempty"`
	Votes    int      `json:"votes"`
}

// ReleaseKeysStatus are the release keys the authorities voted, in force
// since Height (absent from the status: genesis.toml's).
type ReleaseKeysStatus struct {
	Keys   []string `json:"keys"`
	Height uint64   `json:"height"`
}

// releaseStatus fills the release part of st from the chain.
func (n *Node) releaseStatus(st *Status) {
	n.mu.RLock()
	a, announced := n.chain.Announced()
	k, rotated := n.chain.ReleaseKeys()
	votes := n.chain.ReleaseVotes()
	n.mu.RUnlock()
	if announced {
		st.Announced = &AnnouncedStatus{Version: a.Version, Manifest: a.Manifest.String(), Height: a.Height, Votes: a.Votes}
	}
	if rotated {
		st.ReleaseKeys = &ReleaseKeysStatus{Keys: k.Keys, Height: k.Height}
	}
	for _, v := range votes {
		rv := ReleaseVoteStatus{Version: v.Vote.Version, Keys: v.Vote.Keys, Votes: v.Voters}
		if v.Vote.Manifest != nil {
			rv.Manifest = v.Vote.Manifest.String()
		}
		st.ReleaseVotes = append(st.ReleaseVotes, rv)
	}
}

// releaseNetwork is what network.json gets (update.Network).
func (n *Node) releaseNetwork() update.Network {
	n.mu.RLock()
	defer n.mu.RUnlock()
	net := update.Network{ChainID: n.gen.ChainID, Height: n.chain.Status().Height}
	if a, ok := n.chain.Announced(); ok {
		net.Announced = &update.Announcement{Version: a.Version, Manifest: a.Manifest.String(), Height: a.Height, Votes: a.Votes}
	}
	if k, ok := n.chain.ReleaseKeys(); ok {
		net.Keys, net.KeysHeight = k.Keys, k.Height
	}
	return net
}

// releaseKeys are the keys a release must be signed by: the authorities'
// last vote, else genesis.toml's [updates] keys.
func (n *Node) releaseKeys() (update.Keys, error) {
	n.mu.RLock()
	k, ok := n.chain.ReleaseKeys()
	n.mu.RUnlock()
	if ok {
		return update.ParseKeys(k.Keys)
	}
	return update.ParseKeys(n.genesisReleaseKeys)
}

// autoUpdate is runReleases' state for one announced release.
type autoUpdate struct {
	manifest string    // the announcement this is about
	at       time.Time // when to fetch; zero: nothing to do
}

// runReleases runs until ctx ends (see the top of this file).
func (n *Node) runReleases(ctx context.Context) error {
	r := n.opts.Releases
	if r == nil {
		return nil
	}
	t := time.NewTicker(releaseEvery)
	defer t.Stop()
	var au autoUpdate
	var saved *update.Network // what network.json holds, once written
	saveFailed := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		net := n.releaseNetwork()
		if releasesChanged(saved, net) {
			err := r.Slots.SaveNetwork(net)
			if err != nil && !saveFailed {
				n.log.Warn("update: cannot write what the chain says about releases", "err", err)
			}
			saveFailed = err != nil
			if err == nil {
				saved = &net
			}
		}
		a := net.Announced
		if !n.cfg.Updates.Auto || a == nil {
			continue
		}
		if a.Manifest != au.manifest {
			au = n.planUpdate(r.Slots, *a)
		}
		if au.at.IsZero() || time.Now().Before(au.at) || r.Slots.OnTrial() {
			continue
		}
		if n.fetchAnnounced(ctx, r, *a) {
			au.at = time.Time{}
		} else {
			au.at = time.Now().Add(releaseRetry)
		}
	}
}

// releasesChanged reports whether net says something about releases that
// last (nil: nothing written yet) does not. The height alone does not count:
// it moves with every block, and writing network.json (fsynced) every tick
// for it would wear a home's SD card for nothing.
func releasesChanged(last *update.Network, net update.Network) bool {
	if last == nil {
		return true
	}
	a := *last
	a.Height = net.Height
	return !reflect.DeepEqual(a, net)
}

// planUpdate decides what to do about the announcement a: nothing (not
// newer, rolled back here before), or fetch it at a random time within the
// window.
func (n *Node) planUpdate(slots update.Slots, a update.Announcement) autoUpdate {
	au := autoUpdate{manifest: a.Manifest}
	newer, err := slots.Newer(n.opts.Version, a.Version)
	switch {
	case err != nil:
		n.setAutoUpdate(fmt.Sprintf("%s announced: the slot state cannot be read: %v", a.Version, err))
	case !newer:
		n.setAutoUpdate(fmt.Sprintf("%s announced: this node runs it or a newer release", a.Version))
	case slots.Failed(a.Version):
		n.setAutoUpdate(fmt.Sprintf("%s announced: it was rolled back on this node before (gridmesh update apply --retry tries it again)", a.Version))
	default:
		var wait time.Duration
		if w := n.cfg.Updates.Window.Duration; w > 0 {
			wait = rand.N(w)
		}
		au.at = time.Now().Add(wait)
		n.setAutoUpdate(fmt.Sprintf("%s announced: fetching it from a peer at %s", a.Version, au.at.UTC().Format(time.RFC3339)))
		n.log.Info("update: a newer release was announced on chain", "version", a.Version, "manifest", a.Manifest, "fetch_in", wait.Round(time.Second))
	}
	return au
}

// fetchAnnounced asks the connected peers in turn for the release a and
// installs the first that passes every check; it reports whether one did.
func (n *Node) fetchAnnounced(ctx context.Context, r *update.Server, a update.Announcement) bool {
	keys, err := n.releaseKeys()
	if err != nil {
		n.setAutoUpdate(fmt.Sprintf("%s announced: the release keys: %v", a.Version, err))
		return false
	}
	tried := 0
	for _, pid := range n.host.Peers() {
		o := update.Options{
			Keys: keys, Running: n.opts.Version, Platform: r.Platform, Now: time.Now(),
			Manifest: a.Manifest, Note: fmt.Sprintf("announced on chain at height %d, from peer %s", a.Height, pid),
			Window: autoTrialWindow, MinPeers: autoTrialPeers, Settle: autoTrialSettle,
		}
		src := update.NewPinnedPeerSource(pid, a.Manifest, ReleaseRequester(n.host, pid))
		if _, err := r.Slots.Check(ctx, src, o); errors.Is(err, update.ErrNotHeld) {
			continue // not refused: that peer does not have it (yet)
		}
		tried++
		src = update.NewPinnedPeerSource(pid, a.Manifest, ReleaseRequester(n.host, pid))
		p, err := r.Slots.Apply(ctx, src, o)
		if err != nil {
			n.log.Warn("update: the announced release from a peer was refused", "version", a.Version, "peer", pid, "err", err)
			n.setAutoUpdate(fmt.Sprintf("%s announced: refused from peer %s: %v", a.Version, pid, err))
			continue
		}
		n.log.Info("update: installed the announced release, on trial", "version", p.Manifest.Version, "slot", p.Slot, "peer", pid)
		n.setAutoUpdate(fmt.Sprintf("%s announced: installed into slot %s from peer %s, on trial", a.Version, p.Slot, pid))
		return true
	}
	if tried == 0 {
		n.setAutoUpdate(fmt.Sprintf("%s announced: no peer holds it yet; asking again in %s", a.Version, releaseRetry))
	}
	return false
}

func (n *Node) setAutoUpdate(s string) { n.autoUpdate.Store(&s) }

// ReleaseRequester asks the peer at addr (a multiaddr with /p2p/<id>, or
// a peer id) through h on update.PeerProtocol; the peer's "not held"
// answer comes back as update.ErrNotHeld, which the peer source does not
// ask again for. (gridmesh update --from-peer uses it too.)
func ReleaseRequester(h *p2p.Host, addr string) update.Requester {
	return func(ctx context.Context, req []byte, maxResp int) ([]byte, error) {
		b, err := h.Request(ctx, addr, update.PeerProtocol, req, maxResp)
		if err != nil && errors.Is(err, p2p.ErrRemote) && strings.Contains(err.Error(), update.ErrNotHeld.Error()) {
			return nil, fmt.Errorf("%w (%s)", update.ErrNotHeld, addr)
		}
		return b, err
	}
}
