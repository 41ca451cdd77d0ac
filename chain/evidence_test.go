package chain

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"

	// Tests only: package chain itself does not import the engine; the node
	// installs this very adapter.
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
)

// consensusVerifier is the EvidenceVerifier the node installs.
func consensusVerifier(chainID string, a, b []byte) (Offence, error) {
	ev, err := consensus.CheckEvidence(chainID, a, b)
	if err != nil {
		return Offence{}, err
	}
	return Offence{Offender: ident.Account(ev.A.From), Height: ev.A.Height, Round: ev.A.Round, Type: uint8(ev.A.Type)}, nil
}

// cvote is k's consensus vote, encoded, for chain test-net.
func cvote(k key, typ consensus.MsgType, height uint64, round int32, value string) []byte {
	m := consensus.Message{Type: typ, Height: height, Round: round, ValidRound: -1, From: k.acct}
	if value != "" {
		m.ValueID = sha256.Sum256([]byte(value))
	}
	m.Sig = ed25519.Sign(k.priv, m.SignBytes("test-net"))
	return m.Encode()
}

func evidenceTx(reporter key, a, b []byte, nonce uint64) Tx {
	return sign(reporter, Tx{Kind: TxEvidence, Nonce: nonce, Evidence: &Evidence{A: a, B: b}})
}

func TestEvidence(t *testing.T) {
	dir := t.TempDir()
	g := testGenesis()
	c := openDir(t, dir, g)
	defer func() { c.Close() }()
	produce(t, c, g.OpenAt(0)) // block 1, decided by kAuth

	pv := consensus.Prevote
	ev := evidenceTx(kAlice, cvote(kAuth, pv, 1, 0, "x"), cvote(kAuth, pv, 1, 0, "y"), 0)
	if err := c.CheckTx(ev, g.OpenAt(0)+1000); !errors.Is(err, ErrNoVerifier) {
		t.Fatalf("evidence without a verifier: err = %v, want ErrNoVerifier", err)
	}
	c.SetEvidenceVerifier(consensusVerifier)
	blk, _ := produce(t, c, g.OpenAt(0)+1000, ev) // block 2
	want := []EvidenceRecord{{Offence: Offence{Offender: kAuth.acct, Height: 1, Round: 0, Type: uint8(pv)}, Reporter: kAlice.acct, Tx: ev.Hash(), Block: blk.Header.Height}}
	if got := c.Evidence(); !slices.Equal(got, want) {
		t.Fatalf("Evidence() = %+v, want %+v", got, want)
	}
	if got, _ := c.Authorities(3); !slices.Equal(got, []ident.Account{kAuth.acct}) {
		t.Errorf("evidence changed the authority set: %v", got)
	}

	forged := cvote(kAuth, pv, 2, 0, "y")
	forged = bytes.Clone(forged)
	forged[len(forged)-1] ^= 1
	cases := []struct {
		name string
		tx   Tx
		want error
	}{
		{"same offence again, reversed, other reporter", evidenceTx(kBob, cvote(kAuth, pv, 1, 0, "y"), cvote(kAuth, pv, 1, 0, "x"), 0), ErrOffenceRecorded},
		{"same offence, other pair", evidenceTx(kBob, cvote(kAuth, pv, 1, 0, "z"), cvote(kAuth, pv, 1, 0, ""), 0), ErrOffenceRecorded},
		{"other round", evidenceTx(kBob, cvote(kAuth, pv, 1, 1, "x"), cvote(kAuth, pv, 1, 1, ""), 0), nil},
		{"other type", evidenceTx(kBob, cvote(kAuth, consensus.Precommit, 1, 0, "x"), cvote(kAuth, consensus.Precommit, 1, 0, "y"), 0), nil},
		{"current height, reported by the authority", evidenceTx(kAuth, cvote(kAuth, pv, 3, 0, "x"), cvote(kAuth, pv, 3, 0, "y"), 0), nil},
		{"forged signature", evidenceTx(kBob, cvote(kAuth, pv, 2, 0, "x"), forged, 0), ErrEvidence},
		{"not conflicting", evidenceTx(kBob, cvote(kAuth, pv, 2, 0, "x"), cvote(kAuth, pv, 2, 0, "x"), 0), ErrEvidence},
		{"different rounds", evidenceTx(kBob, cvote(kAuth, pv, 2, 0, "x"), cvote(kAuth, pv, 2, 1, "y"), 0), ErrEvidence},
		{"signed for another chain", evidenceTx(kBob, cvote(kAuth, pv, 2, 0, "x"), otherChainVote(kAuth, 2), 0), ErrEvidence},
		{"offender not an authority", evidenceTx(kBob, cvote(kAlice, pv, 2, 0, "x"), cvote(kAlice, pv, 2, 0, "y"), 0), ErrOffenderNotAuthority},
		{"height 0", evidenceTx(kBob, cvote(kAuth, pv, 0, 0, "x"), cvote(kAuth, pv, 0, 0, "y"), 0), ErrEvidence},
		{"height beyond the next block", evidenceTx(kBob, cvote(kAuth, pv, 5, 0, "x"), cvote(kAuth, pv, 5, 0, "y"), 0), ErrEvidence},
		{"reporter not admitted", evidenceTx(kMallory, cvote(kAuth, pv, 2, 0, "x"), cvote(kAuth, pv, 2, 0, "y"), 0), ErrReporter},
		{"messages too large", evidenceTx(kBob, make([]byte, MaxEvidenceMsg+1), cvote(kAuth, pv, 2, 0, "y"), 0), ErrTxShape},
	}
	now := g.OpenAt(0) + 2000
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.CheckTx(tc.tx, now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("CheckTx: err = %v, want %v", err, tc.want)
			}
			_, errs := c.Propose(now, kAuth.acct, []Tx{tc.tx})
			if !errors.Is(errs[0], tc.want) || (tc.want == nil) != (errs[0] == nil) {
				t.Fatalf("Propose: err = %v, want %v", errs[0], tc.want)
			}
		})
	}

	// Two offences in one block: the second pair of the same offence is refused.
	r1 := evidenceTx(kBob, cvote(kAuth, pv, 2, 0, "x"), cvote(kAuth, pv, 2, 0, "y"), 0)
	r2 := evidenceTx(kAlice, cvote(kAuth, pv, 2, 0, "x"), cvote(kAuth, pv, 2, 0, "z"), 0)
	b, errs := c.Propose(now, kAuth.acct, []Tx{r1, r2})
	if errs[0] != nil || !errors.Is(errs[1], ErrOffenceRecorded) {
		t.Fatalf("two reports of one offence in a block: errs = %v, want [nil, ErrOffenceRecorded]", errs)
	}

	// A node without the verifier refuses the block.
	other := openMem(t, g)
	produce(t, other, g.OpenAt(0))
	if _, err := other.Commit(blk, []byte("cert")); !errors.Is(err, ErrBlock) {
		t.Errorf("block with evidence on a node without a verifier: err = %v, want ErrBlock", err)
	}
	other.SetEvidenceVerifier(consensusVerifier)
	if _, err := other.Commit(blk, []byte("cert")); err != nil {
		t.Errorf("block with evidence once the verifier is installed: %v", err)
	}

	if _, err := c.Commit(b, []byte("cert")); err != nil {
		t.Fatalf("Commit block 3: %v", err)
	}
	wantAll := c.Evidence()
	if len(wantAll) != 2 || wantAll[1].Height != 2 || wantAll[1].Reporter != kBob.acct {
		t.Fatalf("Evidence() after block 3 = %+v, want the height-1 and height-2 offences (reported by bob)", wantAll)
	}
	status := c.Status()
	c.Close()
	c = openDir(t, dir, g)
	if got := c.Status(); got != status {
		t.Fatalf("reopened status %+v, want %+v", got, status)
	}
	if got := c.Evidence(); !slices.Equal(got, wantAll) {
		t.Fatalf("reopened Evidence() = %+v, want %+v", got, wantAll)
	}
}

