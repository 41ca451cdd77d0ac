package chain

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/gridmesh/gridmesh/ident"
)

// This file is the canonical encoding of Tx, Header and Block, the format the
// package doc specifies (Encoding): the encoders, written field by field in
// the order of the declarations in types.go, and the decoders' entry points
// (the parser is in codec_parse.go). This code is the specification; a field
// added to those types is added here, to the parser and to the package doc.
// encoding/json is no part of it: the tests use it as an oracle only (it wrote
// these bytes before this encoder existed, and must still agree).

// Encode returns the canonical encoding of tx (see the package doc, Encoding).
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

// appendTx appends the canonical encoding of tx to dst.
func appendTx(dst []byte, tx Tx) []byte { return appendTxPtr(dst, &tx) }

func appendTxPtr(dst []byte, tx *Tx) []byte {
	dst = append(dst, `{"chain_id":`...)
	dst = appendString(dst, tx.ChainID)
	dst = append(dst, `,"kind":`...)
	dst = strconv.AppendUint(dst, uint64(tx.Kind), 10)
	dst = append(dst, `,"from":`...)
	dst = appendString(dst, string(tx.From))
	dst = append(dst, `,"nonce":`...)
	dst = strconv.AppendUint(dst, tx.Nonce, 10)
	if a := tx.Admit; a != nil {
		dst = append(dst, `,"admit":{"participant":`...)
		dst = appendString(dst, string(a.Participant))
		dst = append(dst, `,"name":`...)
		dst = appendString(dst, a.Name)
		dst = append(dst, '}')
	}
	if t := tx.Tariff; t != nil {
		dst = appendTariff(dst, t)
	}
	if o := tx.Order; o != nil {
		dst = appendOrder(dst, o)
	}
	if c := tx.Cancel; c != nil {
		dst = append(dst, `,"cancel":{"order":`...)
		dst = appendHash(dst, &c.Order)
		dst = append(dst, '}')
	}
	if a := tx.Attest; a != nil {
		dst = appendAttest(dst, a)
	}
	if e := tx.Evidence; e != nil {
		dst = append(dst, `,"evidence":{"a":`...)
		dst = appendBytes(dst, e.A)
		dst = append(dst, `,"b":`...)
		dst = appendBytes(dst, e.B)
		dst = append(dst, '}')
	}
	if a := tx.Authority; a != nil {
		dst = append(dst, `,"authority":{"add":`...)
		dst = strconv.AppendBool(dst, a.Add)
		dst = append(dst, `,"key":`...)
		dst = appendString(dst, string(a.Key))
		dst = append(dst, '}')
	}
	if u := tx.Upgrade; u != nil {
		dst = append(dst, `,"upgrade":{"name":`...)
		dst = appendString(dst, u.Name)
		dst = append(dst, `,"height":`...)
		dst = strconv.AppendUint(dst, u.Height, 10)
		dst = append(dst, '}')
	}
	if r := tx.Release; r != nil {
		dst = appendRelease(dst, r)
	}
	if len(tx.Sig) > 0 { // omitempty: nil and empty are both omitted
		dst = append(dst, `,"sig":`...)
		dst = appendBytes(dst, tx.Sig)
	}
	return append(dst, '}')
}

// appendTariff appends a tx's tariff field (with its leading comma).
func appendTariff(dst []byte, t *Tariff) []byte {
	dst = append(dst, `,"tariff":{"floor":`...)
	dst = strconv.AppendInt(dst, int64(t.Floor), 10)
	dst = append(dst, `,"ceiling":`...)
	dst = strconv.AppendInt(dst, int64(t.Ceiling), 10)
	dst = append(dst, `,"fee":`...)
	dst = strconv.AppendInt(dst, int64(t.Fee), 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, t.Seq, 10)
	if t.LateSeconds != 0 {
		dst = append(dst, `,"late_seconds":`...)
		dst = strconv.AppendInt(dst, t.LateSeconds, 10)
	}
	return append(dst, '}')
}

