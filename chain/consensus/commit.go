package consensus

import (
	"crypto/ed25519"
	"fmt"

	"github.com/gridmesh/gridmesh/ident"
)

// VerifyCommit checks that commit is a certificate for value id at height: signed
// precommits for (height, id) of one round from more than 2/3 of validators (by
// count, distinct senders). Every entry must be such a precommit from a validator
// with a valid signature; duplicates are rejected.
func VerifyCommit(chainID string, validators map[ident.Account]ed25519.PublicKey, height uint64, id ident.Hash, commit []Message) error {
	if id.IsZero() {
		return fmt.Errorf("%w: nil value", ErrBadCommit)
	}
	if len(commit) == 0 {
		return fmt.Errorf("%w: empty", ErrBadCommit)
	}
	round := commit[0].Round
	seen := make(map[ident.Account]bool, len(commit))
	for i, m := range commit {
		if m.Type != Precommit || m.Height != height || m.ValueID != id || m.Round != round {
			return fmt.Errorf("%w: entry %d is not a precommit for %d/%d %s", ErrBadCommit, i, height, round, id)
		}
		pub, ok := validators[m.From]
		if !ok {
			return fmt.Errorf("%w: entry %d from non-validator %.8s", ErrBadCommit, i, m.From)
		}
		if seen[m.From] {
			return fmt.Errorf("%w: entry %d duplicates %.8s", ErrBadCommit, i, m.From)
		}
		if err := m.Verify(chainID, pub); err != nil {
			return fmt.Errorf("%w: entry %d: %w", ErrBadCommit, i, err)
		}
		seen[m.From] = true
	}
	if 3*len(seen) <= 2*len(validators) {
		return fmt.Errorf("%w: %d of %d validators", ErrBadCommit, len(seen), len(validators))
	}
	return nil
}
