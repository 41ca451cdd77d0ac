package consensus

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gridmesh/gridmesh/ident"
)

func sampleMessages(tv testVals) []Message {
	return []Message{
		tv.signed(Message{Type: Proposal, Height: 7, Round: 2, ValidRound: 1, ValueID: id("v"), Value: []byte("v")}, tv.ids[0]),
		tv.signed(Message{Type: Proposal, Height: 7, Round: 0, ValidRound: -1, ValueID: id("")}, tv.ids[0]),
		tv.signed(Message{Type: Prevote, Height: 1, Round: 0, ValueID: id("v")}, tv.ids[1]),
		tv.signed(Message{Type: Precommit, Height: 1 << 40, Round: MaxRound}, tv.ids[2]),
	}
}

func sampleState(tv testVals) State {
	pv := tv.signed(Message{Type: Prevote, Height: 5, Round: 1, ValueID: id("x")}, tv.ids[0])
	pc := tv.signed(Message{Type: Precommit, Height: 5, Round: 1, ValueID: id("x")}, tv.ids[0])
	return State{
		Height: 5, Round: 2, Step: StepPrevote,
		LockedRound: 1, LockedID: id("x"), LockedValue: []byte("x"),
		ValidRound: 1, ValidID: id("x"), ValidValue: []byte("x"),
		ValidPolka: []Message{pv, tv.signed(Message{Type: Prevote, Height: 5, Round: 1, ValueID: id("x")}, tv.ids[1]),
			tv.signed(Message{Type: Prevote, Height: 5, Round: 1, ValueID: id("x")}, tv.ids[2])},
		LastPrevote: &pv, LastPrecommit: &pc,
		Decision: &Decision{Height: 4, Round: 0, ValueID: id("w"), Value: []byte("w"),
			Commit: []Message{tv.signed(Message{Type: Precommit, Height: 4, ValueID: id("w")}, tv.ids[3])}},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	tv := newTestVals(4)
	for _, m := range sampleMessages(tv) {
		if m.Type == Proposal && m.ValueID.IsZero() {
			continue
		}
		got, err := DecodeMessage(m.Encode())
		if err != nil {
			t.Fatalf("%s: %v", m.Type, err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Fatalf("%s round trip (-want +got):\n%s", m.Type, diff)
		}
		if err := got.Verify(testChain, tv.pubs[m.From]); err != nil {
			t.Fatalf("%s: verify: %v", m.Type, err)
		}
		if err := got.Verify("other-chain", tv.pubs[m.From]); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%s on another chain: got %v, want ErrBadSignature", m.Type, err)
		}
	}
}

func TestDecodeMessageIsStrict(t *testing.T) {
	tv := newTestVals(4)
	good := sampleMessages(tv)[0].Encode()
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
		{"trailing", append(bytes.Clone(good), 0), ErrTrailing},
		{"version", append([]byte{2}, good[1:]...), ErrUnknownVersion},
		{"too large", make([]byte, MaxMessageSize+1), ErrTooLarge},
		{"proposal without id", sampleMessages(tv)[1].Encode(), ErrMalformed},
		{"bad type", func() []byte { b := bytes.Clone(good); b[1] = 9; return b }(), ErrMalformed},
		{"uppercase id", func() []byte {
			m := sampleMessages(tv)[2]
			m.From = ident.Account(bytes.ToUpper([]byte(m.From)))
			return m.Encode()
		}(), ErrMalformed},
		{"vote with value", func() []byte { m := sampleMessages(tv)[2]; m.Value = []byte("x"); return m.Encode() }(), ErrMalformed},
		{"valid round not below round", func() []byte { m := sampleMessages(tv)[0]; m.ValidRound = m.Round; return m.Encode() }(), ErrMalformed},
		{"negative round", func() []byte { m := sampleMessages(tv)[2]; m.Round = -1; return m.Encode() }(), ErrMalformed},
		{"short signature", func() []byte { m := sampleMessages(tv)[2]; m.Sig = m.Sig[:10]; return m.Encode() }(), ErrMalformed},
	} {
		if _, err := DecodeMessage(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	tv := newTestVals(4)
	for _, st := range []State{sampleState(tv), {Height: 1, LockedRound: -1, ValidRound: -1}} {
		got, err := DecodeState(st.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(st, got); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	}
}

func TestDecodeStateIsStrict(t *testing.T) {
	tv := newTestVals(4)
	good := sampleState(tv).Encode()
	bad := func(f func(*State)) []byte { s := sampleState(tv); f(&s); return s.Encode() }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"truncated", good[:len(good)-3], ErrMalformed},
		{"trailing", append(bytes.Clone(good), 1), ErrTrailing},
		{"too large", make([]byte, MaxStateSize+1), ErrTooLarge},
		{"step", bad(func(s *State) { s.Step = 9 }), ErrMalformed},
		{"locked round above round", bad(func(s *State) { s.LockedRound = 3 }), ErrMalformed},
		{"lock without id", bad(func(s *State) { s.LockedID = ident.Hash{} }), ErrMalformed},
		{"polka for another value", bad(func(s *State) { s.ValidPolka[0].ValueID = id("y") }), ErrMalformed},
		{"certificate of another height", bad(func(s *State) { s.Decision.Commit[0].Height = 9 }), ErrMalformed},
		{"last prevote of wrong type", bad(func(s *State) { s.LastProposal = s.LastPrevote }), ErrMalformed},
	} {
		if _, err := DecodeState(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestVerifyCommit(t *testing.T) {
	tv := newTestVals(4)
	pc := func(from int, h uint64, r int32, v string) Message {
		return tv.signed(Message{Type: Precommit, Height: h, Round: r, ValueID: id(v)}, tv.ids[from])
	}
	forged := pc(2, 3, 1, "v")
	forged.Sig = bytes.Clone(forged.Sig)
	forged.Sig[0] ^= 1
	outsider := newTestVals(6)
	var stranger Message
	for _, x := range outsider.ids {
		if _, ok := tv.pubs[x]; !ok {
			stranger = outsider.signed(Message{Type: Precommit, Height: 3, Round: 1, ValueID: id("v")}, x)
		}
	}
	for _, tc := range []struct {
		name   string
		commit []Message
		ok     bool
	}{
		{"3 of 4", []Message{pc(0, 3, 1, "v"), pc(1, 3, 1, "v"), pc(2, 3, 1, "v")}, true},
		{"4 of 4", []Message{pc(3, 3, 1, "v"), pc(0, 3, 1, "v"), pc(1, 3, 1, "v"), pc(2, 3, 1, "v")}, true},
		{"2 of 4", []Message{pc(0, 3, 1, "v"), pc(1, 3, 1, "v")}, false},
		{"duplicate signer", []Message{pc(0, 3, 1, "v"), pc(1, 3, 1, "v"), pc(1, 3, 1, "v")}, false},
		{"mixed rounds", []Message{pc(0, 3, 1, "v"), pc(1, 3, 1, "v"), pc(2, 3, 2, "v")}, false},
		{"other value", []Message{pc(0, 3, 1, "v"), pc(1, 3, 1, "v"), pc(2, 3, 1, "w")}, false},
		{"other height", []Message{pc(0, 3, 1, "v"), pc(1, 3, 1, "v"), pc(2, 4, 1, "v")}, false},
		{"forged signature", []Message{pc(0, 3, 1, "v"), pc(1, 3, 1, "v"), forged}, false},
		{"non-validator", []Message{pc(0, 3, 1, "v"), pc(1, 3, 1, "v"), stranger}, false},
		{"prevotes", []Message{tv.signed(Message{Type: Prevote, Height: 3, Round: 1, ValueID: id("v")}, tv.ids[0])}, false},
		{"empty", nil, false},
	} {
		err := VerifyCommit(testChain, tv.pubs, 3, id("v"), tc.commit)
		if (err == nil) != tc.ok {
			t.Errorf("%s: got %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadCommit) {
			t.Errorf("%s: got %v, want ErrBadCommit", tc.name, err)
		}
	}
	if err := VerifyCommit(testChain, tv.pubs, 3, ident.Hash{}, nil); err == nil {
		t.Errorf("nil value: got nil error")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	tv := newTestVals(4)
	for _, m := range sampleMessages(tv) {
		f.Add(m.Encode())
	}
	f.Add([]byte{})
	f.Add([]byte{1, 2, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		// Canonical: what decodes re-encodes to the same bytes, and decodes again.
		if enc := m.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, enc)
		}
		if err := m.check(); err != nil {
			t.Fatalf("decoded message fails check: %v", err)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	tv := newTestVals(4)
	f.Add(sampleState(tv).Encode())
	f.Add(State{Height: 1, LockedRound: -1, ValidRound: -1}.Encode())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeState(b)
		if err != nil {
			return
		}
		if enc := s.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, enc)
		}
		// Whatever decodes can restore an engine without panicking.
		tv := newTestVals(4)
		if e, err := New(tv.config(tv.ids[0]), s.Height, &s); err == nil {
			_ = e.Step(Timeout{Kind: TimeoutPropose, Height: s.Height, Round: s.Round})
			drain(e)
		}
	})
}
