package wire

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
)

// EncodeVote encodes m whole as a KindVote payload: the consensus topic's
// only payload, and the vote stream's form for what a frame cannot carry.
func EncodeVote(m consensus.Message) []byte {
	b := m.Encode()
	out := make([]byte, 0, 1+len(b))
	out = append(out, KindVote)
	return append(out, b...)
}

// DecodeVote decodes EncodeVote's output. It checks no signature.
func DecodeVote(b []byte) (consensus.Message, error) {
	if len(b) == 0 || b[0] != KindVote {
		return consensus.Message{}, fmt.Errorf("%w: not a vote", ErrMalformed)
	}
	return consensus.DecodeMessage(b[1:])
}

// The two forms of a proposal's value in a vote frame (package doc).
const (
	valueWhole  byte = 0
	valueHashes byte = 1
)

// EncodeVoteFrame encodes m for the vote stream: a KindVoteFrame, about 130
// bytes for a prevote or precommit instead of KindVote's 185, and a proposal
// with transactions as its header's fields and the transactions' hashes.
// Any message the frame cannot carry (a signature or signer of another form)
// goes as KindVote, which the stream also takes.
func EncodeVoteFrame(m consensus.Message) []byte {
	from, err := ident.Account(m.From).PublicKey()
	if err != nil || len(m.Sig) != ed25519.SignatureSize || m.Round < 0 || m.ValidRound < -1 {
		return EncodeVote(m)
	}
	b := make([]byte, 0, 160+len(m.Value))
	b = append(b, KindVoteFrame, byte(m.Type))
	b = binary.AppendUvarint(b, m.Height)
	b = binary.AppendUvarint(b, uint64(m.Round))
	b = binary.AppendUvarint(b, uint64(m.ValidRound+1))
	b = append(b, m.ValueID[:]...)
	b = append(b, from...)
	b = append(b, m.Sig...)
	if m.Type != consensus.Proposal {
		if len(m.Value) != 0 {
			return EncodeVote(m)
		}
		return b
	}
	return appendProposalValue(b, m.Value)
}

// appendProposalValue appends a proposal's value: as its header and tx hashes
// when it is a block with transactions that those fields give back whole,
// else whole.
func appendProposalValue(b, value []byte) []byte {
	blk, err := chain.DecodeBlock(value)
	if err != nil || len(blk.Txs) == 0 {
		return appendWholeValue(b, value)
	}
	hdr := blk.Header
	proposer, err := hdr.Proposer.PublicKey()
	if err != nil || hdr.Time < 0 || hdr.ChainID == "" || len(hdr.ChainID) > chain.MaxChainID {
		return appendWholeValue(b, value)
	}
	start := len(b)
	b = append(b, valueHashes)
	b = binary.AppendUvarint(b, uint64(len(hdr.ChainID)))
	b = append(b, hdr.ChainID...)
	b = binary.AppendUvarint(b, hdr.Height)
	b = binary.AppendUvarint(b, uint64(hdr.Time))
	b = append(b, hdr.Parent[:]...)
	b = append(b, hdr.StateHash[:]...)
	b = append(b, proposer...)
	b = binary.AppendUvarint(b, uint64(len(blk.Txs)))
	for _, tx := range blk.Txs {
		h := tx.Hash()
		b = append(b, h[:]...)
	}
	// The header must come back whole from these fields (a field added to
	// chain.Header and not here would not): else send the value whole.
	if got, err := decodeBareHeader(b[start+1:]); err != nil || got.header != hdr {
		return appendWholeValue(b[:start], value)
	}
	return b
}

func appendWholeValue(b, value []byte) []byte {
	b = append(b, valueWhole)
	b = binary.AppendUvarint(b, uint64(len(value)))
	return append(b, value...)
}

// bareProposal is a proposal's block header and its transactions' hashes.
type bareProposal struct {
	header chain.Header
	hashes []ident.Hash
}

