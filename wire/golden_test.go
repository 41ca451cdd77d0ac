package wire

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// The inputs of the golden bytes (testdata/golden.txt). They were written by
// the encoders of package node before these formats moved here; a change
// to any of them breaks interoperation with nodes of the previous release.
// The block and transaction bytes inside them are chain's canonical
// encoding: if that changes (with its own migration), regenerate only those
// rows.

// goldenKey is the ed25519 key derived from seed i (deterministic signatures).
func goldenKey(i byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{i}, 32))
}

// goldenSet is 4 authorities, sorted as a height's set.
func goldenSet() ([]ident.Account, map[ident.Account]ed25519.PrivateKey) {
	keys := map[ident.Account]ed25519.PrivateKey{}
	var set []ident.Account
	for i := range 4 {
		k := goldenKey(byte(i + 1))
		id := ident.AccountOf(k.Public().(ed25519.PublicKey))
		keys[id] = k
		set = append(set, id)
	}
	slices.Sort(set)
	return set, keys
}

func goldenBlock(txs int) chain.Block {
	key := goldenKey(7)
	pub := key.Public().(ed25519.PublicKey)
	blk := chain.Block{Header: chain.Header{ChainID: "testnet", Height: 7, Time: 1_700_000_000_000, Proposer: ident.AccountOf(pub),
		Parent: ident.Hash{1, 2, 3}, StateHash: ident.Hash{4, 5, 6}}, Txs: []chain.Tx{}}
	for i := range txs {
		tx := chain.Tx{ChainID: "testnet", Kind: chain.TxOrder, From: ident.AccountOf(pub), Nonce: uint64(i + 1),
			Order: &chain.Order{Side: market.Sell, Slot: 3, Energy: unit.Wh(100 + i), Price: 150_000}}
		tx.Sign(key)
		blk.Txs = append(blk.Txs, tx)
	}
	blk.Header.TxRoot = chain.TxRoot(blk.Txs)
	return blk
}

func goldenProposal(txs int) consensus.Message {
	key := goldenKey(7)
	blk := goldenBlock(txs)
	m := consensus.Message{Type: consensus.Proposal, Height: 7, Round: 1, ValidRound: 0, Value: blk.Encode(),
		ValueID: ident.Hash(blk.Hash()), From: ident.AccountOf(key.Public().(ed25519.PublicKey))}
	m.Sig = ed25519.Sign(key, m.SignBytes("testnet"))
	return m
}

func goldenPrecommits() []consensus.Message {
	set, keys := goldenSet()
	var votes []consensus.Message
	for _, id := range []ident.Account{set[3], set[0], set[2]} {
		m := consensus.Message{Type: consensus.Precommit, Height: 7, Round: 2, ValueID: ident.Hash{9, 9, 9}, ValidRound: -1, From: id}
		m.Sig = ed25519.Sign(keys[id], m.SignBytes("testnet"))
		votes = append(votes, m)
	}
	return votes
}

func goldenPrevote() consensus.Message {
	set, keys := goldenSet()
	m := consensus.Message{Type: consensus.Prevote, Height: 300, Round: 5, ValueID: ident.Hash{8}, ValidRound: -1, From: set[1]}
	m.Sig = ed25519.Sign(keys[set[1]], m.SignBytes("testnet"))
	return m
}

func goldenRows() []struct {
	name string
	b    []byte
} {
	set, _ := goldenSet()
	votes := goldenPrecommits()
	pv := goldenPrevote()
	blk := goldenBlock(2)
	cert := EncodeCommit(votes, set)
	mixed := append(slices.Clone(votes), pv)
	unsigned := pv
	unsigned.Sig = nil
	return []struct {
		name string
		b    []byte
	}{
		{"vote", EncodeVote(pv)},
		{"commit-compact", cert},
		{"commit-full", EncodeCommit(mixed, set)},
		{"messages", EncodeMessages(votes)},
		{"messages-empty", EncodeMessages(nil)},
		{"certified", EncodeCertified(blk.Encode(), cert)},
		{"sync-request", EncodeSyncRequest(300, 0)},
		{"sync-request-last-resort", EncodeSyncRequest(1<<40, SyncLastResort)},
		{"sync-response-busy", EncodeSyncResponse(12, true, 3, nil)},
		{"sync-response", EncodeSyncResponse(12, false, 0, [][]byte{EncodeCertified(blk.Encode(), cert), EncodeCertified(goldenBlock(0).Encode(), cert)})},
		{"vote-frame-precommit", EncodeVoteFrame(votes[0])},
		{"vote-frame-prevote", EncodeVoteFrame(pv)},
		{"vote-frame-proposal", EncodeVoteFrame(goldenProposal(3))},
		{"vote-frame-proposal-empty", EncodeVoteFrame(goldenProposal(0))},
		{"vote-frame-unsigned", EncodeVoteFrame(unsigned)},
		{"votes-request", EncodeVotesRequest(300, 5)},
		{"head", EncodeHead(1 << 20)},
		{"head-block", EncodeCertified(blk.Encode(), cert)},
		{"tx-batch", EncodeTxBatch([][]byte{blk.Txs[0].Encode(), blk.Txs[1].Encode()})},
		{"book", EncodeTxList([][]byte{blk.Txs[1].Encode()})},
		{"book-empty", EncodeTxList(nil)},
	}
}

