package p2p

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
)

// Envelope limits.
const (
	// MaxNetworkLen bounds the network id inside an envelope.
	MaxNetworkLen = 64
	// DefaultMaxPayload is the largest gossip payload unless Config.MaxPayload says otherwise.
	DefaultMaxPayload = 64 << 10
	// envelopeVersion is the first byte of every encoded envelope.
	envelopeVersion = 1
	// envelopeOverhead is the encoded size of an envelope without network and payload
	// (version, key, two length prefixes of at most 10 bytes, expiry, signature).
	envelopeOverhead = 1 + ed25519.PublicKeySize + 10 + 8 + 10 + ed25519.SignatureSize
)

// envelopeDomain separates envelope signatures from every other use of the node key.
const envelopeDomain = "gridmesh/envelope/1\x00"

// Envelope errors.
var (
	ErrEnvelopeMalformed = errors.New("p2p: malformed envelope")
	ErrEnvelopeTooLarge  = errors.New("p2p: envelope too large")
	ErrEnvelopeSignature = errors.New("p2p: bad envelope signature")
)

// Envelope is the signed wrapper of every gossip payload.
//
// Encoding (strict; no trailing bytes, minimal uvarints):
//
//	version(1)=1 | from(32) | uvarint len | network | expiry(8, big-endian unix ms, signed) |
//	uvarint len | payload | sig(64)
//
// Sig is ed25519 by From over envelopeDomain followed by every encoded byte before sig,
// so it covers network, expiry, payload and from.
type Envelope struct {
	From    ed25519.PublicKey
	Network string
	Expiry  int64 // unix milliseconds
	Payload []byte
	Sig     []byte
}

// appendUnsigned appends the signed part of the encoding (everything but the signature).
func (e *Envelope) appendUnsigned(b []byte) []byte {
	b = append(b, envelopeVersion)
	b = append(b, e.From...)
	b = binary.AppendUvarint(b, uint64(len(e.Network)))
	b = append(b, e.Network...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Expiry))
	b = binary.AppendUvarint(b, uint64(len(e.Payload)))
	b = append(b, e.Payload...)
	return b
}

func (e *Envelope) signingBytes() []byte {
	b := make([]byte, 0, len(envelopeDomain)+envelopeOverhead+len(e.Network)+len(e.Payload))
	b = append(b, envelopeDomain...)
	return e.appendUnsigned(b)
}

// Sign sets From and Sig from key.
func (e *Envelope) Sign(key ed25519.PrivateKey) {
	e.From = key.Public().(ed25519.PublicKey)
	e.Sig = ed25519.Sign(key, e.signingBytes())
}

// Verify reports whether Sig is From's valid signature over the envelope.
func (e *Envelope) Verify() bool {
	if len(e.From) != ed25519.PublicKeySize || len(e.Sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(e.From, e.signingBytes(), e.Sig)
}

// Marshal encodes the envelope. It fails if a field has the wrong size.
func (e *Envelope) Marshal() ([]byte, error) {
	if len(e.From) != ed25519.PublicKeySize || len(e.Sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: key or signature size", ErrEnvelopeMalformed)
	}
	if len(e.Network) > MaxNetworkLen {
		return nil, fmt.Errorf("%w: network id longer than %d", ErrEnvelopeMalformed, MaxNetworkLen)
	}
	b := make([]byte, 0, envelopeOverhead+len(e.Network)+len(e.Payload))
	b = e.appendUnsigned(b)
	return append(b, e.Sig...), nil
}

// DecodeEnvelope decodes b strictly: the payload may not exceed maxPayload, the network
// id MaxNetworkLen, lengths must be minimal uvarints and nothing may follow the
// signature. It does not verify the signature. The returned envelope aliases b.
func DecodeEnvelope(b []byte, maxPayload int) (Envelope, error) {
	var e Envelope
	if len(b) > envelopeOverhead+MaxNetworkLen+maxPayload {
		return e, ErrEnvelopeTooLarge
	}
	if len(b) < 1 || b[0] != envelopeVersion {
		return e, fmt.Errorf("%w: version", ErrEnvelopeMalformed)
	}
	b = b[1:]
	if len(b) < ed25519.PublicKeySize {
		return e, fmt.Errorf("%w: short key", ErrEnvelopeMalformed)
	}
	e.From = ed25519.PublicKey(b[:ed25519.PublicKeySize:ed25519.PublicKeySize])
	b = b[ed25519.PublicKeySize:]

	n, rest, err := readLen(b, MaxNetworkLen)
	if err != nil {
		return Envelope{}, fmt.Errorf("network: %w", err)
	}
	e.Network = string(rest[:n])
	b = rest[n:]

	if len(b) < 8 {
		return Envelope{}, fmt.Errorf("%w: short expiry", ErrEnvelopeMalformed)
	}
	e.Expiry = int64(binary.BigEndian.Uint64(b))
	b = b[8:]

	n, rest, err = readLen(b, maxPayload)
	if err != nil {
		return Envelope{}, fmt.Errorf("payload: %w", err)
	}
	e.Payload = rest[:n:n]
	b = rest[n:]

	if len(b) != ed25519.SignatureSize {
		return Envelope{}, fmt.Errorf("%w: signature of %d bytes", ErrEnvelopeMalformed, len(b))
	}
	e.Sig = b[:ed25519.SignatureSize:ed25519.SignatureSize]
	return e, nil
}

// readLen reads a minimal uvarint length no larger than max and checks that that many
// bytes follow. It returns the length and the bytes after the prefix.
func readLen(b []byte, max int) (int, []byte, error) {
	v, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, nil, fmt.Errorf("%w: length prefix", ErrEnvelopeMalformed)
	}
	if k != uvarintLen(v) {
		return 0, nil, fmt.Errorf("%w: non-minimal length prefix", ErrEnvelopeMalformed)
	}
	if v > uint64(max) {
		return 0, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrEnvelopeTooLarge, v, max)
	}
	if uint64(len(b)-k) < v {
		return 0, nil, fmt.Errorf("%w: truncated", ErrEnvelopeMalformed)
	}
	return int(v), b[k:], nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
