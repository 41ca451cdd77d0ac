package consensus

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/ident"
)

const testChain = "test-chain"

// testVals is a deterministic validator set; ids are sorted (proposer order).
type testVals struct {
	ids  []ident.Account
	keys map[ident.Account]ed25519.PrivateKey
	pubs map[ident.Account]ed25519.PublicKey
}

func newTestVals(n int) testVals {
	tv := testVals{keys: map[ident.Account]ed25519.PrivateKey{}, pubs: map[ident.Account]ed25519.PublicKey{}}
	for i := range n {
		seed := sha256.Sum256(fmt.Appendf(nil, "validator %d", i))
		k := ed25519.NewKeyFromSeed(seed[:])
		id := ident.AccountOf(k.Public().(ed25519.PublicKey))
		tv.ids = append(tv.ids, id)
		tv.keys[id] = k
		tv.pubs[id] = k.Public().(ed25519.PublicKey)
	}
	slices.Sort(tv.ids)
	return tv
}

func testTimeouts() Timeouts {
	return Timeouts{Propose: 100 * time.Millisecond, ProposeDelta: 50 * time.Millisecond,
		Prevote: 50 * time.Millisecond, PrevoteDelta: 25 * time.Millisecond,
		Precommit: 50 * time.Millisecond, PrecommitDelta: 25 * time.Millisecond}
}

func (tv testVals) config(self ident.Account) Config {
	ids := slices.Clone(tv.ids)
	slices.Reverse(ids) // any order
	return Config{ChainID: testChain, Self: self, Validators: ids, Signer: Ed25519Signer{Key: tv.keys[self]}, Timeouts: testTimeouts()}
}

// signed returns m signed by from.
func (tv testVals) signed(m Message, from ident.Account) Message {
	m.From = from
	if m.Type != Proposal {
		m.ValidRound = -1
	}
	m.Sig = ed25519.Sign(tv.keys[from], m.SignBytes(testChain))
	return m
}

func valueID(v []byte) ident.Hash { return sha256.Sum256(v) }

func mustNew(t testing.TB, cfg Config, h uint64, st *State) *Engine {
	t.Helper()
	e, err := New(cfg, h, st)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// drain collects Ready until empty.
func drain(e *Engine) Ready {
	var all Ready
	for e.HasReady() {
		rd := e.Ready()
		if rd.State != nil {
			all.State = rd.State
		}
		all.Messages = append(all.Messages, rd.Messages...)
		all.Timers = append(all.Timers, rd.Timers...)
		if rd.Build != nil {
			all.Build = rd.Build
		}
		all.Validate = append(all.Validate, rd.Validate...)
		all.Decided = append(all.Decided, rd.Decided...)
		all.Evidence = append(all.Evidence, rd.Evidence...)
		e.Advance()
	}
	return all
}

func summary(ms []Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s h%d r%d %s", m.Type, m.Height, m.Round, m.ValueID.Short()))
	}
	return out
}

// newTestValsKey returns the key of id if it belongs to newTestVals(10).
func newTestValsKey(id ident.Account) ed25519.PrivateKey { return newTestVals(10).keys[id] }
