package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Protocol ids (below the network's prefix; p2p adds it).
const (
	SyncProto  = "sync/2"
	VoteProto  = "vote/2"
	VotesProto = "votes/1"
	HeadProto  = "head/2"
	TxProto    = "txs/1"
	BookProto  = "book/1"
	// HeadV1Proto is head/1, which head/2 replaces (a height alone): served
	// until the release after this one, and what a node sends a follower
	// that does not speak head/2, or when it has no block to send.
	HeadV1Proto = "head/1"
)

// Served lists every protocol id this release serves (doc.go, Versions):
// the current ones, then the previous release's ids that a current one
// replaced (head/1, by head/2). A node registers a handler for each and
// asks with the current id first (p2p.Host.RequestFirst; a one-way sender
// picks by p2p.Host.Speaks), so a network runs both releases at once.
var Served = []string{SyncProto, VoteProto, VotesProto, HeadProto, TxProto, BookProto, SnapProto, HeadV1Proto}

// Kind bytes: the first byte of a payload that may be one of several kinds.
const (
	KindVote      byte = 1 // a whole consensus.Message
	KindBlock     byte = 2 // a certified block
	KindVoteFrame byte = 3 // a vote-stream frame (EncodeVoteFrame)
)

// Limits. MaxGossipBytes is the largest gossip payload and vote frame: a
// proposal may carry its whole block. MaxProposalTxBytes leaves room in it for
// the header and the vote's fields, and keeps a block with its commit
// certificate (as a sync answer carries it) within MaxGossipBytes too, which
// sync relies on.
const (
	MaxGossipBytes       = 1 << 20
	MaxProposalTxBytes   = MaxGossipBytes - 128<<10
	MaxBlockBytes        = 4 << 20
	MaxBlockTxs          = 2_000
	MaxCertBytes         = 1 << 20
	MaxCertVotes         = 1024
	MaxVoteBytes         = 64 << 10
	MaxSyncBlocks        = 64
	MaxSyncResponseBytes = MaxSyncBlocks * (MaxBlockBytes / 16)
	// MaxVotesResponseBytes bounds a votes/1 answer: votes and the proposals
	// with their blocks.
	MaxVotesResponseBytes = MaxCertBytes + MaxGossipBytes
	MaxBatchTxs           = 512
	MaxBatchBytes         = 512 << 10 // well under MaxGossipBytes
	MaxBookTxs            = 8192
	MaxBookBytes          = 4 << 20
	// MaxHeadBlockBytes bounds a head/2 frame, a certified block: a
	// proposal's block with its certificate fits (MaxProposalTxBytes).
	MaxHeadBlockBytes = MaxGossipBytes
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("wire: malformed payload")

// EncodeChunks writes a count followed by length-prefixed items: the layout
// of a full certificate, a sync response, a tx batch, a book and a votes
// answer.
func EncodeChunks(items [][]byte) []byte {
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

// SplitChunks reads what EncodeChunks writes, with minCount..maxCount items
// of at most maxItem bytes each and nothing after them. The items alias b.
func SplitChunks(b []byte, minCount, maxCount, maxItem int) ([][]byte, error) {
	n, k := uvarint(b)
	if k <= 0 || n < uint64(minCount) || n > uint64(maxCount) {
		return nil, fmt.Errorf("%w: bad count", ErrMalformed)
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
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(b))
	}
	return out, nil
}

func readChunk(b []byte, max int) (chunk, rest []byte, err error) {
	n, k := uvarint(b)
	if k <= 0 {
		return nil, nil, fmt.Errorf("%w: bad length", ErrMalformed)
	}
	if n > uint64(max) || n > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("%w: length %d out of bounds", ErrMalformed, n)
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

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

// nextUvarint reads a uvarint of at most max (shortest form) from the front of
// *b and advances *b past it.
func nextUvarint(b *[]byte, max uint64) (uint64, bool) {
	v, k := uvarint(*b)
	if k <= 0 || v > max {
		return 0, false
	}
	*b = (*b)[k:]
	return v, true
}
