package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/gridmesh/gridmesh/chain"
)

// EncodeVotesRequest encodes a votes/1 request for height h, round r.
func EncodeVotesRequest(h uint64, r int32) []byte {
	b := binary.BigEndian.AppendUint64(nil, h)
	return binary.BigEndian.AppendUint32(b, uint32(r))
}

// DecodeVotesRequest decodes EncodeVotesRequest's output.
func DecodeVotesRequest(b []byte) (uint64, int32, error) {
	if len(b) != 12 {
		return 0, 0, fmt.Errorf("%w: votes request of %d bytes, want 12", ErrMalformed, len(b))
	}
	r := int32(binary.BigEndian.Uint32(b[8:]))
	if r < 0 {
		return 0, 0, fmt.Errorf("%w: votes request for round %d", ErrMalformed, r)
	}
	return binary.BigEndian.Uint64(b), r, nil
}

// EncodeHead encodes a head/1 frame (HeadV1Proto) for height h.
func EncodeHead(h uint64) []byte { return binary.AppendUvarint(nil, h) }

// DecodeHead reads a head/1 frame: one shortest-form uvarint, nothing after.
func DecodeHead(b []byte) (uint64, error) {
	h, k := uvarint(b)
	if k <= 0 || k != len(b) {
		return 0, fmt.Errorf("%w: head frame %x", ErrMalformed, b)
	}
	return h, nil
}

// DecodeHeadBlock reads a head/2 frame: a certified block
// (EncodeCertified) of at most MaxHeadBlockBytes. Raw and Cert alias b. It
// does not verify the certificate (VerifyCertified).
func DecodeHeadBlock(b []byte) (Certified, error) {
	if len(b) > MaxHeadBlockBytes {
		return Certified{}, fmt.Errorf("%w: head/2 frame of %d bytes, limit %d", ErrMalformed, len(b), MaxHeadBlockBytes)
	}
	return DecodeCertified(b)
}

// EncodeTxBatch encodes a txs/1 batch of canonical transaction encodings.
func EncodeTxBatch(raws [][]byte) []byte { return EncodeChunks(raws) }

// DecodeTxBatch splits a txs/1 batch into its transactions' encodings
// (aliasing b): 1..MaxBatchTxs of at most chain.MaxTxBytes each. It does not
// decode the transactions.
func DecodeTxBatch(b []byte) ([][]byte, error) {
	return SplitChunks(b, 1, MaxBatchTxs, chain.MaxTxBytes)
}

// EncodeTxList encodes a book/1 response.
func EncodeTxList(raws [][]byte) []byte { return EncodeChunks(raws) }

// DecodeTxList splits a book/1 response (which, unlike a batch, may be
// empty) into its transactions' encodings (aliasing b).
func DecodeTxList(b []byte) ([][]byte, error) {
	if len(b) > MaxBookBytes {
		return nil, fmt.Errorf("%w: book of %d bytes, limit %d", ErrMalformed, len(b), MaxBookBytes)
	}
	return SplitChunks(b, 0, MaxBookTxs, chain.MaxTxBytes)
}
