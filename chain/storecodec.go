package chain

import (
	"bytes"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/zstd"
)

// Values of packMin bytes or more (block bodies, the cleared and settled
// records) are stored compressed: badger keeps them in its value log, which it
// does not compress (its SSTable compression covers the small values only).
// A stored value that begins with the zstd frame magic is a compressed one; a
// canonical encoding or a JSON record never begins with that byte ('('), so a
// store written before compression reads unchanged. Only the stored bytes
// change: hashes and the state hash are over the uncompressed values.
var packMin = 1 << 10 // a variable for the test of a store written before compression

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

var (
	packer, _   = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2), zstd.WithLowerEncoderMem(true))
	unpacker, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(2*MaxBlockBytes))
)

// pack is v as stored: compressed when it is large and compression helps.
func pack(v []byte) []byte {
	if len(v) < packMin {
		return v
	}
	z := packer.EncodeAll(v, make([]byte, 0, len(v)/2))
	if len(z) >= len(v) {
		return v
	}
	return z
}

// unpack is the value stored as v.
func unpack(v []byte) ([]byte, error) {
	if !bytes.HasPrefix(v, zstdMagic) {
		return v, nil
	}
	out, err := unpacker.DecodeAll(v, nil)
	if err != nil {
		return nil, fmt.Errorf("stored value: %w", err)
	}
	return out, nil
}

// valueOf is the value of item, uncompressed.
func valueOf(item *badger.Item) ([]byte, error) {
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	return unpack(v)
}