func readGolden(t *testing.T) map[string][]byte {
	t.Helper()
	f, err := os.Open("testdata/golden.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, hx, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("golden line %q: want NAME HEX", sc.Text())
		}
		b, err := hex.DecodeString(hx)
		if err != nil {
			t.Fatalf("golden %s: %v", name, err)
		}
		out[name] = b
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Every format encodes the golden inputs to exactly the bytes of the
// previous release, and its decoder takes those bytes back.
func TestGolden(t *testing.T) {
	golden := readGolden(t)
	rows := goldenRows()
	if len(rows) != len(golden) {
		t.Errorf("%d golden rows in testdata, %d in the test", len(golden), len(rows))
	}
	for _, r := range rows {
		want, ok := golden[r.name]
		if !ok {
			t.Errorf("%s: no golden bytes", r.name)
			continue
		}
		if !bytes.Equal(r.b, want) {
			t.Errorf("%s: encoding changed:\n got %x\nwant %x", r.name, r.b, want)
		}
	}
	set, _ := goldenSet()
	pool := chain.NewPool(10)
	if blk, err := chain.DecodeBlock(goldenProposal(3).Value); err == nil {
		for _, tx := range blk.Txs {
			_ = pool.Add(tx)
		}
	}
	decoders := map[string]func([]byte) error{
		"vote":           func(b []byte) error { _, err := DecodeVote(b); return err },
		"commit-compact": func(b []byte) error { _, err := DecodeCommit(b, set); return err },
		"commit-full":    func(b []byte) error { _, err := DecodeCommit(b, set); return err },
		"messages":       func(b []byte) error { _, err := DecodeMessages(b); return err },
		"messages-empty": func(b []byte) error { _, err := DecodeMessages(b); return err },
		"certified":      func(b []byte) error { _, err := DecodeCertified(b); return err },
		"sync-request":   func(b []byte) error { _, _, err := DecodeSyncRequest(b); return err },
		"sync-request-last-resort": func(b []byte) error {
			_, _, err := DecodeSyncRequest(b)
			return err
		},
		"sync-response-busy":        func(b []byte) error { _, err := DecodeSyncResponse(b); return err },
		"sync-response":             func(b []byte) error { _, err := DecodeSyncResponse(b); return err },
		"vote-frame-precommit":      func(b []byte) error { _, _, err := DecodeVoteFrame(b, pool.Get); return err },
		"vote-frame-prevote":        func(b []byte) error { _, _, err := DecodeVoteFrame(b, pool.Get); return err },
		"vote-frame-proposal":       func(b []byte) error { _, _, err := DecodeVoteFrame(b, pool.Get); return err },
		"vote-frame-proposal-empty": func(b []byte) error { _, _, err := DecodeVoteFrame(b, pool.Get); return err },
		// An unsigned message goes as KindVote, which no decoder takes.
		"vote-frame-unsigned": func(b []byte) error {
			if _, _, err := DecodeVoteFrame(b, pool.Get); b[0] != KindVote || err == nil {
				return fmt.Errorf("kind %d, decoded with %v; want KindVote refused", b[0], err)
			}
			return nil
		},
		"votes-request": func(b []byte) error { _, _, err := DecodeVotesRequest(b); return err },
		"head":          func(b []byte) error { _, err := DecodeHead(b); return err },
		"head-block":    func(b []byte) error { _, err := DecodeHeadBlock(b); return err },
		"tx-batch":      func(b []byte) error { _, err := DecodeTxBatch(b); return err },
		"book":          func(b []byte) error { _, err := DecodeTxList(b); return err },
		"book-empty":    func(b []byte) error { _, err := DecodeTxList(b); return err },
	}
	for name, b := range golden {
		dec, ok := decoders[name]
		if !ok {
			t.Errorf("%s: no decoder in the test", name)
			continue
		}
		if err := dec(b); err != nil {
			t.Errorf("%s: golden bytes do not decode: %v", name, err)
		}
	}
}

// previousRelease is every protocol id and topic name of the previous
// release (internal/upgradetest's previous, commit 497ddbb), below the
// network's prefix.
var previousRelease = []string{"sync/2", "vote/2", "votes/1", "head/1", "txs/1", "book/1"}

// TestPreviousReleaseServed: this release serves every protocol id of the
// previous one, so the two interoperate during a rolling upgrade; an id
// replaced by a new version must stay in Served until the release after.
func TestPreviousReleaseServed(t *testing.T) {
	for _, id := range previousRelease {
		if !slices.Contains(Served, id) {
			t.Errorf("the previous release speaks %s; this one does not serve it (Served = %v): keep its handler until the next release", id, Served)
		}
	}
	for _, id := range Served {
		name, v, ok := strings.Cut(id, "/")
		if !ok || name == "" || v == "" || strings.Trim(v, "0123456789") != "" {
			t.Errorf("protocol id %q: want name/version", id)
		}
	}
}
