package chain

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gridmesh/gridmesh/ident"
)

// Authority set.
//
// The set of authorities that decides (proposes and signs) each block lives in
// the state, hashed like every other entry. It starts as the genesis list
// (sorted) and changes only by votes:
//
//   - A TxAuthority tx from an authority of the block's set records its vote for
//     the change (Add, Key). It is refused if the sender is not an authority
//     (ErrNotAuthority), if a decided change is still pending (ErrChangePending),
//     if it adds a member (ErrAlreadyAuthority) or removes a non-member
//     (ErrNoSuchAuthority), if the sender already voted for the same change
//     (ErrVoted), or if it is a removal that would leave fewer than
//     MinAuthorities (1 on a Dev network) authorities (ErrTooFewAuthorities).
//   - When 3*votes > 2*n (n = the size of the block's set) the change is decided
//     in that block, at height H: the votes for it are cleared, and if it
//     removes an authority, that authority's votes for other changes are
//     dropped too. The new set decides blocks H+2 and later; block H+1 is still
//     decided by the old set, as its consensus may already have started. While
//     the change is pending (block H+1), no vote is accepted.
//   - Votes are also tallied at the end of every block in which no change is
//     pending, changes in key order, so a change that has more than 2/3 only
//     because the set shrank is decided without a further vote. A change that
//     could not apply any more (a removal below the minimum) waits.
//
// The history of sets is kept (one entry per change, from the height at which
// it takes effect), so Chain.Authorities answers for every height from 1 to
// head+2, committed blocks included. Evidence of equivocation (evidence.go)
// does not change the set; removing an offender is the utility's vote.
//
// Bound (Genesis.VoteLapse = L > 0): a vote recorded in block H that has not
// passed is deleted at the end of block H+L, before that block's tally; and an
// authority that holds MaxOpenVotes open votes has a further one refused
// (ErrTooManyVotes), so the votes in the state are at most MaxOpenVotes per
// authority whatever the chain's age. With L = 0, the rule of every genesis
// written before the field (whose encoding, and so the genesis hash, omits it),
// votes for a change that never passes stay in the state until it is decided or
// the voter leaves the set: a network that wants the bound sets vote_lapse in a
// new genesis; no existing chain changes its rules or state hash.
//
// Known limits: the consensus engine takes its
// validators from its Config, so the node must start each height's engine
// with Authorities(height).

// Errors of authority-set votes.
var (
	ErrAlreadyAuthority  = errors.New("chain: key is already an authority")
	ErrNoSuchAuthority   = errors.New("chain: key is not an authority")
	ErrVoted             = errors.New("chain: authority already voted for this change")
	ErrTooFewAuthorities = errors.New("chain: removal would leave too few authorities")
	ErrChangePending     = errors.New("chain: a decided authority change is still pending")
	ErrTooManyVotes      = errors.New("chain: authority holds too many open votes")
)

// MaxOpenVotes is how many open authority-set votes one authority may hold
// when the genesis sets VoteLapse.
const MaxOpenVotes = 8

// authEpoch is the authority set in force from block From on (until the next
// epoch's From). Set is sorted and never changed once made.
type authEpoch struct {
	From uint64
	Set  []ident.Account
}

// change is an authority-set change that votes are cast for.
type change struct {
	Add bool
	Key ident.Account
}

func (ch change) String() string {
	if ch.Add {
		return "add " + string(ch.Key)
	}
	return "remove " + string(ch.Key)
}

// voteKey is one authority's vote for one change.
type voteKey struct {
	change
	Voter ident.Account
}

// voteRec is the value of a vote entry.
type voteRec struct {
	Height uint64 `json:"height"` // block that recorded the vote
}

// authEntry is the value of an authority-set entry.
type authEntry struct {
	Set []ident.Account `json:"set"`
}

