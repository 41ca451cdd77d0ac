package chain

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/unit"
)

// Upgrades: rule changes that activate at a height the authorities vote.
//
// A change of the consensus or market rules must take effect in the same
// block on every node, or the network forks. So a release that brings one
// gives it a name (KnownUpgrades) and applies it only from the height the
// authorities voted for it; until then it keeps the old rule, so nodes of
// the previous release and of this one agree while a network moves from
// one to the other node by node. Once every node runs the release, the
// authorities vote:
//
//   - A TxUpgrade tx from an authority of the block's set records its vote
//     that upgrade Name activates at block Height. It is refused if the
//     sender is not an authority (ErrNotAuthority), if Name is already
//     scheduled (ErrUpgradeScheduled), if Height is less than
//     MinUpgradeLead above the block (ErrUpgradeHeight), if the sender
//     already voted for the same (Name, Height) (ErrVoted), or if it holds
//     MaxOpenVotes upgrade votes (ErrTooManyVotes). Any well-formed name is
//     accepted, known to this binary or not: a node that does not know it
//     must still see the schedule, to stop in time (below).
//   - When more than 2/3 of the block's set have voted for the same (Name,
//     Height), counting voters still in the set, the upgrade is scheduled:
//     every vote for Name is cleared, and the rule is in force in every
//     block of height >= Height (active).
//   - At the end of each block, votes whose Height is not above the block
//     lapse: an activation height that passed undecided is void.
//   - A node whose binary does not know a scheduled upgrade executes no block
//     at or beyond its Height (ErrUnknownUpgrade, from Propose, Validate and
//     Commit alike), so it stops instead of forking; Chain.UnknownUpgrade
//     tells the node before that block comes, and the node halts with the
//     message (node: loop).
//
// State keys (only once such a tx exists, so a chain without one keeps its
// state hash):
//
//	w/<name>/<height>/<voter>  a vote that <name> activates at <height> (16 hex digits)
//	x/<name>                   a scheduled upgrade: its height and the block that decided it
//
// Old binaries refuse the TxUpgrade kind itself (an unknown field), so the
// vote is only for a network whose every node knows the kind: vote after
// the last node is updated (README, Upgrading a network).

// knownUpgrades are the upgrades this binary implements, each with what it
// changes. A release adds one for every rule change it makes.
var knownUpgrades = map[string]string{
	// A tariff's Seq must be exactly one more than the current one; before,
	// any higher Seq was taken, so one authority could set the largest Seq
	// and no tariff could follow.
	UpgradeTariffSeqNext: "a tariff's seq must be exactly the current seq + 1",
	// Release votes (release.go): a binary before them cannot read the
	// kind, so it is refused until every node knows it.
	UpgradeReleaseVotes: "authorities may announce a release and rotate the release keys on chain (tx kind release)",
}

// UpgradeTariffSeqNext is the upgrade that makes tariff seqs consecutive.
const UpgradeTariffSeqNext = "tariff-seq-next"

// KnownUpgrades returns the names of the upgrades this binary implements,
// sorted, with what each changes.
func KnownUpgrades() (names []string, about []string) {
	for _, n := range slices.Sorted(maps.Keys(knownUpgrades)) {
		names = append(names, n)
		about = append(about, knownUpgrades[n])
	}
	return names, about
}

// MinUpgradeLead is how far above the voting block an activation height
// must be, so that the decision is committed everywhere before it applies.
const MinUpgradeLead = 2

// MaxUpgradeName bounds an upgrade's name: 1 to 32 of a-z, 0-9 and '-'.
const MaxUpgradeName = 32

// Errors of upgrade votes.
var (
	ErrUpgradeScheduled = errors.New("chain: upgrade already scheduled")
	ErrUpgradeHeight    = errors.New("chain: upgrade activation height too low")
	ErrUnknownUpgrade   = errors.New("chain: an upgrade this binary does not know activates")
)

// UpgradeVote is an authority's vote that upgrade Name activates at block
// Height.
type UpgradeVote struct {
	Name   string `json:"name"`
	Height uint64 `json:"height"`
}

