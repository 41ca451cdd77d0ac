package chain

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
)

// parser reads the canonical encoding. It accepts only the grammar the encoders
// of codec.go write (fields in declaration order, no whitespace, absent payloads
// omitted, canonical integers, strings and base64); what it accepts still has to
// re-encode to the same bytes (see DecodeTx), which is what defines canonical.
// Errors wrap ErrEncoding and give the byte offset and what was expected there.
type parser struct {
	b []byte
	i int
	// chainID is the last chain id read; equal chain ids share its string.
	chainID string
}

func (p *parser) fail(want string) error { return p.failAt(p.i, want) }

func (p *parser) failAt(off int, want string) error {
	found := "end of input"
	if off < len(p.b) {
		rest := p.b[off:]
		if len(rest) > 16 {
			rest = rest[:16]
		}
		found = strconv.Quote(string(rest))
		if off+16 < len(p.b) {
			found += "..."
		}
	}
	return fmt.Errorf("%w: at byte %d: expected %s, found %s", ErrEncoding, off, want, found)
}

// peek reports whether the input continues with s, and consumes it if so.
func (p *parser) peek(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// lit consumes s or fails.
func (p *parser) lit(s string) error {
	if p.peek(s) {
		return nil
	}
	return p.fail("`" + s + "`")
}

func (p *parser) end() error {
	if p.i != len(p.b) {
		return p.fail("end of input")
	}
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits reads a decimal number without sign, leading zeros or fraction, at most max.
func (p *parser) digits(max uint64, what string) (uint64, error) {
	b, start := p.b, p.i
	if p.i >= len(b) || !isDigit(b[p.i]) {
		return 0, p.fail(what)
	}
	if b[p.i] == '0' {
		p.i++
		if p.i < len(b) && isDigit(b[p.i]) {
			return 0, p.failAt(start, what+" without leading zeros")
		}
		return 0, nil
	}
	var v uint64
	for ; p.i < len(b) && isDigit(b[p.i]); p.i++ {
		c := uint64(b[p.i] - '0')
		if v > (max-c)/10 {
			return 0, p.failAt(start, fmt.Sprintf("%s at most %d", what, max))
		}
		v = v*10 + c
	}
	return v, nil
}

func (p *parser) uint(max uint64) (uint64, error) { return p.digits(max, "an unsigned integer") }

func (p *parser) int64() (int64, error) {
	if p.i < len(p.b) && p.b[p.i] == '-' {
		start := p.i
		p.i++
		u, err := p.digits(1<<63, "an integer")
		if err != nil {
			return 0, err
		}
		if u == 0 {
			return 0, p.failAt(start, "an integer (not -0)")
		}
		return int64(-u), nil
	}
	u, err := p.digits(1<<63-1, "an integer")
	return int64(u), err
}

func (p *parser) bool() (bool, error) {
	if p.peek("true") {
		return true, nil
	}
	if p.peek("false") {
		return false, nil
	}
	return false, p.fail("true or false")
}

// string reads a JSON string in the form appendString writes.
func (p *parser) string() (string, error) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", p.fail("a string")
	}
	p.i++
	b, start := p.b, p.i
	i := start + plainPrefix(b[start:])
	if i < len(b) && b[i] == '"' {
		p.i = i + 1
		return string(b[start:i]), nil
	}
	return p.stringSlow(start, i)
}

// stringSlow continues string after the plain prefix b[start:i].
func (p *parser) stringSlow(start, i int) (string, error) {
	b := p.b
	out := make([]byte, 0, 2*(i-start)+16)
	out = append(out, b[start:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			p.i = i + 1
			return string(out), nil
		case c < utf8.RuneSelf && plain[c]:
			out = append(out, c)
			i++
		case c == '\\':
			r, n, ok := canonicalEscape(b[i:])
			if !ok {
				return "", p.failAt(i, `a canonical escape (\" \\ \b \f \n \r \t, \u00xx for other control bytes and < > &, \u2028, \u2029)`)
			}
			out = utf8.AppendRune(out, r)
			i += n
		case c < utf8.RuneSelf:
			return "", p.failAt(i, fmt.Sprintf("byte %#02x escaped", c))
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return "", p.failAt(i, "valid UTF-8")
			}
			if r == '\u2028' || r == '\u2029' {
				return "", p.failAt(i, fmt.Sprintf("U+%04X escaped", r))
			}
			out = append(out, b[i:i+size]...)
			i += size
		}
	}
	return "", p.failAt(len(b), "the end of a string")
}

