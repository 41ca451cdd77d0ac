package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// Snapshots (snapshot/1, node/statesync): a joining home asks a peer what
// snapshot it holds (SnapOffer), then the snapshot's manifest in pieces by
// byte offset (SnapManifest), then the values of its entries by index
// (SnapValues), possibly from several peers at once. A request is 21 bytes:
// kind, height (8, big-endian; 0 in an offer request), arg (8: the
// manifest offset or the first entry's index), count (4: the most entries
// wanted; 0 otherwise). Every answer opens with a status byte: SnapOK or
// SnapNotHeld (the peer holds no snapshot of that height, or, to a values
// request, not the value of its first entry: a record it pruned to a stub;
// nothing follows).
//
//	offer:    SnapOK, height (8), manifest length (8), EncodeCertified(block, cert)
//	manifest: SnapOK, up to MaxSnapPiece bytes of the manifest from the offset
//	values:   SnapOK, zstd(EncodeChunks(values)): 1 .. MaxSnapValues values,
//	          at most MaxSnapChunkBytes once decompressed
const (
	SnapProto = "snapshot/1"

	SnapOffer    byte = 0
	SnapManifest byte = 1
	SnapValues   byte = 2

	SnapOK      byte = 0
	SnapNotHeld byte = 1

	SnapRequestBytes  = 21
	MaxSnapPiece      = 1 << 20
	MaxSnapValues     = 8192
	MaxSnapChunkBytes = 8 << 20 // decompressed; a state value is far smaller
	// MaxSnapManifestBytes bounds a manifest (about 4 MB a year at 100 homes).
	MaxSnapManifestBytes = 256 << 20
	// MaxSnapResponseBytes bounds any snapshot answer on the wire.
	MaxSnapResponseBytes = MaxSnapChunkBytes + 64
)

// SnapRequest is a decoded snapshot/1 request.
type SnapRequest struct {
	Kind   byte
	Height uint64
	Arg    uint64
	Count  uint32
}

// EncodeSnapRequest encodes r.
func EncodeSnapRequest(r SnapRequest) []byte {
	b := append(make([]byte, 0, SnapRequestBytes), r.Kind)
	b = binary.BigEndian.AppendUint64(b, r.Height)
	b = binary.BigEndian.AppendUint64(b, r.Arg)
	return binary.BigEndian.AppendUint32(b, r.Count)
}

// DecodeSnapRequest decodes EncodeSnapRequest's output: a known kind, an
// offer without fields, a values request of 1 .. MaxSnapValues entries.
func DecodeSnapRequest(b []byte) (SnapRequest, error) {
	if len(b) != SnapRequestBytes || b[0] > SnapValues {
		return SnapRequest{}, fmt.Errorf("%w: snapshot request", ErrMalformed)
	}
	r := SnapRequest{Kind: b[0], Height: binary.BigEndian.Uint64(b[1:]), Arg: binary.BigEndian.Uint64(b[9:]), Count: binary.BigEndian.Uint32(b[17:])}
	switch {
	case r.Kind == SnapOffer && (r.Height != 0 || r.Arg != 0 || r.Count != 0),
		r.Kind == SnapManifest && (r.Count != 0 || r.Arg > MaxSnapManifestBytes),
		r.Kind == SnapValues && (r.Count == 0 || r.Count > MaxSnapValues):
		return SnapRequest{}, fmt.Errorf("%w: snapshot request fields", ErrMalformed)
	}
	return r, nil
}

// SnapOfferAnswer is a decoded offer.
type SnapOfferAnswer struct {
	Height      uint64
	ManifestLen uint64
	Block       Certified // block Height with its certificate (not yet verified)
}

// EncodeSnapOffer encodes an offer of the snapshot at block height.
func EncodeSnapOffer(height, manifestLen uint64, certified []byte) []byte {
	b := append(make([]byte, 0, 17+len(certified)), SnapOK)
	b = binary.BigEndian.AppendUint64(b, height)
	b = binary.BigEndian.AppendUint64(b, manifestLen)
	return append(b, certified...)
}

// DecodeSnapOffer decodes an offer answer; held is false for SnapNotHeld.
func DecodeSnapOffer(b []byte) (a SnapOfferAnswer, held bool, err error) {
	if len(b) == 1 && b[0] == SnapNotHeld {
		return SnapOfferAnswer{}, false, nil
	}
	if len(b) < 17 || b[0] != SnapOK {
		return SnapOfferAnswer{}, false, fmt.Errorf("%w: snapshot offer", ErrMalformed)
	}
	a.Height, a.ManifestLen = binary.BigEndian.Uint64(b[1:]), binary.BigEndian.Uint64(b[9:])
	if a.ManifestLen > MaxSnapManifestBytes {
		return SnapOfferAnswer{}, false, fmt.Errorf("%w: snapshot manifest of %d bytes", ErrMalformed, a.ManifestLen)
	}
	if a.Block, err = DecodeCertified(b[17:]); err != nil {
		return SnapOfferAnswer{}, false, fmt.Errorf("snapshot offer: %w", err)
	}
	if a.Block.Block.Header.Height != a.Height {
		return SnapOfferAnswer{}, false, fmt.Errorf("%w: snapshot offer of height %d with block %d", ErrMalformed, a.Height, a.Block.Block.Header.Height)
	}
	return a, true, nil
}

// NotHeld is the answer of a peer without the snapshot asked for.
func NotHeld() []byte { return []byte{SnapNotHeld} }

// EncodeSnapPiece encodes a manifest piece answer.
func EncodeSnapPiece(piece []byte) []byte { return append([]byte{SnapOK}, piece...) }

// DecodeSnapPiece decodes a manifest piece answer (1 .. MaxSnapPiece bytes).
// The piece aliases b.
func DecodeSnapPiece(b []byte) (piece []byte, held bool, err error) {
	if len(b) == 1 && b[0] == SnapNotHeld {
		return nil, false, nil
	}
	if len(b) < 2 || len(b) > 1+MaxSnapPiece || b[0] != SnapOK {
		return nil, false, fmt.Errorf("%w: snapshot manifest piece", ErrMalformed)
	}
	return b[1:], true, nil
}

var (
	snapEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	snapDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(MaxSnapChunkBytes), zstd.WithDecoderMaxWindow(MaxSnapChunkBytes))
)

// EncodeSnapValues encodes a values answer.
func EncodeSnapValues(vals [][]byte) []byte {
	return snapEncoder.EncodeAll(EncodeChunks(vals), []byte{SnapOK})
}

// DecodeSnapValues decodes a values answer: the values, each aliasing a
// fresh buffer.
func DecodeSnapValues(b []byte) (vals [][]byte, held bool, err error) {
	if len(b) == 1 && b[0] == SnapNotHeld {
		return nil, false, nil
	}
	if len(b) < 2 || b[0] != SnapOK {
		return nil, false, fmt.Errorf("%w: snapshot values", ErrMalformed)
	}
	raw, err := snapDecoder.DecodeAll(b[1:], nil)
	if err != nil {
		return nil, false, fmt.Errorf("%w: snapshot values: %v", ErrMalformed, err)
	}
	if len(raw) > MaxSnapChunkBytes {
		return nil, false, fmt.Errorf("%w: snapshot values of %d bytes", ErrMalformed, len(raw))
	}
	vals, err = SplitChunks(raw, 1, MaxSnapValues, MaxSnapChunkBytes)
	if err != nil {
		return nil, false, fmt.Errorf("snapshot values: %w", err)
	}
	return vals, true, nil
}
