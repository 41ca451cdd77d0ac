// Package ident holds the two names every layer of gridmesh shares: Account, the
// ed25519 identity of a node (its chain account and its consensus validator id),
// and Hash, a SHA-256 digest (a block, transaction or value id).
//
// It is a leaf: it imports nothing of gridmesh (standard library only), so the
// pure consensus engine, the chain and the node can all name the same types.
//
// Text forms are fixed, because they are part of the chain's encodings and of
// the state hash: an Account is the 64 lowercase hex characters of the 32-byte
// public key; a Hash is 64 lowercase hex characters. Account.Check and
// ParseHash accept only those forms (no upper case, no prefix), so each value
// has one spelling. Hash.UnmarshalText, which encoding/json calls, also accepts
// upper-case hex; the chain's decoders re-encode what they read and refuse
// anything that is not the canonical form. Hash.Short is for logs and traces.
package ident