// canonicalEscape decodes the escape at the start of b if it is one appendString
// writes, returning the character and the escape's length.
func canonicalEscape(b []byte) (r rune, n int, ok bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	switch b[1] {
	case '"', '\\':
		return rune(b[1]), 2, true
	case 'b':
		return '\b', 2, true
	case 'f':
		return '\f', 2, true
	case 'n':
		return '\n', 2, true
	case 'r':
		return '\r', 2, true
	case 't':
		return '\t', 2, true
	case 'u':
		if len(b) < 6 {
			return 0, 0, false
		}
		var v rune
		for _, c := range b[2:6] {
			switch {
			case '0' <= c && c <= '9':
				v = v<<4 | rune(c-'0')
			case 'a' <= c && c <= 'f':
				v = v<<4 | rune(c-'a'+10)
			default:
				return 0, 0, false // escapes are lowercase hex
			}
		}
		switch {
		case v < ' ' && v != '\b' && v != '\f' && v != '\n' && v != '\r' && v != '\t',
			v == '<', v == '>', v == '&', v == '\u2028', v == '\u2029':
			return v, 6, true
		}
	}
	return 0, 0, false
}

// chainIDString reads the chain id, sharing the string of the previous one when equal.
func (p *parser) chainIDString() (string, error) {
	if n := len(p.chainID); n > 0 && len(p.b)-p.i >= n+2 && p.b[p.i] == '"' &&
		string(p.b[p.i+1:p.i+1+n]) == p.chainID && p.b[p.i+1+n] == '"' {
		p.i += n + 2
		return p.chainID, nil
	}
	s, err := p.string()
	if err == nil {
		p.chainID = s
	}
	return s, err
}

// hash reads a JSON string of 64 lowercase hex digits.
func (p *parser) hash(h *ident.Hash) error {
	if len(p.b)-p.i < 66 || p.b[p.i] != '"' || p.b[p.i+65] != '"' {
		return p.fail("a hash (a string of 64 lowercase hex digits)")
	}
	src := p.b[p.i+1 : p.i+65]
	for j, c := range src {
		if !(isDigit(c) || 'a' <= c && c <= 'f') {
			return p.failAt(p.i+1+j, "a lowercase hex digit")
		}
	}
	hex.Decode(h[:], src) // cannot fail: checked above
	p.i += 66
	return nil
}

// bytes reads a JSON string of standard padded base64, or null (when nullOK) as nil.
// An empty string gives an empty, non-nil slice.
func (p *parser) bytes(nullOK bool) ([]byte, error) {
	if nullOK && p.peek("null") {
		return nil, nil
	}
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		if nullOK {
			return nil, p.fail("a base64 string or null")
		}
		return nil, p.fail("a base64 string")
	}
	start := p.i + 1
	n := bytes.IndexByte(p.b[start:], '"')
	if n < 0 {
		return nil, p.failAt(len(p.b), "the end of a string")
	}
	end := start + n
	src := p.b[start:end]
	// The decoder skips \r and \n; JSON has them only escaped, base64 not at all.
	if j := bytes.IndexAny(src, "\r\n"); j >= 0 {
		return nil, p.failAt(start+j, "a standard base64 character")
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	n, err := base64.StdEncoding.Strict().Decode(out, src)
	if err != nil {
		if c, ok := err.(base64.CorruptInputError); ok && int(c) < len(src) && !isBase64(src[c]) {
			return nil, p.failAt(start+int(c), "a standard base64 character")
		}
		return nil, p.failAt(start, fmt.Sprintf("canonical padded base64 (%v)", err))
	}
	p.i = end + 1
	return out[:n], nil
}

func isBase64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || isDigit(c) || c == '+' || c == '/' || c == '='
}

