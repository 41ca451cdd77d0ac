package chain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// The encoding is JSON with the fixed field order of the Go struct declarations
// (encoding/json writes fields in declaration order), no insignificant whitespace,
// lowercase hex for hashes, base64 for signatures and payloads that are absent
// omitted. Decoding is strict: unknown fields are errors, nothing may follow the
// value, and the decoded value must re-encode to exactly the input bytes, so only
// the canonical encoding is accepted (no case-folded or duplicate keys, no
// alternative number or string spellings, no nulls where the encoder writes []).

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs, strings, integers and byte slices are encoded.
		panic(fmt.Sprintf("chain: encode %T: %v", v, err))
	}
	return b
}

// Encode returns the canonical encoding of tx.
func (tx Tx) Encode() []byte { return mustJSON(tx) }

// Encode returns the canonical encoding of b. A nil Txs encodes as [].
func (b Block) Encode() []byte {
	if b.Txs == nil {
		b.Txs = []Tx{}
	}
	return mustJSON(b)
}

// DecodeTx decodes the canonical encoding of a transaction (at most MaxTxBytes).
// It does not verify the signature; see Tx.Verify.
func DecodeTx(b []byte) (Tx, error) {
	if len(b) > MaxTxBytes {
		return Tx{}, fmt.Errorf("%w: tx is %d bytes, limit %d", ErrTooLarge, len(b), MaxTxBytes)
	}
	var tx Tx
	if err := strictDecode(b, &tx); err != nil {
		return Tx{}, fmt.Errorf("decode tx: %w", err)
	}
	if !bytes.Equal(tx.Encode(), b) {
		return Tx{}, fmt.Errorf("decode tx: %w: not canonical", ErrEncoding)
	}
	return tx, nil
}

// DecodeBlock decodes the canonical encoding of a block (at most MaxBlockBytes,
// each tx at most MaxTxBytes when re-encoded).
func DecodeBlock(b []byte) (Block, error) {
	if len(b) > MaxBlockBytes {
		return Block{}, fmt.Errorf("%w: block is %d bytes, limit %d", ErrTooLarge, len(b), MaxBlockBytes)
	}
	var blk Block
	if err := strictDecode(b, &blk); err != nil {
		return Block{}, fmt.Errorf("decode block: %w", err)
	}
	if blk.Txs == nil {
		return Block{}, fmt.Errorf("decode block: %w: txs missing", ErrEncoding)
	}
	if !bytes.Equal(blk.Encode(), b) {
		return Block{}, fmt.Errorf("decode block: %w: not canonical", ErrEncoding)
	}
	for i, tx := range blk.Txs {
		if n := len(tx.Encode()); n > MaxTxBytes {
			return Block{}, fmt.Errorf("decode block: tx %d: %w: %d bytes, limit %d", i, ErrTooLarge, n, MaxTxBytes)
		}
	}
	return blk, nil
}

func strictDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrEncoding, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", ErrEncoding)
	}
	return nil
}