// authoritiesAt is the set that decides block height (sorted, shared: do not
// modify). Heights beyond the last epoch get the last set.
func (s *state) authoritiesAt(height uint64) []ident.Account {
	i := len(s.auth) - 1
	for i > 0 && s.auth[i].From > height {
		i--
	}
	return s.auth[i].Set
}

func (s *state) isAuthorityAt(a ident.Account, height uint64) bool {
	_, ok := slices.BinarySearch(s.authoritiesAt(height), a)
	return ok
}

// pending reports whether a decided change takes effect after block height.
func (s *state) pending(height uint64) bool { return s.auth[len(s.auth)-1].From > height }

func minAuthorities(g *Genesis) int {
	if g.Dev {
		return 1
	}
	return MinAuthorities
}

// applies reports why ch cannot apply to set (nil if it can).
func (ch change) applies(g *Genesis, set []ident.Account) error {
	_, member := slices.BinarySearch(set, ch.Key)
	switch {
	case ch.Add && member:
		return fmt.Errorf("%w: %s", ErrAlreadyAuthority, ch.Key)
	case !ch.Add && !member:
		return fmt.Errorf("%w: %s", ErrNoSuchAuthority, ch.Key)
	case !ch.Add && len(set)-1 < minAuthorities(g):
		return fmt.Errorf("%w: %d left, at least %d needed", ErrTooFewAuthorities, len(set)-1, minAuthorities(g))
	}
	return nil
}

// applyVote checks a TxAuthority from `from` at block height and, unless dry,
// records the vote and decides the change if it has more than 2/3.
func (s *state) applyVote(g *Genesis, from ident.Account, ac AuthorityChange, height uint64, dry bool) error {
	set := s.authoritiesAt(height)
	if _, ok := slices.BinarySearch(set, from); !ok {
		return fmt.Errorf("%w: %s at height %d", ErrNotAuthority, from, height)
	}
	if s.pending(height) {
		return fmt.Errorf("%w: the set changes at height %d", ErrChangePending, s.auth[len(s.auth)-1].From)
	}
	ch := change{Add: ac.Add, Key: ac.Key}
	if err := ch.applies(g, set); err != nil {
		return err
	}
	vk := voteKey{change: ch, Voter: from}
	if s.votes.has(vk) {
		return fmt.Errorf("%w: %s by %s", ErrVoted, ch, from)
	}
	if g.VoteLapse > 0 {
		open := 0
		for k := range s.votes.keys() {
			if k.Voter == from {
				open++
			}
		}
		if open >= MaxOpenVotes {
			return fmt.Errorf("%w: %s holds %d (at most %d; they lapse after %d heights)", ErrTooManyVotes, from, open, MaxOpenVotes, g.VoteLapse)
		}
	}
	if dry {
		return nil
	}
	s.votes.set(vk, voteRec{Height: height})
	if 3*s.tally(ch) > 2*len(set) {
		s.decide(ch, set, height)
	}
	return nil
}

// tally counts the votes for ch.
func (s *state) tally(ch change) int {
	n := 0
	for vk := range s.votes.keys() {
		if vk.change == ch {
			n++
		}
	}
	return n
}

// decide applies ch to set at block height: the new set decides blocks from
// height+2 on. Votes for ch, and a removed authority's votes, are dropped.
func (s *state) decide(ch change, set []ident.Account, height uint64) {
	next := slices.Clone(set)
	if ch.Add {
		i, _ := slices.BinarySearch(next, ch.Key)
		next = slices.Insert(next, i, ch.Key)
	} else {
		i, _ := slices.BinarySearch(next, ch.Key)
		next = slices.Delete(next, i, i+1)
	}
	s.auth = append(slices.Clip(s.auth), authEpoch{From: height + 2, Set: next})
	for _, vk := range slices.Collect(s.votes.keys()) {
		if vk.change == ch || !ch.Add && vk.Voter == ch.Key {
			s.votes.del(vk)
		}
	}
}

