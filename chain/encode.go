package chain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// The encoding is JSON with the fixed field order of the Go struct declarations
// (encoding/json writes fields in declaration order), no insignificant whitespace,
// lowercase hex for hashes, base64 for signatures and payloads that are absent
// omitted. Decoding is strict: unknown fields are errors, nothing may follow the
// value, and the decoded value must re-encode to exactly the input bytes, so only
// the canonical encoding is accepted (no case-folded or duplicate keys, no
// alternative number or string spellings, no nulls where the encoder writes []).

// mustJSON encodes v with encoding/json, except for a Header, which it writes
// with appendHeader (the same bytes, without reflection).
func mustJSON(v any) []byte {
	if h, ok := v.(Header); ok {
		return appendHeaderPtr(make([]byte, 0, 512), &h)
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs, strings, integers and byte slices are encoded.
		panic(fmt.Sprintf("chain: encode %T: %v", v, err))
	}
	return b
}

// Encode returns the canonical encoding of tx (what json.Marshal(tx) returns).
func (tx Tx) Encode() []byte {
	// A constant capacity lets the buffer live on the stack when Encode is
	// inlined into a caller that only hashes it (Tx.Hash).
	return appendTxPtr(make([]byte, 0, 384), &tx)
}

// Encode returns the canonical encoding of b. A nil Txs encodes as [].
func (b Block) Encode() []byte {
	// About the size of the encoding when nothing needs escaping (an order is
	// about 290 bytes), so that a block is usually written without regrowing.
	n := 512
	for i := range b.Txs {
		tx := &b.Txs[i]
		n += 200 + len(tx.ChainID) + len(tx.From) + (len(tx.Sig)+2)/3*4
		if tx.Admit != nil {
			n += len(tx.Admit.Participant) + len(tx.Admit.Name)
		}
		if tx.Evidence != nil {
			n += (len(tx.Evidence.A) + len(tx.Evidence.B) + 4) / 3 * 4
		}
	}
	return appendBlock(make([]byte, 0, n), b)
}

// DecodeTx decodes the canonical encoding of a transaction (at most MaxTxBytes).
// It does not verify the signature; see Tx.Verify.
func DecodeTx(b []byte) (Tx, error) {
	if len(b) > MaxTxBytes {
		return Tx{}, fmt.Errorf("%w: tx is %d bytes, limit %d", ErrTooLarge, len(b), MaxTxBytes)
	}
	p := parser{b: b}
	var tx Tx
	if err := p.tx(&tx); err != nil {
		return Tx{}, fmt.Errorf("decode tx: %w", err)
	}
	if err := p.end(); err != nil {
		return Tx{}, fmt.Errorf("decode tx: %w", err)
	}
	var buf [MaxTxBytes]byte
	if !bytes.Equal(appendTxPtr(buf[:0], &tx), b) {
		return Tx{}, fmt.Errorf("decode tx: %w: not canonical", ErrEncoding)
	}
	return tx, nil
}

// blockBufs holds buffers for DecodeBlock's re-encoding check.
var blockBufs sync.Pool

// DecodeBlock decodes the canonical encoding of a block (at most MaxBlockBytes,
// each tx at most MaxTxBytes when re-encoded).
func DecodeBlock(b []byte) (Block, error) {
	if len(b) > MaxBlockBytes {
		return Block{}, fmt.Errorf("%w: block is %d bytes, limit %d", ErrTooLarge, len(b), MaxBlockBytes)
	}
	p := parser{b: b}
	var blk Block
	bigTx, bigLen, err := p.block(&blk)
	if err == nil {
		err = p.end()
	}
	if err != nil {
		return Block{}, fmt.Errorf("decode block: %w", err)
	}
	if blk.Txs == nil {
		return Block{}, fmt.Errorf("decode block: %w: txs missing", ErrEncoding)
	}
	buf, _ := blockBufs.Get().(*[]byte)
	if buf == nil || cap(*buf) < len(b) {
		buf = &[]byte{}
		*buf = make([]byte, 0, len(b))
	}
	*buf = appendBlock((*buf)[:0], blk)
	canonical := bytes.Equal(*buf, b)
	blockBufs.Put(buf)
	if !canonical {
		return Block{}, fmt.Errorf("decode block: %w: not canonical", ErrEncoding)
	}
	// The block re-encodes to b, so each tx's span in b is its encoding.
	if bigTx >= 0 {
		return Block{}, fmt.Errorf("decode block: tx %d: %w: %d bytes, limit %d", bigTx, ErrTooLarge, bigLen, MaxTxBytes)
	}
	return blk, nil
}

// strictDecode decodes one JSON value into v with encoding/json: unknown fields
// are errors, and nothing may follow the value. (Tx and Block have their own
// parser; this is for the other records the store keeps.)
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
