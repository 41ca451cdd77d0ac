package consensus

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
)

func TestCheckEvidence(t *testing.T) {
	tv := newTestVals(2)
	x, y := tv.ids[0], tv.ids[1]
	vA, vB := valueID([]byte("block a")), valueID([]byte("block b"))
	vote := func(typ MsgType, h uint64, r int32, v ident.Hash, from ident.Account) Message {
		return tv.signed(Message{Type: typ, Height: h, Round: r, ValueID: v}, from)
	}
	base := vote(Prevote, 5, 1, vA, x)
	forged := vote(Prevote, 5, 1, vB, x)
	forged.Sig = bytes.Clone(forged.Sig)
	forged.Sig[0] ^= 1
	wrongChain := Message{Type: Prevote, Height: 5, Round: 1, ValueID: vB, ValidRound: -1, From: x}
	wrongChain.Sig = ed25519.Sign(tv.keys[x], wrongChain.SignBytes("other-chain"))
	otherKey := vote(Prevote, 5, 1, vB, y)
	otherKey.From = x // signed by y, claims x
	proposal := func(v ident.Hash) Message {
		return tv.signed(Message{Type: Proposal, Height: 5, Round: 1, ValueID: v, ValidRound: -1, Value: []byte("v")}, x)
	}

	cases := []struct {
		name string
		a, b []byte
		ok   bool
	}{
		{"conflicting prevotes", base.Encode(), vote(Prevote, 5, 1, vB, x).Encode(), true},
		{"prevote nil and prevote value", base.Encode(), vote(Prevote, 5, 1, ident.Hash{}, x).Encode(), true},
		{"conflicting precommits", vote(Precommit, 9, 0, vA, x).Encode(), vote(Precommit, 9, 0, vB, x).Encode(), true},
		{"same message twice", base.Encode(), base.Encode(), false},
		{"different senders", base.Encode(), vote(Prevote, 5, 1, vB, y).Encode(), false},
		{"different types", base.Encode(), vote(Precommit, 5, 1, vB, x).Encode(), false},
		{"different heights", base.Encode(), vote(Prevote, 6, 1, vB, x).Encode(), false},
		{"different rounds", base.Encode(), vote(Prevote, 5, 2, vB, x).Encode(), false},
		{"forged signature", base.Encode(), forged.Encode(), false},
		{"signed for another chain", base.Encode(), wrongChain.Encode(), false},
		{"signed by another key", base.Encode(), otherKey.Encode(), false},
		{"proposals", proposal(vA).Encode(), proposal(vB).Encode(), false},
		{"garbage", []byte("nope"), base.Encode(), false},
		{"trailing byte", base.Encode(), append(vote(Prevote, 5, 1, vB, x).Encode(), 0), false},
		{"empty", nil, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := CheckEvidence(testChain, tc.a, tc.b)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckEvidence: err = %v, want ok = %v", err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrNotEvidence) {
					t.Fatalf("error %v does not match ErrNotEvidence", err)
				}
				return
			}
			if ev.A.From != x || ev.A.Height != ev.B.Height || ev.A.Round != ev.B.Round {
				t.Fatalf("offence from %s at %d/%d (B at %d/%d), want from %s", ev.A.From, ev.A.Height, ev.A.Round, ev.B.Height, ev.B.Round, x)
			}
			rev, err := CheckEvidence(testChain, tc.b, tc.a)
			if err != nil {
				t.Fatalf("reversed pair refused: %v", err)
			}
			if rev.A.From != ev.A.From || rev.A.Height != ev.A.Height || rev.A.Round != ev.A.Round || rev.A.Type != ev.A.Type {
				t.Fatalf("reversed pair names %s %d/%d %s, want %s %d/%d %s", rev.A.From, rev.A.Height, rev.A.Round, rev.A.Type, ev.A.From, ev.A.Height, ev.A.Round, ev.A.Type)
			}
		})
	}
}

// FuzzCheckEvidence: CheckEvidence never panics, and whatever it accepts
// satisfies its contract, checked here independently.
func FuzzCheckEvidence(f *testing.F) {
	tv := newTestVals(2)
	x, y := tv.ids[0], tv.ids[1]
	a := tv.signed(Message{Type: Prevote, Height: 3, Round: 0, ValueID: valueID([]byte("a"))}, x)
	b := tv.signed(Message{Type: Prevote, Height: 3, Round: 0, ValueID: valueID([]byte("b"))}, x)
	c := tv.signed(Message{Type: Precommit, Height: 3, Round: 0}, y)
	d := tv.signed(Message{Type: Precommit, Height: 3, Round: 0, ValueID: valueID([]byte("b"))}, y)
	p := tv.signed(Message{Type: Proposal, Height: 3, Round: 0, ValueID: valueID([]byte("a")), ValidRound: -1, Value: []byte("a")}, x)
	f.Add(a.Encode(), b.Encode())
	f.Add(c.Encode(), d.Encode())
	f.Add(a.Encode(), a.Encode())
	f.Add(a.Encode(), d.Encode())
	f.Add(p.Encode(), b.Encode())
	f.Add([]byte{}, []byte{1})
	f.Fuzz(func(t *testing.T, ea, eb []byte) {
		ev, err := CheckEvidence(testChain, ea, eb)
		if err != nil {
			if !errors.Is(err, ErrNotEvidence) {
				t.Fatalf("error %v does not match ErrNotEvidence", err)
			}
			return
		}
		ma, errA := DecodeMessage(ea)
		mb, errB := DecodeMessage(eb)
		if errA != nil || errB != nil {
			t.Fatalf("accepted a pair that does not decode: %v, %v", errA, errB)
		}
		if ma.Type == Proposal || ma.Type != mb.Type || ma.From != mb.From || ma.Height != mb.Height || ma.Round != mb.Round || ma.ValueID == mb.ValueID {
			t.Fatalf("accepted a non-conflicting pair: %+v / %+v", ma, mb)
		}
		pub, err := ma.From.PublicKey()
		if err != nil || !ed25519.Verify(pub, ma.SignBytes(testChain), ma.Sig) || !ed25519.Verify(pub, mb.SignBytes(testChain), mb.Sig) {
			t.Fatalf("accepted a pair with a bad signature (key err %v)", err)
		}
		if ev.A.From != ma.From || ev.A.Height != ma.Height || ev.A.Round != ma.Round || ev.A.Type != ma.Type {
			t.Fatalf("returned offence %s %d/%d %s, messages say %s %d/%d %s", ev.A.From, ev.A.Height, ev.A.Round, ev.A.Type, ma.From, ma.Height, ma.Round, ma.Type)
		}
	})
}