// format refuses an encoding of a later format than this package reads: one
// that opens with a format field (`{"format":N,`, chain/doc.go, Format
// versions). what names the object.
func (p *parser) format(what string, current uint64) error {
	at := p.i
	if !p.peek(`{"format":`) {
		return nil
	}
	n, err := p.uint(1<<64 - 1)
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: at byte %d: %w: %s format %d, this binary reads format %d (update gridmesh)", ErrEncoding, at, ErrFormat, what, n, current)
}

// tx reads a transaction at the current offset.
func (p *parser) tx(tx *Tx) error {
	var err error
	if err = p.format("transaction", TxFormat); err != nil {
		return err
	}
	if err = p.lit(`{"chain_id":`); err != nil {
		return err
	}
	if tx.ChainID, err = p.chainIDString(); err != nil {
		return err
	}
	if err = p.lit(`,"kind":`); err != nil {
		return err
	}
	k, err := p.uint(0xff)
	if err != nil {
		return err
	}
	tx.Kind = TxKind(k)
	if err = p.lit(`,"from":`); err != nil {
		return err
	}
	from, err := p.string()
	if err != nil {
		return err
	}
	tx.From = ident.Account(from)
	if err = p.lit(`,"nonce":`); err != nil {
		return err
	}
	if tx.Nonce, err = p.uint(1<<64 - 1); err != nil {
		return err
	}
	if p.peek(`,"admit":`) {
		if err = p.admit(tx); err != nil {
			return err
		}
	}
	if p.peek(`,"tariff":`) {
		if err = p.tariff(tx); err != nil {
			return err
		}
	}
	if p.peek(`,"order":`) {
		if err = p.order(tx); err != nil {
			return err
		}
	}
	if p.peek(`,"cancel":`) {
		if err = p.cancel(tx); err != nil {
			return err
		}
	}
	if p.peek(`,"attest":`) {
		if err = p.attest(tx); err != nil {
			return err
		}
	}
	if p.peek(`,"evidence":`) {
		if err = p.evidence(tx); err != nil {
			return err
		}
	}
	if p.peek(`,"authority":`) {
		if err = p.authority(tx); err != nil {
			return err
		}
	}
	if p.peek(`,"upgrade":`) {
		if err = p.upgrade(tx); err != nil {
			return err
		}
	}
	if p.peek(`,"release":`) {
		if err = p.release(tx); err != nil {
			return err
		}
	}
	if p.peek(`,"sig":`) {
		at := p.i
		if tx.Sig, err = p.bytes(false); err != nil {
			return err
		}
		if len(tx.Sig) == 0 {
			return p.failAt(at, "a non-empty signature (an empty one is omitted)")
		}
	}
	if !p.peek("}") {
		return p.fail("`}` or the next field in declaration order (admit, tariff, order, cancel, attest, evidence, authority, upgrade, release, sig)")
	}
	return nil
}

func (p *parser) cancel(tx *Tx) error {
	tx.Cancel = new(Cancel)
	if err := p.lit(`{"order":`); err != nil {
		return err
	}
	if err := p.hash(&tx.Cancel.Order); err != nil {
		return err
	}
	return p.lit(`}`)
}

func (p *parser) evidence(tx *Tx) error {
	e := new(Evidence)
	tx.Evidence = e
	var err error
	if err = p.lit(`{"a":`); err != nil {
		return err
	}
	if e.A, err = p.bytes(true); err != nil {
		return err
	}
	if err = p.lit(`,"b":`); err != nil {
		return err
	}
	if e.B, err = p.bytes(true); err != nil {
		return err
	}
	return p.lit(`}`)
}

func (p *parser) authority(tx *Tx) error {
	a := new(AuthorityChange)
	tx.Authority = a
	var err error
	if err = p.lit(`{"add":`); err != nil {
		return err
	}
	if a.Add, err = p.bool(); err != nil {
		return err
	}
	if err = p.lit(`,"key":`); err != nil {
		return err
	}
	key, err := p.string()
	if err != nil {
		return err
	}
	a.Key = ident.Account(key)
	return p.lit(`}`)
}

