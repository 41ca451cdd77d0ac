package wire

import (
	"encoding/binary"
	"fmt"
)

// SyncLastResort is the sync request flag of a requester that found no other
// peer to follow (node/follow.go).
const SyncLastResort byte = 1

// EncodeSyncRequest encodes a sync/2 request for the blocks from height from.
func EncodeSyncRequest(from uint64, flags byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, from), flags)
}

// DecodeSyncRequest decodes EncodeSyncRequest's output.
func DecodeSyncRequest(b []byte) (from uint64, flags byte, err error) {
	if len(b) != 9 || b[8]&^SyncLastResort != 0 {
		return 0, 0, fmt.Errorf("%w: sync request %x", ErrMalformed, b)
	}
	return binary.BigEndian.Uint64(b), b[8], nil
}

// SyncAnswer is a decoded sync/2 response.
type SyncAnswer struct {
	Head   uint64 // the server's height
	Busy   bool   // the server does not serve this request (no blocks)
	Depth  byte   // the server's distance from the authorities (node/follow.go)
	Blocks []Certified
}

// EncodeSyncResponse encodes a sync/2 response; items are EncodeCertified
// outputs (none when busy).
func EncodeSyncResponse(head uint64, busy bool, depth byte, items [][]byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, head)
	if busy {
		return append(b, 1, depth, 0) // busy, no blocks
	}
	return append(append(b, 0, depth), EncodeChunks(items)...)
}

// DecodeSyncResponse decodes EncodeSyncResponse's output and the blocks in
// it.
func DecodeSyncResponse(b []byte) (SyncAnswer, error) {
	if len(b) < 10 || b[8] > 1 {
		return SyncAnswer{}, fmt.Errorf("%w: sync response header", ErrMalformed)
	}
	a := SyncAnswer{Head: binary.BigEndian.Uint64(b), Busy: b[8] == 1, Depth: b[9]}
	b = b[10:]
	maxItems := MaxSyncBlocks
	if a.Busy {
		maxItems = 0
	}
	items, err := SplitChunks(b, 0, maxItems, MaxBlockBytes+MaxCertBytes+32)
	if err != nil {
		return SyncAnswer{}, fmt.Errorf("sync response: %w", err)
	}
	a.Blocks = make([]Certified, 0, len(items))
	for i, chunk := range items {
		c, err := DecodeCertified(chunk)
		if err != nil {
			return SyncAnswer{}, fmt.Errorf("block %d: %w", i, err)
		}
		a.Blocks = append(a.Blocks, c)
	}
	return a, nil
}