// tallyVotes decides, at the end of block height, the first change in key
// order that has more than 2/3 of the set's votes and can still apply, if no
// change is pending. (A vote decides its change at once; this catches changes
// that passed because the set shrank.)
func (s *state) tallyVotes(g *Genesis, height uint64) {
	s.lapseVotes(g, height)
	if s.votes.len() == 0 || s.pending(height) {
		return
	}
	set := s.authoritiesAt(height)
	counts := map[change]int{}
	for vk := range s.votes.keys() {
		counts[vk.change]++
	}
	for _, ch := range slices.SortedFunc(maps.Keys(counts), compareChange) {
		if 3*counts[ch] > 2*len(set) && ch.applies(g, set) == nil {
			s.decide(ch, set, height)
			return
		}
	}
}

// lapseVotes deletes, at the end of block height, the votes recorded
// g.VoteLapse or more heights before it (none if VoteLapse is 0).
func (s *state) lapseVotes(g *Genesis, height uint64) {
	if g.VoteLapse == 0 || s.votes.len() == 0 {
		return
	}
	var old []voteKey
	for vk, r := range s.votes.all() {
		if r.Height+g.VoteLapse <= height {
			old = append(old, vk)
		}
	}
	for _, vk := range old {
		s.votes.del(vk)
	}
}

func compareChange(a, b change) int {
	if a.Add != b.Add {
		if a.Add {
			return -1
		}
		return 1
	}
	return strings.Compare(string(a.Key), string(b.Key))
}

// State keys of the authority set and votes (see state):
//
//	u/<from>                 authority set in force from block <from> (16 hex digits)
//	v/<a|r>/<key>/<voter>    a vote to add (a) or remove (r) key
func authKey(from uint64) string { return "u/" + heightHex(from) }

func (vk voteKey) key() string {
	op := "r"
	if vk.Add {
		op = "a"
	}
	return "v/" + op + "/" + string(vk.Key) + "/" + string(vk.Voter)
}

func parseVoteKey(rest string) (voteKey, error) {
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] != "a" && parts[0] != "r" {
		return voteKey{}, fmt.Errorf("malformed vote key")
	}
	vk := voteKey{change: change{Add: parts[0] == "a", Key: ident.Account(parts[1])}, Voter: ident.Account(parts[2])}
	if err := vk.Key.Check(); err != nil {
		return voteKey{}, err
	}
	if err := vk.Voter.Check(); err != nil {
		return voteKey{}, err
	}
	return vk, nil
}

// checkAuth checks a loaded authority history: it starts at height 0, heights
// increase, and every set is non-empty, sorted, without duplicates, of
// well-formed accounts.
func checkAuth(auth []authEpoch) error {
	if len(auth) == 0 || auth[0].From != 0 {
		return fmt.Errorf("authority set of height 0 missing (a store written before the set was kept in state?)")
	}
	for i, e := range auth {
		if i > 0 && e.From <= auth[i-1].From {
			return fmt.Errorf("authority sets out of order")
		}
		if len(e.Set) == 0 {
			return fmt.Errorf("authority set from %d is empty", e.From)
		}
		for j, a := range e.Set {
			if err := a.Check(); err != nil {
				return fmt.Errorf("authority set from %d: %w", e.From, err)
			}
			if j > 0 && e.Set[j-1] >= a {
				return fmt.Errorf("authority set from %d is not sorted and unique", e.From)
			}
		}
	}
	return nil
}

// Authorities returns the authority set that decides (proposes and signs) block
// height, sorted, for any height from 1 to head+2; a change decided in block H
// takes effect at H+2. Heights 0 (genesis, decided by no one) and beyond head+2
// are errors matching ErrNotFound.
func (c *Chain) Authorities(height uint64) ([]ident.Account, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	if height == 0 || height > c.head.Height+2 {
		return nil, fmt.Errorf("%w: authorities of height %d (known for 1..%d)", ErrNotFound, height, c.head.Height+2)
	}
	return slices.Clone(c.st.authoritiesAt(height)), nil
}