func (p *parser) upgrade(tx *Tx) error {
	u := new(UpgradeVote)
	tx.Upgrade = u
	var err error
	if err = p.lit(`{"name":`); err != nil {
		return err
	}
	if u.Name, err = p.string(); err != nil {
		return err
	}
	if err = p.lit(`,"height":`); err != nil {
		return err
	}
	if u.Height, err = p.uint(1<<64 - 1); err != nil {
		return err
	}
	return p.lit(`}`)
}

// release reads a release vote's object (after `,"release":`): version,
// manifest and keys in that order, each omitted when unset; an empty
// object or an empty keys array has no canonical form (Verify refuses the
// first; the encoder omits the second).
func (p *parser) release(tx *Tx) error {
	r := new(ReleaseVote)
	tx.Release = r
	var err error
	if err = p.lit(`{`); err != nil {
		return err
	}
	sep := ""
	if p.peek(`"version":`) {
		if r.Version, err = p.string(); err != nil {
			return err
		}
		sep = ","
	}
	if p.peek(sep + `"manifest":`) {
		r.Manifest = new(ident.Hash)
		if err = p.hash(r.Manifest); err != nil {
			return err
		}
		sep = ","
	}
	if p.peek(sep + `"keys":[`) {
		for {
			k, err := p.string()
			if err != nil {
				return err
			}
			r.Keys = append(r.Keys, k)
			if p.peek(`]`) {
				break
			}
			if err = p.lit(`,`); err != nil {
				return err
			}
		}
	}
	return p.lit(`}`)
}

func (p *parser) admit(tx *Tx) error {
	a := new(Admit)
	tx.Admit = a
	if err := p.lit(`{"participant":`); err != nil {
		return err
	}
	s, err := p.string()
	if err != nil {
		return err
	}
	a.Participant = ident.Account(s)
	if err := p.lit(`,"name":`); err != nil {
		return err
	}
	if a.Name, err = p.string(); err != nil {
		return err
	}
	return p.lit(`}`)
}

// int64Field reads `key` then an integer into *v.
func int64Field[T ~int64](p *parser, key string, v *T) error {
	if err := p.lit(key); err != nil {
		return err
	}
	n, err := p.int64()
	*v = T(n)
	return err
}

func (p *parser) tariff(tx *Tx) error {
	t := new(Tariff)
	tx.Tariff = t
	if err := int64Field(p, `{"floor":`, &t.Floor); err != nil {
		return err
	}
	if err := int64Field(p, `,"ceiling":`, &t.Ceiling); err != nil {
		return err
	}
	if err := int64Field(p, `,"fee":`, &t.Fee); err != nil {
		return err
	}
	if err := p.lit(`,"seq":`); err != nil {
		return err
	}
	var err error
	if t.Seq, err = p.uint(1<<64 - 1); err != nil {
		return err
	}
	if p.peek(`,"late_seconds":`) {
		// Present only when not 0; the round-trip check refuses a written 0.
		if t.LateSeconds, err = p.int64(); err != nil {
			return err
		}
	}
	return p.lit(`}`)
}

func (p *parser) order(tx *Tx) error {
	o := new(Order)
	tx.Order = o
	if err := p.lit(`{"side":`); err != nil {
		return err
	}
	side, err := p.uint(0xff)
	if err != nil {
		return err
	}
	o.Side = market.Side(side)
	if err := int64Field(p, `,"slot":`, &o.Slot); err != nil {
		return err
	}
	if err := int64Field(p, `,"energy":`, &o.Energy); err != nil {
		return err
	}
	if err := int64Field(p, `,"price":`, &o.Price); err != nil {
		return err
	}
	// The lifecycle fields are optional (omitted when unset); an expires of 0
	// does not re-encode to itself and so is refused by DecodeTx.
	if p.peek(`,"replaces":`) {
		o.Replaces = new(ident.Hash)
		if err := p.hash(o.Replaces); err != nil {
			return err
		}
	}
	if p.peek(`,"expires":`) {
		var err error
		if o.Expires, err = p.uint(1<<64 - 1); err != nil {
			return err
		}
	}
	if p.peek(`,"curve":[`) {
		if err := p.curve(o); err != nil {
			return err
		}
	}
	return p.lit(`}`)
}