// decodeBareHeader decodes what follows valueHashes; the header's TxRoot is
// computed from the hashes.
func decodeBareHeader(b []byte) (bareProposal, error) {
	bad := fmt.Errorf("%w: proposal header", ErrMalformed)
	var p bareProposal
	n, ok := nextUvarint(&b, chain.MaxChainID)
	if !ok || n == 0 || uint64(len(b)) < n {
		return p, bad
	}
	p.header.ChainID, b = string(b[:n]), b[n:]
	h, ok1 := nextUvarint(&b, math.MaxUint64)
	ms, ok2 := nextUvarint(&b, math.MaxInt64)
	if !ok1 || !ok2 || len(b) < 3*32 {
		return p, bad
	}
	p.header.Height, p.header.Time = h, int64(ms)
	b = b[copy(p.header.Parent[:], b):]
	b = b[copy(p.header.StateHash[:], b):]
	p.header.Proposer, b = ident.AccountOf(ed25519.PublicKey(b[:32])), b[32:]
	count, ok := nextUvarint(&b, MaxBlockTxs)
	if !ok || count == 0 || uint64(len(b)) != count*32 {
		return p, fmt.Errorf("%w: proposal's tx hashes", ErrMalformed)
	}
	p.hashes = make([]ident.Hash, count)
	for i := range p.hashes {
		b = b[copy(p.hashes[i][:], b):]
	}
	p.header.TxRoot = chain.TxRootOf(p.hashes)
	return p, nil
}

// DecodeVoteFrame decodes a vote stream frame (KindVoteFrame or KindVote).
// txByHash looks up a proposal's transactions; missing is how many it did
// not find, and then m carries no value (and no signature can verify it). It
// checks no signature.
func DecodeVoteFrame(b []byte, txByHash func(ident.Hash) (chain.Tx, bool)) (m consensus.Message, missing int, err error) {
	if len(b) > 0 && b[0] == KindVote {
		m, err = consensus.DecodeMessage(b[1:])
		return m, 0, err
	}
	if len(b) < 2 || b[0] != KindVoteFrame {
		return m, 0, fmt.Errorf("%w: not a vote", ErrMalformed)
	}
	m.Type = consensus.MsgType(b[1])
	b = b[2:]
	h, ok1 := nextUvarint(&b, math.MaxUint64)
	r, ok2 := nextUvarint(&b, consensus.MaxRound)
	vr, ok3 := nextUvarint(&b, consensus.MaxRound+1)
	const fixed = len(ident.Hash{}) + ed25519.PublicKeySize + ed25519.SignatureSize
	if !ok1 || !ok2 || !ok3 || len(b) < fixed {
		return m, 0, fmt.Errorf("%w: vote header", ErrMalformed)
	}
	m.Height, m.Round, m.ValidRound = h, int32(r), int32(vr)-1
	b = b[copy(m.ValueID[:], b):]
	m.From = ident.Account(ident.AccountOf(ed25519.PublicKey(b[:ed25519.PublicKeySize])))
	b = b[ed25519.PublicKeySize:]
	m.Sig = slices.Clone(b[:ed25519.SignatureSize])
	b = b[ed25519.SignatureSize:]
	if m.Type != consensus.Proposal {
		if len(b) != 0 {
			return m, 0, fmt.Errorf("%w: %d bytes after a vote", ErrMalformed, len(b))
		}
		return m, 0, nil
	}
	m.Value, missing, err = decodeProposalValue(b, txByHash)
	return m, missing, err
}

// decodeProposalValue decodes what appendProposalValue appends.
func decodeProposalValue(b []byte, txByHash func(ident.Hash) (chain.Tx, bool)) (value []byte, missing int, err error) {
	if len(b) == 0 {
		return nil, 0, fmt.Errorf("%w: proposal without value", ErrMalformed)
	}
	switch b[0] {
	case valueWhole:
		value, rest, err := readChunk(b[1:], consensus.MaxValueSize)
		if err != nil {
			return nil, 0, fmt.Errorf("proposal value: %w", err)
		}
		if len(rest) != 0 {
			return nil, 0, fmt.Errorf("%w: %d bytes after a proposal", ErrMalformed, len(rest))
		}
		if len(value) > 0 {
			return slices.Clone(value), 0, nil
		}
		return nil, 0, nil
	case valueHashes:
	default:
		return nil, 0, fmt.Errorf("%w: proposal value form %d", ErrMalformed, b[0])
	}
	p, err := decodeBareHeader(b[1:])
	if err != nil {
		return nil, 0, err
	}
	blk := chain.Block{Header: p.header, Txs: make([]chain.Tx, 0, len(p.hashes))}
	size := 0
	for _, h := range p.hashes {
		tx, ok := txByHash(h)
		if !ok {
			missing++
			continue
		}
		// No honest proposal holds more (node's fitProposal): stop a faulty
		// one before it costs a large block's memory.
		if size += len(tx.Encode()); size > MaxProposalTxBytes {
			return nil, 0, fmt.Errorf("%w: proposal's transactions exceed %d bytes", ErrMalformed, MaxProposalTxBytes)
		}
		blk.Txs = append(blk.Txs, tx)
	}
	if missing > 0 {
		return nil, missing, nil
	}
	return blk.Encode(), 0, nil
}
