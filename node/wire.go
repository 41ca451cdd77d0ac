package node

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
)

// Payloads are told apart by their first byte:
//
//	kindVote  (1): one signed consensus.Message (proposal, prevote or precommit),
//	               the only payload of the consensus topic;
//	kindBlock (2): a decided block with its commit certificate, as a sync
//	               answer carries it.
//
// A certified block is encoded as
//
//	kind | uvarint len(block) | block | uvarint len(cert) | cert
//
// and a certificate as a count followed by length-prefixed consensus messages.
// Every length is bounded and no trailing byte is accepted.
const (
	kindVote  byte = 1
	kindBlock byte = 2

	maxBlockBytes = 4 << 20
	maxCertBytes  = 1 << 20
	maxCertVotes  = 1024
	maxVoteBytes  = 64 << 10
	maxSyncBlocks = 64
)

var errWire = errors.New("node: malformed payload")

// certified is a decided block and its commit certificate.
type certified struct {
	Block chain.Block
	Raw   []byte // the block's encoding
	Cert  []byte // encodeCommit of the precommits
}

func encodeVote(m consensus.Message) []byte {
	b := m.Encode()
	out := make([]byte, 0, 1+len(b))
	out = append(out, kindVote)
	return append(out, b...)
}

func encodeCertified(rawBlock, cert []byte) []byte {
	out := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(rawBlock)+len(cert))
	out = append(out, kindBlock)
	out = binary.AppendUvarint(out, uint64(len(rawBlock)))
	out = append(out, rawBlock...)
	out = binary.AppendUvarint(out, uint64(len(cert)))
	return append(out, cert...)
}

// decodeCertifiedBody decodes what follows kindBlock.
func decodeCertifiedBody(b []byte) (certified, error) {
	raw, rest, err := readChunk(b, maxBlockBytes)
	if err != nil {
		return certified{}, fmt.Errorf("block: %w", err)
	}
	cert, rest, err := readChunk(rest, maxCertBytes)
	if err != nil {
		return certified{}, fmt.Errorf("certificate: %w", err)
	}
	if len(rest) != 0 {
		return certified{}, fmt.Errorf("%w: %d trailing bytes", errWire, len(rest))
	}
	blk, err := chain.DecodeBlock(raw)
	if err != nil {
		return certified{}, err
	}
	return certified{Block: blk, Raw: raw, Cert: cert}, nil
}

func readChunk(b []byte, max int) (chunk, rest []byte, err error) {
	n, k := uvarint(b)
	if k <= 0 {
		return nil, nil, fmt.Errorf("%w: bad length", errWire)
	}
	if n > uint64(max) || n > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("%w: length %d out of bounds", errWire, n)
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

// encodeChunks writes a count followed by length-prefixed items: the layout of
// a certificate, a sync response, a tx batch and a book.
func encodeChunks(items [][]byte) []byte {
	size := binary.MaxVarintLen64
	for _, it := range items {
		size += binary.MaxVarintLen64 + len(it)
	}
	out := binary.AppendUvarint(make([]byte, 0, size), uint64(len(items)))
	for _, it := range items {
		out = binary.AppendUvarint(out, uint64(len(it)))
		out = append(out, it...)
	}
	return out
}

// splitChunks reads what encodeChunks writes, with minCount..maxCount items of
// at most maxItem bytes each and nothing after them. The items alias b.
// uvarint is binary.Uvarint accepting only the shortest encoding of a value,
// so that every accepted encoding re-encodes to the same bytes (k <= 0 on
// error).
func uvarint(b []byte) (uint64, int) {
	v, k := binary.Uvarint(b)
	if k > 0 && k != len(binary.AppendUvarint(nil, v)) {
		return 0, -1
	}
	return v, k
}

func splitChunks(b []byte, minCount, maxCount, maxItem int) ([][]byte, error) {
	n, k := uvarint(b)
	if k <= 0 || n < uint64(minCount) || n > uint64(maxCount) {
		return nil, fmt.Errorf("%w: bad count", errWire)
	}
	b = b[k:]
	out := make([][]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		var chunk []byte
		var err error
		if chunk, b, err = readChunk(b, maxItem); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out = append(out, chunk)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errWire, len(b))
	}
	return out, nil
}

// A commit certificate (the precommits that decided a block, stored with it
// and sent with it by sync) is encoded compactly when, as always for a
// decision, its precommits share height, round and value and come from
// authorities of the height's set: the shared fields once, then each signer as
// its index in the set (in the chain's order) and its signature.
//
//	1 | uvarint height | uvarint round | value id (32) | uvarint count | count × (uvarint index | sig (64))
//
// Any other list is kept whole: 0 | encodeCert. Four precommits take about
// 300 bytes instead of 740 (a block header and its certificate are most of
// what a home downloads at 1,000 homes' load).
const (
	commitFull    byte = 0
	commitCompact byte = 1
)

func encodeCommit(votes []consensus.Message, set []consensus.ID) []byte {
	if b, ok := compactCommit(votes, set); ok {
		return b
	}
	return append([]byte{commitFull}, encodeCert(votes)...)
}

