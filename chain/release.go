package chain

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/unit"
)

// Release votes: the authorities say on chain which release the network
// moves to, and which keys sign releases (update/README.md, "Announcing a
// release on chain").
//
// A TxRelease (kind 9) carries one ReleaseVote, of one of two shapes:
//
//   - an announcement, Version and Manifest (the sha256 of a release's
//     manifest.json): the network moves to that release. Homes ask their
//     peers for the manifest of that hash, check it has that hash, and
//     verify and install it as `gridmesh update apply` does: the vote says
//     which release, a release key's signature still says it is genuine.
//   - a key rotation, Keys (1 to MaxReleaseKeys minisign public keys,
//     sorted, no duplicates): from then on these, and not the keys pinned
//     in genesis.toml ([updates] keys) or a previous rotation, sign
//     releases.
//
// Rules: the sender must be an authority of the block's set
// (ErrNotAuthority), and the upgrade release-votes must be in force
// (ErrReleaseVotesOff): a binary of an earlier release cannot read the
// kind at all, so the authorities vote `gridmesh activate release-votes`
// once every node runs a release that knows it (README, Upgrading a
// network). An authority holds at most one open vote of each shape; a new
// one replaces it, so the votes in the state are bounded by the set's size
// (ErrVoted: the same vote as its open one). An announcement of the
// release already announced, and a rotation to the keys already in force,
// are refused (ErrReleaseNoChange). When more than 2/3 of the block's set
// hold the same vote (counting voters still in the set), it is decided in
// that block: the announced release, or the key set, is replaced, and
// every open vote of that shape is cleared. The count is made when a vote
// is cast (not at the end of every block, as authority-set votes are), so a
// set that shrinks decides nothing by itself: the next vote does; an
// authority that left the set keeps its entry, counted by no one, until the
// shape is decided. The chain does not compare
// versions (it knows no semver): a home refuses a release that is not
// newer than what it runs, whatever the chain says.
//
// State keys (only once such a tx exists, so a chain without one keeps its
// state hash):
//
//	q/a/<voter>  the voter's open announcement vote
//	q/k/<voter>  the voter's open key vote
//	r/a          the announced release
//	r/k          the release keys in force (absent: genesis.toml's)

// UpgradeReleaseVotes is the upgrade from which TxRelease is accepted.
const UpgradeReleaseVotes = "release-votes"

// MaxReleaseKeys bounds a key rotation (config.MaxReleaseKeys).
const MaxReleaseKeys = 8

// MaxReleaseVersion bounds an announced version's length.
const MaxReleaseVersion = 64

// Errors of release votes.
var (
	ErrReleaseVotesOff = errors.New("chain: release votes are not in force (the authorities vote upgrade " + UpgradeReleaseVotes + " first)")
	ErrReleaseNoChange = errors.New("chain: the vote changes nothing")
)

// ReleaseVote is an authority's vote for a release announcement (Version,
// Manifest) or for a new set of release keys (Keys); exactly one of the two.
type ReleaseVote struct {
	Version  string      `json:"version,omitempty"`
	Manifest *ident.Hash `json:"manifest,omitempty"`
	Keys     []string    `json:"keys,omitempty"`
}

// isKeys reports whether v is a key rotation (else an announcement).
func (v ReleaseVote) isKeys() bool { return len(v.Keys) > 0 }

// same reports whether v and o vote for the same thing.
func (v ReleaseVote) same(o ReleaseVote) bool {
	if v.isKeys() || o.isKeys() {
		return slices.Equal(v.Keys, o.Keys)
	}
	return v.Version == o.Version && v.Manifest != nil && o.Manifest != nil && *v.Manifest == *o.Manifest
}

// checkShape checks a ReleaseVote's structure (Verify's part).
func (v ReleaseVote) checkShape() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: release vote: %s", ErrTxShape, fmt.Sprintf(format, a...))
	}
	if v.isKeys() {
		if v.Version != "" || v.Manifest != nil {
			return bad("either keys or a version and a manifest, not both")
		}
		if len(v.Keys) > MaxReleaseKeys {
			return bad("%d keys, at most %d", len(v.Keys), MaxReleaseKeys)
		}
		for i, k := range v.Keys {
			if !releaseKeyOK(k) {
				return bad("key %d is not a minisign public key (56 base64 characters starting RW)", i)
			}
			if i > 0 && v.Keys[i-1] >= k {
				return bad("keys must be sorted and distinct")
			}
		}
		return nil
	}
	if v.Manifest == nil || v.Manifest.IsZero() {
		return bad("a manifest hash is required")
	}
	if v.Version == "" || len(v.Version) > MaxReleaseVersion || strings.Trim(v.Version, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-+") != "" {
		return bad("version must be 1..%d of letters, digits, '.', '-' and '+'", MaxReleaseVersion)
	}
	return nil
}

// releaseKeyOK reports whether s is a minisign Ed25519 public key: the
// canonical base64 of "Ed", an 8-byte key id and a 32-byte key.
func releaseKeyOK(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) == 42 && b[0] == 'E' && b[1] == 'd' && base64.StdEncoding.EncodeToString(b) == s
}

// releaseRec is the value of an open vote's entry and of a decided one's.
type releaseRec struct {
	Version  string      `json:"version,omitempty"`
	Manifest *ident.Hash `json:"manifest,omitempty"`
	Keys     []string    `json:"keys,omitempty"`
	Height   uint64      `json:"height"`          // the block that recorded the vote, or decided it
	Votes    int         `json:"votes,omitempty"` // decided: how many voted for it
}

