package ident

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	ErrAccount = errors.New("ident: malformed account")
	ErrHash    = errors.New("ident: malformed hash")
)

// Account is an ed25519 identity: the lowercase hex of the public key (64
// characters). The zero value "" is no account.
type Account string

// AccountOf returns the account of a public key.
func AccountOf(pub ed25519.PublicKey) Account { return Account(hex.EncodeToString(pub)) }

// PublicKey returns the ed25519 public key of a well-formed account, or an
// error matching ErrAccount.
func (a Account) PublicKey() (ed25519.PublicKey, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	b, _ := hex.DecodeString(string(a))
	return ed25519.PublicKey(b), nil
}

// Check reports whether a is 64 lowercase hex characters; the error matches
// ErrAccount.
func (a Account) Check() error {
	if len(a) != 2*ed25519.PublicKeySize {
		return fmt.Errorf("%w: %d characters, want %d", ErrAccount, len(a), 2*ed25519.PublicKeySize)
	}
	if !lowerHex(string(a)) {
		return fmt.Errorf("%w: not lowercase hex", ErrAccount)
	}
	return nil
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Hash is a SHA-256 digest. The zero Hash means "none" where a type says so (a
// nil vote, the genesis block's parent).
type Hash [32]byte

// String returns the full lowercase hex form (64 characters).
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Short returns the first 8 bytes in hex, or "nil" for the zero hash: for logs
// and traces, never for encodings.
func (h Hash) Short() string {
	if h.IsZero() {
		return "nil"
	}
	return hex.EncodeToString(h[:8])
}

// IsZero reports whether h is all zeros.
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText encodes h as lowercase hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes 64 hex characters (either case: encoding/json's
// decoders rely on it; canonical decoders re-encode and compare). The error
// matches ErrHash.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("%w: hash must be 64 hex characters, got %d", ErrHash, len(b))
	}
	if _, err := hex.Decode(h[:], b); err != nil {
		return fmt.Errorf("%w: %v", ErrHash, err)
	}
	return nil
}

// ParseHash parses the lowercase hex form of a hash; the error matches ErrHash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if err := h.UnmarshalText([]byte(s)); err != nil {
		return Hash{}, err
	}
	if !lowerHex(s) {
		return Hash{}, fmt.Errorf("%w: hash must be lowercase hex", ErrHash)
	}
	return h, nil
}
