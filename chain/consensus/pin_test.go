package consensus

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
)

// TestPinnedEncodings pins the binary encoding of a signed precommit and a
// signed proposal. The constants were taken from the code before issue 18
// moved validator ids and value ids to package ident: the bytes (and the
// signatures over them) must not change.
func TestPinnedEncodings(t *testing.T) {
	seed := sha256.Sum256([]byte("pinned validator"))
	k := ed25519.NewKeyFromSeed(seed[:])
	from := ident.AccountOf(k.Public().(ed25519.PublicKey))
	id := ident.Hash(sha256.Sum256([]byte("value")))
	vote := Message{Type: Precommit, Height: 42, Round: 3, ValueID: id, ValidRound: -1, From: from}
	vote.Sig = ed25519.Sign(k, vote.SignBytes("gridmesh-pin"))
	prop := Message{Type: Proposal, Height: 42, Round: 3, ValueID: id, ValidRound: 1, Value: []byte("value"), From: from}
	prop.Sig = ed25519.Sign(k, prop.SignBytes("gridmesh-pin"))
	for _, tc := range []struct {
		m    Message
		want string
	}{
		{vote, "45bc87299dd9cf6244aac32b25bb31a90ea3525e6a80bf113151ad550d001fb1 184"},
		{prop, "116f63f8d1e34a3bc81894a2cce1429b29909c9e4718b5ab5f9eab77c03bcbfd 189"},
	} {
		b := tc.m.Encode()
		if got := fmt.Sprintf("%x %d", sha256.Sum256(b), len(b)); got != tc.want {
			t.Errorf("%s: SHA-256 and length of the encoding %s, want %s", tc.m.Type, got, tc.want)
		}
		back, err := DecodeMessage(b)
		if err != nil || back.From != from || back.ValueID != id {
			t.Errorf("%s: decode: %v (from %s, value %s)", tc.m.Type, err, back.From, back.ValueID.Short())
		}
	}
}