func (r releaseRec) vote() ReleaseVote {
	return ReleaseVote{Version: r.Version, Manifest: r.Manifest, Keys: r.Keys}
}

// relVoteKey is one authority's open vote of one shape.
type relVoteKey struct {
	Keys  bool // a key vote, else an announcement
	Voter ident.Account
}

func (k relVoteKey) key() string {
	if k.Keys {
		return "q/k/" + string(k.Voter)
	}
	return "q/a/" + string(k.Voter)
}

func parseRelVoteKey(rest string) (relVoteKey, error) {
	shape, voter, ok := strings.Cut(rest, "/")
	if !ok || shape != "a" && shape != "k" {
		return relVoteKey{}, fmt.Errorf("malformed release vote key")
	}
	k := relVoteKey{Keys: shape == "k", Voter: ident.Account(voter)}
	return k, k.Voter.Check()
}

// releaseKey is the key of a decided vote of the shape keys.
func releaseKey(keys bool) string {
	if keys {
		return "r/k"
	}
	return "r/a"
}

// applyRelease checks a TxRelease at block x and, unless dry, records the
// vote and decides it once more than 2/3 of the set hold it.
func (s *state) applyRelease(x *txContext) (unit.Slot, error) {
	from, v := x.tx.From, *x.tx.Release
	if !s.active(UpgradeReleaseVotes, x.height) {
		return 0, ErrReleaseVotesOff
	}
	set := s.authoritiesAt(x.height)
	if _, ok := slices.BinarySearch(set, from); !ok {
		return 0, fmt.Errorf("%w: %s at height %d", ErrNotAuthority, from, x.height)
	}
	if r, ok := s.released.get(v.isKeys()); ok && r.vote().same(v) {
		return 0, fmt.Errorf("%w: in force since height %d", ErrReleaseNoChange, r.Height)
	}
	k := relVoteKey{Keys: v.isKeys(), Voter: from}
	if r, ok := s.relVotes.get(k); ok && r.vote().same(v) {
		return 0, fmt.Errorf("%w: %s holds this release vote since height %d", ErrVoted, from, r.Height)
	}
	if x.dry {
		return 0, nil
	}
	s.relVotes.set(k, releaseRec{Version: v.Version, Manifest: v.Manifest, Keys: v.Keys, Height: x.height})
	n := 0
	for o, r := range s.relVotes.all() {
		if o.Keys == k.Keys && slices.Contains(set, o.Voter) && r.vote().same(v) {
			n++
		}
	}
	if 3*n > 2*len(set) {
		s.released.set(k.Keys, releaseRec{Version: v.Version, Manifest: v.Manifest, Keys: v.Keys, Height: x.height, Votes: n})
		for _, o := range slices.Collect(s.relVotes.keys()) {
			if o.Keys == k.Keys {
				s.relVotes.del(o)
			}
		}
	}
	return 0, nil
}

// Announced is a release the authorities announced: its version and
// manifest sha256, the block that decided it and how many voted for it.
type Announced struct {
	Version  string
	Manifest ident.Hash
	Height   uint64
	Votes    int
}

// ReleaseKeys are release keys the authorities voted, in force since
// block Height.
type ReleaseKeys struct {
	Keys   []string
	Height uint64
	Votes  int
}

// OpenReleaseVote is a vote not yet decided and how many of the current
// authorities hold it.
type OpenReleaseVote struct {
	Vote   ReleaseVote
	Voters int
}

// Announced returns the release the authorities announced last, if any.
func (c *Chain) Announced() (Announced, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.st.released.get(false)
	if !ok || r.Manifest == nil {
		return Announced{}, false
	}
	return Announced{Version: r.Version, Manifest: *r.Manifest, Height: r.Height, Votes: r.Votes}, true
}

// ReleaseKeys returns the release keys the authorities voted last, if
// any; without, genesis.toml's [updates] keys are in force.
func (c *Chain) ReleaseKeys() (ReleaseKeys, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.st.released.get(true)
	if !ok {
		return ReleaseKeys{}, false
	}
	return ReleaseKeys{Keys: slices.Clone(r.Keys), Height: r.Height, Votes: r.Votes}, true
}

// ReleaseVotes returns the open release votes (announcements first, then
// key sets), each with how many authorities of the next height hold it.
func (c *Chain) ReleaseVotes() []OpenReleaseVote {
	c.mu.RLock()
	defer c.mu.RUnlock()
	set := c.st.authoritiesAt(c.head.Height + 1)
	var out []OpenReleaseVote
	for _, k := range slices.SortedFunc(c.st.relVotes.keys(), func(a, b relVoteKey) int { return strings.Compare(a.key(), b.key()) }) {
		if !slices.Contains(set, k.Voter) {
			continue
		}
		r, _ := c.st.relVotes.get(k)
		v := r.vote()
		if i := slices.IndexFunc(out, func(o OpenReleaseVote) bool { return o.Vote.isKeys() == v.isKeys() && o.Vote.same(v) }); i >= 0 {
			out[i].Voters++
			continue
		}
		out = append(out, OpenReleaseVote{Vote: v, Voters: 1})
	}
	return out
}