// appendOrder appends a tx's order field (with its leading comma).
func appendOrder(dst []byte, o *Order) []byte {
	dst = append(dst, `,"order":{"side":`...)
	dst = strconv.AppendUint(dst, uint64(o.Side), 10)
	dst = append(dst, `,"slot":`...)
	dst = strconv.AppendInt(dst, int64(o.Slot), 10)
	dst = append(dst, `,"energy":`...)
	dst = strconv.AppendInt(dst, int64(o.Energy), 10)
	dst = append(dst, `,"price":`...)
	dst = strconv.AppendInt(dst, int64(o.Price), 10)
	if o.Replaces != nil {
		dst = append(dst, `,"replaces":`...)
		dst = appendHash(dst, o.Replaces)
	}
	if o.Expires != 0 {
		dst = append(dst, `,"expires":`...)
		dst = strconv.AppendUint(dst, o.Expires, 10)
	}
	if len(o.Curve) > 0 {
		dst = append(dst, `,"curve":[`...)
		for i, st := range o.Curve {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"energy":`...)
			dst = strconv.AppendInt(dst, int64(st.Energy), 10)
			dst = append(dst, `,"price":`...)
			dst = strconv.AppendInt(dst, int64(st.Price), 10)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// appendAttest appends a tx's attest field (with its leading comma).
func appendAttest(dst []byte, a *Attest) []byte {
	dst = append(dst, `,"attest":{"slot":`...)
	dst = strconv.AppendInt(dst, int64(a.Slot), 10)
	dst = append(dst, `,"import":`...)
	dst = strconv.AppendInt(dst, int64(a.Import), 10)
	dst = append(dst, `,"export":`...)
	dst = strconv.AppendInt(dst, int64(a.Export), 10)
	dst = append(dst, `,"journal":`...)
	dst = appendHash(dst, &a.Journal)
	return append(dst, '}')
}

// appendHeader appends the canonical encoding of h to dst.
func appendHeader(dst []byte, h Header) []byte { return appendHeaderPtr(dst, &h) }

func appendHeaderPtr(dst []byte, h *Header) []byte {
	dst = append(dst, `{"chain_id":`...)
	dst = appendString(dst, h.ChainID)
	dst = append(dst, `,"height":`...)
	dst = strconv.AppendUint(dst, h.Height, 10)
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, h.Time, 10)
	dst = append(dst, `,"parent":`...)
	dst = appendHash(dst, &h.Parent)
	dst = append(dst, `,"tx_root":`...)
	dst = appendHash(dst, &h.TxRoot)
	dst = append(dst, `,"state_hash":`...)
	dst = appendHash(dst, &h.StateHash)
	dst = append(dst, `,"proposer":`...)
	dst = appendString(dst, string(h.Proposer))
	return append(dst, '}')
}

// appendBlock appends the canonical encoding of b to dst; a nil Txs is written
// as [].
func appendBlock(dst []byte, b Block) []byte {
	dst = append(dst, `{"header":`...)
	dst = appendHeaderPtr(dst, &b.Header)
	dst = append(dst, `,"txs":[`...)
	for i := range b.Txs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendTxPtr(dst, &b.Txs[i])
	}
	return append(dst, "]}"...)
}

// appendHash writes h as a JSON string of lowercase hex (Hash.MarshalText).
func appendHash(dst []byte, h *ident.Hash) []byte {
	dst = append(dst, '"')
	dst = hex.AppendEncode(dst, h[:])
	return append(dst, '"')
}

// appendBytes writes b as a string of standard padded base64 (RFC 4648 §4), or
// null when b is nil.
func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// plain[c] says whether the ASCII byte c is written unescaped in a string: every
// byte from space to DEL except ", \, <, > and &. (This is encoding/json's
// htmlSafeSet, the set the format was first written with.)
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// plainPrefix returns how many leading bytes of s are plain, looking at eight
// bytes at a time (accounts and chain ids are plain throughout).
func plainPrefix[S string | []byte](s S) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// With no byte of w at or above 0x80, (v-lo)&^v&hi is non-zero exactly
		// when some byte of v is zero, and (w-n*lo)&^w&hi when some byte is below n.
		zero := func(v uint64) uint64 { return (v - lo) &^ v & hi }
		if w&hi != 0 || (w-lo*' ')&^w&hi|zero(w^(lo*'"'))|zero(w^(lo*'\\'))|
			zero(w^(lo*'<'))|zero(w^(lo*'>'))|zero(w^(lo*'&')) != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || !plain[c] {
			break
		}
	}
	return i
}

// appendString writes s as a quoted string: \" \\ \b \f \n \r \t, other control
// bytes and < > & as \u00xx (lowercase hex), U+2028 and U+2029 as \u2028 and
// \u2029, each invalid UTF-8 byte as \ufffd, everything else (valid UTF-8) as it
// is.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := plainPrefix(s); i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendRelease writes a release vote: {"keys":[...]} for a key rotation,
// else {"version":V,"manifest":H} (either omitted when unset, as
// encoding/json's omitempty does; Verify requires both).
func appendRelease(dst []byte, r *ReleaseVote) []byte {
	dst = append(dst, `,"release":{`...)
	sep := ""
	if r.Version != "" {
		dst = append(dst, `"version":`...)
		dst = appendString(dst, r.Version)
		sep = ","
	}
	if r.Manifest != nil {
		dst = append(dst, sep+`"manifest":`...)
		dst = appendHash(dst, r.Manifest)
		sep = ","
	}
	if len(r.Keys) > 0 {
		dst = append(dst, sep+`"keys":[`...)
		for i, k := range r.Keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}