// checkUpgradeName reports whether name is 1..MaxUpgradeName of a-z, 0-9, '-'.
func checkUpgradeName(name string) bool {
	if name == "" || len(name) > MaxUpgradeName {
		return false
	}
	return strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

// Upgrade is a scheduled upgrade: in force from block Height, decided in
// block Decided. Known says whether this binary implements it.
type Upgrade struct {
	Name    string
	Height  uint64
	Decided uint64
	Known   bool
}

// upgradeRec is the value of a scheduled upgrade's entry.
type upgradeRec struct {
	Height  uint64 `json:"height"`
	Decided uint64 `json:"decided"`
}

// upVoteKey is one authority's vote for one (name, height).
type upVoteKey struct {
	Name   string
	Height uint64
	Voter  ident.Account
}

func (k upVoteKey) key() string {
	return "w/" + k.Name + "/" + heightHex(k.Height) + "/" + string(k.Voter)
}

func parseUpVoteKey(rest string) (upVoteKey, error) {
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || !checkUpgradeName(parts[0]) {
		return upVoteKey{}, fmt.Errorf("malformed upgrade vote key")
	}
	h, err := parseHex(parts[1], 8)
	if err != nil {
		return upVoteKey{}, err
	}
	k := upVoteKey{Name: parts[0], Height: h, Voter: ident.Account(parts[2])}
	return k, k.Voter.Check()
}

func upgradeKey(name string) string { return "x/" + name }

// active reports whether upgrade name is in force in block height.
func (s *state) active(name string, height uint64) bool {
	r, ok := s.upgrades.get(name)
	return ok && height >= r.Height
}

// unknownUpgrade returns ErrUnknownUpgrade for the first scheduled upgrade
// (by height, then name) this binary does not know that is in force in
// block height, or nil.
func (s *state) unknownUpgrade(height uint64) error {
	var first *Upgrade
	for name, r := range s.upgrades.all() {
		if _, ok := knownUpgrades[name]; ok || r.Height > height {
			continue
		}
		if first == nil || r.Height < first.Height || r.Height == first.Height && name < first.Name {
			first = &Upgrade{Name: name, Height: r.Height}
		}
	}
	if first == nil {
		return nil
	}
	return fmt.Errorf("%w: upgrade %q activates at height %d; this binary does not know it: update gridmesh", ErrUnknownUpgrade, first.Name, first.Height)
}

// applyUpgrade checks a TxUpgrade at block x and, unless dry, records the
// vote and schedules the upgrade once more than 2/3 of the set voted for it.
func (s *state) applyUpgrade(x *txContext) (unit.Slot, error) {
	from, v := x.tx.From, *x.tx.Upgrade
	set := s.authoritiesAt(x.height)
	if _, ok := slices.BinarySearch(set, from); !ok {
		return 0, fmt.Errorf("%w: %s at height %d", ErrNotAuthority, from, x.height)
	}
	if r, ok := s.upgrades.get(v.Name); ok {
		return 0, fmt.Errorf("%w: %q activates at height %d", ErrUpgradeScheduled, v.Name, r.Height)
	}
	if v.Height < x.height+MinUpgradeLead {
		return 0, fmt.Errorf("%w: %d for a vote in block %d; at least %d", ErrUpgradeHeight, v.Height, x.height, x.height+MinUpgradeLead)
	}
	k := upVoteKey{Name: v.Name, Height: v.Height, Voter: from}
	if s.upVotes.has(k) {
		return 0, fmt.Errorf("%w: upgrade %q at height %d by %s", ErrVoted, v.Name, v.Height, from)
	}
	open := 0
	for o := range s.upVotes.keys() {
		if o.Voter == from {
			open++
		}
	}
	if open >= MaxOpenVotes {
		return 0, fmt.Errorf("%w: %s holds %d upgrade votes (at most %d)", ErrTooManyVotes, from, open, MaxOpenVotes)
	}
	if x.dry {
		return 0, nil
	}
	s.upVotes.set(k, voteRec{Height: x.height})
	n := 0
	for o := range s.upVotes.keys() {
		if o.Name == v.Name && o.Height == v.Height && slices.Contains(set, o.Voter) {
			n++
		}
	}
	if 3*n > 2*len(set) {
		s.upgrades.set(v.Name, upgradeRec{Height: v.Height, Decided: x.height})
		for _, o := range slices.Collect(s.upVotes.keys()) {
			if o.Name == v.Name {
				s.upVotes.del(o)
			}
		}
	}
	return 0, nil
}

// lapseUpgradeVotes deletes, at the end of block height, the votes for an
// activation height that is not above it.
func (s *state) lapseUpgradeVotes(height uint64) {
	if s.upVotes.len() == 0 {
		return
	}
	for _, k := range slices.Collect(s.upVotes.keys()) {
		if k.Height <= height {
			s.upVotes.del(k)
		}
	}
}

// Upgrades returns the scheduled upgrades, by height then name.
func (c *Chain) Upgrades() []Upgrade {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []Upgrade
	for name, r := range c.st.upgrades.all() {
		_, known := knownUpgrades[name]
		out = append(out, Upgrade{Name: name, Height: r.Height, Decided: r.Decided, Known: known})
	}
	slices.SortFunc(out, func(a, b Upgrade) int {
		return cmp.Or(cmp.Compare(a.Height, b.Height), strings.Compare(a.Name, b.Name))
	})
	return out
}

// UnknownUpgrade returns ErrUnknownUpgrade, saying which upgrade and from
// which height, if an upgrade this binary does not know is in force in the
// next block: the node must stop and be updated. Nil otherwise.
func (c *Chain) UnknownUpgrade() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.unknownUpgrade(c.head.Height + 1)
}
