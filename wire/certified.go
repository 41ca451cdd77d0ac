package wire

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
)

// Certified is a decided block and its commit certificate.
type Certified struct {
	Block chain.Block
	Raw   []byte // the block's encoding
	Cert  []byte // EncodeCommit of the precommits
}

// EncodeCertified encodes a block's encoding and its certificate as a
// KindBlock payload.
func EncodeCertified(rawBlock, cert []byte) []byte {
	out := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(rawBlock)+len(cert))
	out = append(out, KindBlock)
	out = binary.AppendUvarint(out, uint64(len(rawBlock)))
	out = append(out, rawBlock...)
	out = binary.AppendUvarint(out, uint64(len(cert)))
	return append(out, cert...)
}

// DecodeCertified decodes EncodeCertified's output and the block in it. Raw
// and Cert alias b.
func DecodeCertified(b []byte) (Certified, error) {
	if len(b) == 0 || b[0] != KindBlock {
		return Certified{}, fmt.Errorf("%w: not a certified block", ErrMalformed)
	}
	raw, rest, err := readChunk(b[1:], MaxBlockBytes)
	if err != nil {
		return Certified{}, fmt.Errorf("block: %w", err)
	}
	cert, rest, err := readChunk(rest, MaxCertBytes)
	if err != nil {
		return Certified{}, fmt.Errorf("certificate: %w", err)
	}
	if len(rest) != 0 {
		return Certified{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	blk, err := chain.DecodeBlock(raw)
	if err != nil {
		return Certified{}, err
	}
	return Certified{Block: blk, Raw: raw, Cert: cert}, nil
}

// VerifyCertified checks that c's block belongs to network chainID and that
// its certificate holds precommits for it of more than 2/3 of set, the
// authority set of the block's height in the chain's order
// (chain.Chain.Authorities). It does not execute the block: the chain's
// Validate does.
func VerifyCertified(chainID string, set []ident.Account, c Certified) error {
	if c.Block.Header.ChainID != chainID {
		return fmt.Errorf("wire: block of network %q, want %q", c.Block.Header.ChainID, chainID)
	}
	h := c.Block.Header.Height
	votes, err := DecodeCommit(c.Cert, set)
	if err != nil {
		return err
	}
	keys := make(map[ident.Account]ed25519.PublicKey, len(set))
	for _, id := range set {
		if pub, err := ident.Account(id).PublicKey(); err == nil {
			keys[id] = pub
		}
	}
	return consensus.VerifyCommit(chainID, keys, h, ident.Hash(c.Block.Hash()), votes)
}
