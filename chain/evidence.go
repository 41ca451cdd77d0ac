package chain

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gridmesh/gridmesh/ident"
)

// Evidence of equivocation.
//
// A TxEvidence tx carries two consensus messages that, by the verifier the node
// installs (SetEvidenceVerifier; the node builds it on consensus.CheckEvidence,
// as this package may not import chain/consensus), prove that one authority
// signed conflicting votes for the same height, round and type. It is accepted
// if a verifier is installed (ErrNoVerifier otherwise), the verifier accepts the
// pair (ErrEvidence), the offence's height is 1 .. block height + 1 and the
// offender was an authority at that height (ErrOffenderNotAuthority), the same
// offence (offender, height, round, type) has not been recorded before
// (ErrOffenceRecorded), and the sender is an admitted participant or an
// authority of the block (ErrReporter). The offence is recorded in the state
// (hashed, kept forever) with its reporter, tx hash and block height; see
// Chain.Evidence.
//
// Recording evidence does not remove the offender from the authority set: that
// is the utility's decision, taken by an authority-set vote (authority.go).
//
// Every node that validates blocks must install the same verifier before it
// executes a block with evidence; a node without one refuses such blocks.

// Errors of evidence transactions.
var (
	ErrNoVerifier           = errors.New("chain: no evidence verifier installed")
	ErrEvidence             = errors.New("chain: invalid evidence")
	ErrOffenderNotAuthority = errors.New("chain: offender was not an authority at that height")
	ErrOffenceRecorded      = errors.New("chain: offence already recorded")
	ErrReporter             = errors.New("chain: evidence reporter is neither a participant nor an authority")
)

// Offence is what a verified evidence pair proves: Offender signed two
// conflicting consensus messages of one Type at Height and Round. Type is the
// consensus message type (2 = prevote, 3 = precommit).
type Offence struct {
	Offender ident.Account
	Height   uint64
	Round    int32
	Type     uint8
}

// EvidenceVerifier checks an evidence pair (two encoded consensus messages,
// signed for chainID) and returns the offence it proves, or an error if it
// proves none. It must be deterministic and safe for concurrent use; it need
// not know the authority set (the chain checks the offender against it).
type EvidenceVerifier func(chainID string, a, b []byte) (Offence, error)

// SetEvidenceVerifier installs the verifier of TxEvidence transactions (nil
// removes it), normally right after Open. Blocks executed before (proposed or
// validated, not committed) are forgotten, so they are judged again with v.
func (c *Chain) SetEvidenceVerifier(v EvidenceVerifier) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.verifier = v
	clear(c.cache)
}

// EvidenceRecord is a recorded offence: the Offence, who reported it, in which
// transaction, and the block that recorded it.
type EvidenceRecord struct {
	Offence
	Reporter ident.Account
	Tx       ident.Hash
	Block    uint64
}

// evidenceRec is the value of an evidence entry.
type evidenceRec struct {
	Reporter ident.Account `json:"reporter"`
	Tx       ident.Hash    `json:"tx"`
	Block    uint64        `json:"block"`
}

// applyEvidence checks a TxEvidence tx (hash h) at block height and, unless
// dry, records its offence.
func (s *state) applyEvidence(g *Genesis, verify EvidenceVerifier, tx Tx, h ident.Hash, height uint64, dry bool) error {
	if verify == nil {
		return ErrNoVerifier
	}
	if !s.participants.has(tx.From) && !s.isAuthorityAt(tx.From, height) {
		return fmt.Errorf("%w: %s", ErrReporter, tx.From)
	}
	off, err := verify(g.ChainID, tx.Evidence.A, tx.Evidence.B)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEvidence, err)
	}
	if err := off.Offender.Check(); err != nil {
		return fmt.Errorf("%w: offender: %w", ErrEvidence, err)
	}
	if off.Height == 0 || off.Height > height+1 || off.Round < 0 {
		return fmt.Errorf("%w: offence at height %d round %d, block height %d", ErrEvidence, off.Height, off.Round, height)
	}
	if !s.isAuthorityAt(off.Offender, off.Height) {
		return fmt.Errorf("%w: %s at height %d", ErrOffenderNotAuthority, off.Offender, off.Height)
	}
	if r, ok := s.evidence.get(off); ok {
		return fmt.Errorf("%w: %s at %d/%d type %d, in block %d", ErrOffenceRecorded, off.Offender, off.Height, off.Round, off.Type, r.Block)
	}
	if dry {
		return nil
	}
	s.evidence.set(off, evidenceRec{Reporter: tx.From, Tx: h, Block: height})
	return nil
}

// Evidence returns every recorded offence, ordered by height, offender, round
// and type.
func (c *Chain) Evidence() []EvidenceRecord {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]EvidenceRecord, 0, c.st.evidence.len())
	for _, off := range slices.SortedFunc(c.st.evidence.keys(), compareOffence) {
		r, _ := c.st.evidence.get(off)
		out = append(out, EvidenceRecord{Offence: off, Reporter: r.Reporter, Tx: r.Tx, Block: r.Block})
	}
	return out
}

func compareOffence(a, b Offence) int { return strings.Compare(offenceKey(a), offenceKey(b)) }

// offenceKey is the state key of an offence:
//
//	e/<height>/<offender>/<round>/<type>
//
// with height as 16, round as 8 and type as 2 hex digits, so keys sort by
// height, offender, round and type.
func offenceKey(o Offence) string {
	var r [4]byte
	binary.BigEndian.PutUint32(r[:], uint32(o.Round))
	return "e/" + heightHex(o.Height) + "/" + string(o.Offender) + "/" + hex.EncodeToString(r[:]) + "/" + hex.EncodeToString([]byte{o.Type})
}

func parseOffenceKey(rest string) (Offence, error) {
	parts := strings.Split(rest, "/")
	if len(parts) != 4 {
		return Offence{}, fmt.Errorf("malformed evidence key")
	}
	h, err := parseHex(parts[0], 8)
	if err != nil {
		return Offence{}, err
	}
	r, err := parseHex(parts[2], 4)
	if err != nil {
		return Offence{}, err
	}
	t, err := parseHex(parts[3], 1)
	if err != nil {
		return Offence{}, err
	}
	o := Offence{Offender: ident.Account(parts[1]), Height: h, Round: int32(uint32(r)), Type: uint8(t)}
	if err := o.Offender.Check(); err != nil {
		return Offence{}, err
	}
	if o.Round < 0 {
		return Offence{}, fmt.Errorf("negative round in evidence key")
	}
	return o, nil
}

// heightHex is h as 16 lowercase hex digits (keys sort by height).
func heightHex(h uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], h)
	return hex.EncodeToString(b[:])
}

// parseHex parses exactly 2*n lowercase hex digits as a big-endian integer.
func parseHex(s string, n int) (uint64, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != n || hex.EncodeToString(b) != s {
		return 0, fmt.Errorf("malformed %d-byte hex %q", n, s)
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, nil
}
