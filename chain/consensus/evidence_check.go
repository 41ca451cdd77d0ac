package consensus

import (
	"errors"
	"fmt"
)

// ErrNotEvidence is returned by CheckEvidence for a pair that does not prove
// equivocation.
var ErrNotEvidence = errors.New("consensus: not evidence of equivocation")

// CheckEvidence checks that a and b, two Messages in their binary encoding
// (Message.Encode), prove that one validator equivocated on chain chainID: both
// decode strictly, have the same From, Type, Height and Round, different
// ValueIDs (a nil vote and a vote for a value conflict too), and both
// signatures are valid under From's key (From is the hex ed25519 key, see
// IDOf). It returns the decoded pair in the order given; A.From, A.Height,
// A.Round and A.Type name the offence, which is the same for (a, b) and (b, a).
//
// Proposals are refused (ErrNotEvidence): a proposal carries its whole value (a
// block of up to MaxValueSize bytes), far more than a transaction may hold, so
// only conflicting prevotes and precommits are evidence. An equivocating
// proposer still shows up through its conflicting votes, or not at all: two
// proposals alone cannot make two values decided.
//
// It does not know the validator set: the caller checks that From was a
// validator at Height. It is pure and safe for concurrent use.
func CheckEvidence(chainID string, a, b []byte) (Evidence, error) {
	ma, err := DecodeMessage(a)
	if err != nil {
		return Evidence{}, fmt.Errorf("%w: first message: %w", ErrNotEvidence, err)
	}
	mb, err := DecodeMessage(b)
	if err != nil {
		return Evidence{}, fmt.Errorf("%w: second message: %w", ErrNotEvidence, err)
	}
	if ma.Type == Proposal || mb.Type == Proposal {
		return Evidence{}, fmt.Errorf("%w: proposals are not accepted as evidence, only votes", ErrNotEvidence)
	}
	switch {
	case ma.From != mb.From:
		return Evidence{}, fmt.Errorf("%w: senders %.8s and %.8s differ", ErrNotEvidence, ma.From, mb.From)
	case ma.Type != mb.Type:
		return Evidence{}, fmt.Errorf("%w: types %s and %s differ", ErrNotEvidence, ma.Type, mb.Type)
	case ma.Height != mb.Height:
		return Evidence{}, fmt.Errorf("%w: heights %d and %d differ", ErrNotEvidence, ma.Height, mb.Height)
	case ma.Round != mb.Round:
		return Evidence{}, fmt.Errorf("%w: rounds %d and %d differ", ErrNotEvidence, ma.Round, mb.Round)
	case ma.ValueID == mb.ValueID:
		return Evidence{}, fmt.Errorf("%w: both messages are for value %s", ErrNotEvidence, ma.ValueID.Short())
	}
	pub, err := publicKey(ma.From)
	if err != nil {
		return Evidence{}, fmt.Errorf("%w: %w", ErrNotEvidence, err)
	}
	if err := ma.Verify(chainID, pub); err != nil {
		return Evidence{}, fmt.Errorf("%w: first message: %w", ErrNotEvidence, err)
	}
	if err := mb.Verify(chainID, pub); err != nil {
		return Evidence{}, fmt.Errorf("%w: second message: %w", ErrNotEvidence, err)
	}
	return Evidence{A: ma, B: mb}, nil
}
