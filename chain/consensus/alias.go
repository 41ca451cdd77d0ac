package consensus

import (
	"crypto/ed25519"

	"github.com/gridmesh/gridmesh/ident"
)

// ID is a validator identity: ident.Account.
//
// Transitional alias: removed once node and cmd name ident directly.
type ID = ident.Account

// Hash names a value (the application's id(v)): ident.Hash. The zero Hash is
// nil (a nil vote); Hash.Short prints "nil" for it.
//
// Transitional alias: removed once node and cmd name ident directly.
type Hash = ident.Hash

// IDOf is ident.AccountOf.
//
// Transitional alias: removed once node and cmd name ident directly.
func IDOf(pub ed25519.PublicKey) ident.Account { return ident.AccountOf(pub) }