// curve reads a curve's steps after its `[`, up to and including the `]`.
// An empty curve ([]) is read as an empty slice, which does not re-encode to
// itself (an empty curve is omitted) and so is refused by DecodeTx. Like every
// other value bound, the number of steps is Verify's business (MaxCurveSteps);
// MaxTxBytes bounds what is read here to about 180 steps.
func (p *parser) curve(o *Order) error {
	o.Curve = []CurveStep{}
	if p.peek(`]`) {
		return nil
	}
	for {
		var st CurveStep
		if err := int64Field(p, `{"energy":`, &st.Energy); err != nil {
			return err
		}
		if err := int64Field(p, `,"price":`, &st.Price); err != nil {
			return err
		}
		if err := p.lit(`}`); err != nil {
			return err
		}
		o.Curve = append(o.Curve, st)
		if p.peek(`]`) {
			return nil
		}
		if err := p.lit(`,`); err != nil {
			return err
		}
	}
}

func (p *parser) attest(tx *Tx) error {
	a := new(Attest)
	tx.Attest = a
	if err := int64Field(p, `{"slot":`, &a.Slot); err != nil {
		return err
	}
	if err := int64Field(p, `,"import":`, &a.Import); err != nil {
		return err
	}
	if err := int64Field(p, `,"export":`, &a.Export); err != nil {
		return err
	}
	if err := p.lit(`,"journal":`); err != nil {
		return err
	}
	if err := p.hash(&a.Journal); err != nil {
		return err
	}
	return p.lit(`}`)
}

// header reads a block header at the current offset.
func (p *parser) header(h *Header) error {
	var err error
	if err = p.format("block header", BlockFormat); err != nil {
		return err
	}
	if err = p.lit(`{"chain_id":`); err != nil {
		return err
	}
	if h.ChainID, err = p.chainIDString(); err != nil {
		return err
	}
	if err = p.lit(`,"height":`); err != nil {
		return err
	}
	if h.Height, err = p.uint(1<<64 - 1); err != nil {
		return err
	}
	if err = p.lit(`,"time":`); err != nil {
		return err
	}
	if h.Time, err = p.int64(); err != nil {
		return err
	}
	for _, f := range []struct {
		key string
		h   *ident.Hash
	}{{`,"parent":`, &h.Parent}, {`,"tx_root":`, &h.TxRoot}, {`,"state_hash":`, &h.StateHash}} {
		if err = p.lit(f.key); err != nil {
			return err
		}
		if err = p.hash(f.h); err != nil {
			return err
		}
	}
	if err = p.lit(`,"proposer":`); err != nil {
		return err
	}
	proposer, err := p.string()
	if err != nil {
		return err
	}
	h.Proposer = ident.Account(proposer)
	return p.lit(`}`)
}

// block reads a block at the current offset. A missing or null txs leaves
// b.Txs nil (the caller reports it); [] gives an empty, non-nil slice. It returns
// the index and length of the first transaction longer than MaxTxBytes, or -1.
func (p *parser) block(b *Block) (bigTx, bigLen int, err error) {
	bigTx = -1
	if err = p.lit(`{"header":`); err != nil {
		return
	}
	if err = p.header(&b.Header); err != nil {
		return
	}
	if p.peek(`}`) || p.peek(`,"txs":null}`) {
		return
	}
	if err = p.lit(`,"txs":[`); err != nil {
		return
	}
	b.Txs = []Tx{}
	if p.peek(`]}`) {
		return
	}
	for {
		start := p.i
		b.Txs = append(b.Txs, Tx{})
		if err = p.tx(&b.Txs[len(b.Txs)-1]); err != nil {
			return
		}
		if n := p.i - start; n > MaxTxBytes && bigTx < 0 {
			bigTx, bigLen = len(b.Txs)-1, n
		}
		if p.peek(`,`) {
			continue
		}
		if p.peek(`]}`) {
			return
		}
		err = p.fail("`,` and the next transaction, or `]}`")
		return
	}
}
