package chain

import (
	"crypto/ed25519"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/gridmesh/gridmesh/ident"
)

// A tx's signature is ed25519 as Go's crypto/ed25519 defines it (RFC 8032,
// cofactorless, S canonical, A decoded leniently): that is the consensus
// rule, and every block since genesis was checked with it. The chain
// computes it with curve25519-voi, with its preset for exactly those rules
// (VerifyOptionsStdLib), because checking a tx's signature is most of what
// a node spends on a tx: 94.7 µs with crypto/ed25519 on the reference
// machine, 39.7 µs with voi and the signer's key expanded once (voi's
// ExpandedPublicKey, about 1.5 KiB; a home signs every slot). Signing is
// deterministic, so voi's signatures are crypto/ed25519's, byte for byte
// (21.4 µs against 38.5). Both claims are tested on edge-case vectors and
// fuzzed against crypto/ed25519 (sig_test.go); figures from `go test -run
// '^$' -bench 'BenchmarkSig$' ./chain` (chain/DECISIONS.md).
var sigOptions = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// maxExpandedKeys bounds the expanded keys kept (about 1.5 KiB each): more
// than any microgrid's participants and authorities. When full, the cache
// starts again empty.
const maxExpandedKeys = 4096

var expandedKeys struct {
	sync.Mutex
	m map[ident.Account]*voi.ExpandedPublicKey
}

// expandedKey is from's public key expanded for verification, or nil if it
// is not a point (no signature by it is valid).
func expandedKey(from ident.Account) *voi.ExpandedPublicKey {
	expandedKeys.Lock()
	k, ok := expandedKeys.m[from]
	expandedKeys.Unlock()
	if ok {
		return k
	}
	pub, err := from.PublicKey()
	if err != nil {
		return nil
	}
	if k, err = voi.NewExpandedPublicKey(voi.PublicKey(pub)); err != nil {
		return nil
	}
	expandedKeys.Lock()
	if expandedKeys.m == nil || len(expandedKeys.m) >= maxExpandedKeys {
		expandedKeys.m = make(map[ident.Account]*voi.ExpandedPublicKey)
	}
	expandedKeys.m[from] = k
	expandedKeys.Unlock()
	return k
}

// verifySig reports whether sig is from's signature of msg by crypto/ed25519's rules.
func verifySig(from ident.Account, msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	k := expandedKey(from)
	return k != nil && voi.VerifyExpandedWithOptions(k, msg, sig, sigOptions)
}

// signEd25519 is ed25519.Sign(priv, msg).
func signEd25519(priv ed25519.PrivateKey, msg []byte) []byte {
	return voi.Sign(voi.PrivateKey(priv), msg)
}
