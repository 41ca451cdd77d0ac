package chain

import (
	"crypto/ed25519"
	"fmt"

	"github.com/gridmesh/gridmesh/ident"
)

// Account is ident.Account.
//
// Transitional alias: removed once node and cmd name ident directly.
type Account = ident.Account

// Hash is ident.Hash.
//
// Transitional alias: removed once node and cmd name ident directly.
type Hash = ident.Hash

// AccountOf is ident.AccountOf.
//
// Transitional alias: removed once node and cmd name ident directly.
func AccountOf(pub ed25519.PublicKey) ident.Account { return ident.AccountOf(pub) }

// ParseHash is ident.ParseHash; its error matches both ident.ErrHash and
// ErrEncoding.
//
// Transitional alias: removed once node and cmd name ident directly.
func ParseHash(s string) (ident.Hash, error) {
	h, err := ident.ParseHash(s)
	if err != nil {
		return ident.Hash{}, fmt.Errorf("%w: %w", ErrEncoding, err)
	}
	return h, nil
}
