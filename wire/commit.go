package wire

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
)

// The two forms of a commit certificate (package doc). Four precommits take
// about 300 bytes in the compact form instead of 740 in the full one.
const (
	commitFull    byte = 0
	commitCompact byte = 1
)

// EncodeCommit encodes the precommits that decided a block, set being the
// authority set of its height in the chain's order: compactly when they allow
// it, else whole.
func EncodeCommit(votes []consensus.Message, set []ident.Account) []byte {
	if b, ok := compactCommit(votes, set); ok {
		return b
	}
	return append([]byte{commitFull}, EncodeMessages(votes)...)
}

func compactCommit(votes []consensus.Message, set []ident.Account) ([]byte, bool) {
	if len(votes) == 0 {
		return nil, false
	}
	v0 := votes[0]
	b := append([]byte{commitCompact}, binary.AppendUvarint(nil, v0.Height)...)
	b = binary.AppendUvarint(b, uint64(v0.Round))
	b = append(b, v0.ValueID[:]...)
	b = binary.AppendUvarint(b, uint64(len(votes)))
	for _, m := range votes {
		i := slices.Index(set, m.From)
		if i < 0 || m.Type != consensus.Precommit || m.Height != v0.Height || m.Round != v0.Round || m.Round < 0 ||
			m.ValueID != v0.ValueID || m.ValidRound != -1 || len(m.Value) != 0 || len(m.Sig) != ed25519.SignatureSize {
			return nil, false
		}
		b = binary.AppendUvarint(b, uint64(i))
		b = append(b, m.Sig...)
	}
	return b, true
}

// DecodeCommit decodes EncodeCommit's output; set is the authority set of the
// certificate's height, which gives the compact form's signers. It checks no
// signature (VerifyCertified does).
func DecodeCommit(b []byte, set []ident.Account) ([]consensus.Message, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty certificate", ErrMalformed)
	}
	if b[0] == commitFull {
		return DecodeMessages(b[1:])
	}
	if b[0] != commitCompact {
		return nil, fmt.Errorf("%w: certificate form %d", ErrMalformed, b[0])
	}
	b = b[1:]
	h, ok1 := nextUvarint(&b, math.MaxUint64)
	r, ok2 := nextUvarint(&b, consensus.MaxRound)
	if !ok1 || !ok2 || len(b) < len(ident.Hash{}) {
		return nil, fmt.Errorf("%w: certificate header", ErrMalformed)
	}
	var id ident.Hash
	b = b[copy(id[:], b):]
	n, ok := nextUvarint(&b, uint64(len(set)))
	if !ok || n == 0 {
		return nil, fmt.Errorf("%w: certificate count", ErrMalformed)
	}
	votes := make([]consensus.Message, 0, n)
	for range n {
		i, ok := nextUvarint(&b, uint64(len(set))-1)
		if !ok || len(b) < ed25519.SignatureSize {
			return nil, fmt.Errorf("%w: certificate entry %d", ErrMalformed, len(votes))
		}
		votes = append(votes, consensus.Message{Type: consensus.Precommit, Height: h, Round: int32(r), ValueID: id, ValidRound: -1,
			From: set[i], Sig: slices.Clone(b[:ed25519.SignatureSize])})
		b = b[ed25519.SignatureSize:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the certificate", ErrMalformed, len(b))
	}
	return votes, nil
}

// EncodeMessages encodes whole consensus messages as a list: a certificate's
// full form (after its form byte) and a votes/1 answer.
func EncodeMessages(msgs []consensus.Message) []byte {
	items := make([][]byte, len(msgs))
	for i, v := range msgs {
		items[i] = v.Encode()
	}
	return EncodeChunks(items)
}

// DecodeMessages decodes EncodeMessages's output: at most MaxCertVotes
// messages of at most MaxVoteBytes each.
func DecodeMessages(b []byte) ([]consensus.Message, error) {
	items, err := SplitChunks(b, 0, MaxCertVotes, MaxVoteBytes)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	msgs := make([]consensus.Message, 0, len(items))
	for i, it := range items {
		m, err := consensus.DecodeMessage(it)
		if err != nil {
			return nil, fmt.Errorf("vote %d: %w", i, err)
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}