func compactCommit(votes []consensus.Message, set []consensus.ID) ([]byte, bool) {
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

// decodeCommit decodes encodeCommit's output; set is the authority set of the
// certificate's height, which gives the compact form's signers.
func decodeCommit(b []byte, set []consensus.ID) ([]consensus.Message, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty certificate", errWire)
	}
	if b[0] == commitFull {
		return decodeCert(b[1:])
	}
	if b[0] != commitCompact {
		return nil, fmt.Errorf("%w: certificate form %d", errWire, b[0])
	}
	b = b[1:]
	next := func(max uint64) (uint64, bool) {
		v, k := uvarint(b)
		if k <= 0 || v > max {
			return 0, false
		}
		b = b[k:]
		return v, true
	}
	h, ok1 := next(math.MaxUint64)
	r, ok2 := next(consensus.MaxRound)
	if !ok1 || !ok2 || len(b) < len(consensus.Hash{}) {
		return nil, fmt.Errorf("%w: certificate header", errWire)
	}
	var id consensus.Hash
	b = b[copy(id[:], b):]
	n, ok := next(uint64(len(set)))
	if !ok || n == 0 {
		return nil, fmt.Errorf("%w: certificate count", errWire)
	}
	votes := make([]consensus.Message, 0, n)
	for range n {
		i, ok := next(uint64(len(set)) - 1)
		if !ok || len(b) < ed25519.SignatureSize {
			return nil, fmt.Errorf("%w: certificate entry %d", errWire, len(votes))
		}
		votes = append(votes, consensus.Message{Type: consensus.Precommit, Height: h, Round: int32(r), ValueID: id, ValidRound: -1,
			From: set[i], Sig: slices.Clone(b[:ed25519.SignatureSize])})
		b = b[ed25519.SignatureSize:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the certificate", errWire, len(b))
	}
	return votes, nil
}

func encodeCert(votes []consensus.Message) []byte {
	items := make([][]byte, len(votes))
	for i, v := range votes {
		items[i] = v.Encode()
	}
	return encodeChunks(items)
}

func decodeCert(b []byte) ([]consensus.Message, error) {
	items, err := splitChunks(b, 0, maxCertVotes, maxVoteBytes)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	votes := make([]consensus.Message, 0, len(items))
	for i, it := range items {
		m, err := consensus.DecodeMessage(it)
		if err != nil {
			return nil, fmt.Errorf("vote %d: %w", i, err)
		}
		votes = append(votes, m)
	}
	return votes, nil
}

// Sync protocol (sync/2): the request is the first wanted height (8 bytes,
// big-endian) and a flags byte (syncLastResort); the response is the server's
// height (8 bytes), a busy byte (1: the server does not serve this request,
// follow.go; no blocks follow), its depth (0 on an authority, its upstream's
// plus one on a home, 255 for none; follow.go) and a count followed by
// length-prefixed certified blocks (each as encodeCertified produces it, kind
// byte included).
const syncLastResort byte = 1 // the requester found no other peer to follow

func encodeSyncRequest(from uint64, flags byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, from), flags)
}

func decodeSyncRequest(b []byte) (from uint64, flags byte, err error) {
	if len(b) != 9 || b[8]&^syncLastResort != 0 {
		return 0, 0, fmt.Errorf("%w: sync request %x", errWire, b)
	}
	return binary.BigEndian.Uint64(b), b[8], nil
}

// syncAnswer is a decoded sync response.
type syncAnswer struct {
	head   uint64 // the server's height
	busy   bool
	depth  byte // the server's distance from the authorities (follow.go)
	blocks []certified
}

func encodeSyncResponse(head uint64, busy bool, depth byte, items [][]byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, head)
	if busy {
		return append(b, 1, depth, 0) // busy, no blocks
	}
	return append(append(b, 0, depth), encodeChunks(items)...)
}

func decodeSyncResponse(b []byte) (syncAnswer, error) {
	if len(b) < 10 || b[8] > 1 {
		return syncAnswer{}, fmt.Errorf("%w: sync response header", errWire)
	}
	a := syncAnswer{head: binary.BigEndian.Uint64(b), busy: b[8] == 1, depth: b[9]}
	b = b[10:]
	maxItems := maxSyncBlocks
	if a.busy {
		maxItems = 0
	}
	items, err := splitChunks(b, 0, maxItems, maxBlockBytes+maxCertBytes+32)
	if err != nil {
		return syncAnswer{}, fmt.Errorf("sync response: %w", err)
	}
	a.blocks = make([]certified, 0, len(items))
	for i, chunk := range items {
		if len(chunk) == 0 || chunk[0] != kindBlock {
			return syncAnswer{}, fmt.Errorf("%w: block %d has no block kind", errWire, i)
		}
		c, err := decodeCertifiedBody(chunk[1:])
		if err != nil {
			return syncAnswer{}, fmt.Errorf("block %d: %w", i, err)
		}
		a.blocks = append(a.blocks, c)
	}
	return a, nil
}