// TestEvidenceOffenderSet: an offence counts only at heights where the
// offender was an authority.
func TestEvidenceOffenderSet(t *testing.T) {
	g := testGenesis()
	c := openMem(t, g)
	c.SetEvidenceVerifier(consensusVerifier)
	a1 := kAuths[0]
	produce(t, c, g.OpenAt(0), voteTx(kAuth, true, a1, 0)) // 1: a1 joins from 3
	produce(t, c, g.OpenAt(0)+1000)                        // 2
	pv := consensus.Prevote
	now := g.OpenAt(0) + 2000
	if err := c.CheckTx(evidenceTx(kAlice, cvote(a1, pv, 2, 0, "x"), cvote(a1, pv, 2, 0, "y"), 0), now); !errors.Is(err, ErrOffenderNotAuthority) {
		t.Errorf("a1's offence at height 2, before it joined: err = %v, want ErrOffenderNotAuthority", err)
	}
	if err := c.CheckTx(evidenceTx(kAlice, cvote(a1, pv, 3, 0, "x"), cvote(a1, pv, 3, 0, "y"), 0), now); err != nil {
		t.Errorf("a1's offence at height 3: %v", err)
	}
}

func otherChainVote(k key, height uint64) []byte {
	m := consensus.Message{Type: consensus.Prevote, Height: height, ValidRound: -1, ValueID: sha256.Sum256([]byte("q")), From: k.acct}
	m.Sig = ed25519.Sign(k.priv, m.SignBytes("other-net"))
	return m.Encode()
}

// FuzzStateKeys: the evidence, vote and upgrade vote key parsers (which read the store)
// never panic, and accept only the keys their encoders write.
func FuzzStateKeys(f *testing.F) {
	f.Add(offenceKey(Offence{Offender: kAuth.acct, Height: 7, Round: 2, Type: 3})[2:])
	f.Add(voteKey{change: change{Add: true, Key: kAlice.acct}, Voter: kAuth.acct}.key()[2:])
	f.Add(voteKey{change: change{Key: kAlice.acct}, Voter: kAuth.acct}.key()[2:])
	f.Add("0000000000000001/" + string(kAuth.acct) + "/80000000/02")
	f.Add("a//")
	f.Add(upVoteKey{Name: UpgradeTariffSeqNext, Height: 9, Voter: kAuth.acct}.key()[2:])
	f.Add(relVoteKey{Keys: true, Voter: kAuth.acct}.key()[2:])
	f.Fuzz(func(t *testing.T, rest string) {
		if k, err := parseRelVoteKey(rest); err == nil {
			if got := k.key(); got != "q/"+rest {
				t.Fatalf("parseRelVoteKey(%q) = %+v, which encodes as %q", rest, k, got)
			}
		}
		if k, err := parseUpVoteKey(rest); err == nil {
			if got := k.key(); got != "w/"+rest {
				t.Fatalf("parseUpVoteKey(%q) = %+v, which encodes as %q", rest, k, got)
			}
		}
		if o, err := parseOffenceKey(rest); err == nil {
			if got := offenceKey(o); got != "e/"+rest {
				t.Fatalf("parseOffenceKey(%q) = %+v, which encodes as %q", rest, o, got)
			}
		}
		if vk, err := parseVoteKey(rest); err == nil {
			if got := vk.key(); got != "v/"+rest {
				t.Fatalf("parseVoteKey(%q) = %+v, which encodes as %q", rest, vk, got)
			}
		}
	})
}
