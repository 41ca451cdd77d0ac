package wire

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// The wire decoders take bytes from any peer: they must never panic, and what they
// accept must re-encode to the same bytes.
func FuzzDecodeCertified(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{KindBlock, 0, 0})
	f.Add(EncodeCertified([]byte("not a block"), EncodeMessages(nil)))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCertified(b)
		if err != nil {
			return
		}
		if got := EncodeCertified(c.Raw, c.Cert); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func FuzzDecodeMessages(f *testing.F) {
	f.Add(EncodeMessages(nil))
	f.Add([]byte{1, 3, 1, 2, 3})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		votes, err := DecodeMessages(b)
		if err != nil {
			return
		}
		if got := EncodeMessages(votes); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

// testCommit returns 4 authorities (sorted, as a height's set) and the
// precommits of 3 of them for a value at height 7, round 2.
func testCommit(t testing.TB) ([]ident.Account, map[ident.Account]ed25519.PublicKey, ident.Hash, []consensus.Message) {
	t.Helper()
	keys := map[ident.Account]ed25519.PrivateKey{}
	pubs := map[ident.Account]ed25519.PublicKey{}
	var set []ident.Account
	for i := range 4 {
		key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
		id := ident.AccountOf(key.Public().(ed25519.PublicKey))
		keys[id], pubs[id] = key, key.Public().(ed25519.PublicKey)
		set = append(set, id)
	}
	slices.Sort(set)
	value := ident.Hash{9, 9, 9}
	var votes []consensus.Message
	for _, id := range []ident.Account{set[3], set[0], set[2]} {
		m := consensus.Message{Type: consensus.Precommit, Height: 7, Round: 2, ValueID: value, ValidRound: -1, From: id}
		m.Sig = ed25519.Sign(keys[id], m.SignBytes("testnet"))
		votes = append(votes, m)
	}
	return set, pubs, value, votes
}

// A decision's certificate is stored compactly and decodes to precommits that
// verify; a list that cannot be compacted is kept whole.
func TestCommitEncoding(t *testing.T) {
	set, pubs, value, votes := testCommit(t)
	b := EncodeCommit(votes, set)
	if b[0] != commitCompact || len(b) > 3*66+45 {
		t.Errorf("certificate of 3 precommits: form %d, %d bytes; want compact, at most %d (the full form is %d)", b[0], len(b), 3*66+45, len(EncodeMessages(votes)))
	}
	got, err := DecodeCommit(b, set)
	if err != nil {
		t.Fatal(err)
	}
	if err := consensus.VerifyCommit("testnet", pubs, 7, value, got); err != nil {
		t.Errorf("decoded certificate does not verify: %v", err)
	}
	if !slices.EqualFunc(got, votes, func(a, b consensus.Message) bool { return bytes.Equal(a.Encode(), b.Encode()) }) {
		t.Errorf("decoded precommits differ from the encoded ones")
	}
	// Decoded against another set, the signers change and it no longer verifies.
	other := slices.Clone(set)
	other[0], other[3] = other[3], other[0]
	if wrong, err := DecodeCommit(b, other); err == nil && consensus.VerifyCommit("testnet", pubs, 7, value, wrong) == nil {
		t.Error("a certificate decoded against the wrong authority set verified")
	}

	mixed := append(slices.Clone(votes), consensus.Message{Type: consensus.Prevote, Height: 7, Round: 2, ValidRound: -1, From: set[1], Sig: make([]byte, 64)})
	full := EncodeCommit(mixed, set)
	if full[0] != commitFull {
		t.Errorf("a list with a prevote: form %d; want full (%d)", full[0], commitFull)
	}
	if got, err := DecodeCommit(full, set); err != nil || len(got) != len(mixed) {
		t.Errorf("full form: decoded %d messages, %v; want %d", len(got), err, len(mixed))
	}
}

func FuzzDecodeCommit(f *testing.F) {
	set, _, _, votes := testCommit(f)
	f.Add(EncodeCommit(votes, set))
	f.Add(EncodeCommit(nil, set))
	f.Add([]byte{commitCompact, 7, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeCommit(b, set)
		if err != nil {
			return
		}
		if again := EncodeCommit(got, set); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b)
		}
	})
}

func FuzzDecodeSyncResponse(f *testing.F) {
	f.Add(EncodeSyncResponse(0, false, 0, nil))
	f.Add(EncodeSyncResponse(7, true, 255, nil))
	f.Add(EncodeSyncResponse(9, false, 3, [][]byte{EncodeCertified([]byte("x"), nil)}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 4, 2, 1, KindBlock})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeSyncResponse(b)
		if err != nil {
			return
		}
		if a.Busy && len(a.Blocks) > 0 {
			t.Fatalf("a busy answer decoded with %d blocks", len(a.Blocks))
		}
		items := make([][]byte, len(a.Blocks))
		for i, c := range a.Blocks {
			items[i] = EncodeCertified(c.Raw, c.Cert)
		}
		if got := EncodeSyncResponse(a.Head, a.Busy, a.Depth, items); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func FuzzDecodeSyncRequest(f *testing.F) {
	f.Add(EncodeSyncRequest(1, 0))
	f.Add(EncodeSyncRequest(1<<40, SyncLastResort))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, flags, err := DecodeSyncRequest(b)
		if err != nil {
			return
		}
		if got := EncodeSyncRequest(h, flags); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func TestSyncRequest(t *testing.T) {
	for _, h := range []uint64{0, 1, 1 << 40} {
		for _, fl := range []byte{0, SyncLastResort} {
			got, gotFlags, err := DecodeSyncRequest(EncodeSyncRequest(h, fl))
			if err != nil || got != h || gotFlags != fl {
				t.Errorf("round trip of (%d, %d): got (%d, %d), %v", h, fl, got, gotFlags, err)
			}
		}
	}
	for _, bad := range [][]byte{{1, 2, 3}, EncodeSyncRequest(1, 0)[:8], append(EncodeSyncRequest(1, 0)[:8], 2)} {
		if _, _, err := DecodeSyncRequest(bad); err == nil {
			t.Errorf("sync request %x was accepted; want an error", bad)
		}
	}
}

// testProposal returns a signed proposal at height 7, round 1 (valid round
// 0) of a block holding txs orders, and the pool the orders are in.
func testProposal(t testing.TB, txs int) (consensus.Message, ed25519.PublicKey, *chain.Pool) {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	pub := key.Public().(ed25519.PublicKey)
	pool := chain.NewPool(100)
	blk := chain.Block{Header: chain.Header{ChainID: "testnet", Height: 7, Time: 1_700_000_000_000, Proposer: ident.AccountOf(pub)}, Txs: []chain.Tx{}}
	for i := range txs {
		tx := chain.Tx{ChainID: "testnet", Kind: chain.TxOrder, From: ident.AccountOf(pub), Nonce: uint64(i + 1),
			Order: &chain.Order{Side: market.Sell, Slot: 3, Energy: unit.Wh(100 + i), Price: 150_000}}
		tx.Sign(key)
		blk.Txs = append(blk.Txs, tx)
		if err := pool.Add(tx); err != nil {
			t.Fatal(err)
		}
	}
	blk.Header.TxRoot = chain.TxRoot(blk.Txs)
	m := consensus.Message{Type: consensus.Proposal, Height: 7, Round: 1, ValidRound: 0, Value: blk.Encode(),
		ValueID: ident.Hash(blk.Hash()), From: ident.AccountOf(pub)}
	m.Sig = ed25519.Sign(key, m.SignBytes("testnet"))
	return m, pub, pool
}

// On the vote stream a vote carries its signer's raw key and a proposal its
// transactions' hashes; the receiver rebuilds the same signed message from its
// pool, or says how many transactions it lacks.
func TestVoteFrame(t *testing.T) {
	_, _, _, votes := testCommit(t)
	pv := votes[0]
	pv.Type = consensus.Prevote
	prop, pub, pool := testProposal(t, 3)
	empty, _, _ := testProposal(t, 0)
	for _, m := range []consensus.Message{votes[0], pv, prop, empty} {
		b := EncodeVoteFrame(m)
		if b[0] != KindVoteFrame {
			t.Fatalf("%s frame starts with %d; want KindVoteFrame", m.Type, b[0])
		}
		got, missing, err := DecodeVoteFrame(b, pool.Get)
		if err != nil || missing != 0 {
			t.Fatalf("%s: decode: %d missing, %v", m.Type, missing, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s decoded as\n%+v\nwant\n%+v", m.Type, got, m)
		}
		if whole := len(EncodeVote(m)); m.Type != consensus.Proposal && len(b) > 140 || len(b) >= whole {
			t.Errorf("%s frame is %d bytes (KindVote %d); want fewer, and a vote at most 140", m.Type, len(b), whole)
		}
	}
	if err := prop.Verify("testnet", pub); err != nil {
		t.Fatalf("the test's proposal does not verify: %v", err)
	}
	b := EncodeVoteFrame(prop)
	if len(b) > len(prop.Value)/2 {
		t.Errorf("a proposal of 3 orders is %d bytes on the stream; want at most half its value's %d", len(b), len(prop.Value))
	}
	got, missing, err := DecodeVoteFrame(b, func(ident.Hash) (chain.Tx, bool) { return chain.Tx{}, false })
	if err != nil || missing != 3 || got.Value != nil {
		t.Errorf("decoded with an empty pool: %d missing, value of %d bytes, %v; want 3 missing, no value", missing, len(got.Value), err)
	}
	// A message the frame cannot carry (here an unsigned one) goes whole.
	unsigned := pv
	unsigned.Sig = nil
	if b := EncodeVoteFrame(unsigned); b[0] != KindVote {
		t.Errorf("an unsigned vote's frame starts with %d; want KindVote", b[0])
	}
}

func FuzzDecodeVoteFrame(f *testing.F) {
	_, _, _, votes := testCommit(f)
	prop, _, pool := testProposal(f, 2)
	f.Add(EncodeVoteFrame(votes[0]))
	f.Add(EncodeVoteFrame(prop))
	f.Add(EncodeVote(votes[1]))
	whole, _, _ := testProposal(f, 0)
	f.Add(EncodeVoteFrame(whole))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, missing, err := DecodeVoteFrame(b, pool.Get)
		if err != nil || missing > 0 {
			return
		}
		// What decodes is a message whose canonical encoding decodes to the
		// same message, and whose frame decodes to it again.
		again, err := consensus.DecodeMessage(m.Encode())
		if err != nil {
			return // structurally invalid: Verify refuses it
		}
		if !bytes.Equal(again.Encode(), m.Encode()) {
			t.Fatalf("decoded %+v; its encoding decodes to %+v", m, again)
		}
		// The frame may name m's transactions by hash: look them up in m.
		own := map[ident.Hash]chain.Tx{}
		if blk, err := chain.DecodeBlock(m.Value); err == nil {
			for _, tx := range blk.Txs {
				own[tx.Hash()] = tx
			}
		}
		lookup := func(h ident.Hash) (chain.Tx, bool) { tx, ok := own[h]; return tx, ok }
		back, missing, err := DecodeVoteFrame(EncodeVoteFrame(m), lookup)
		if err != nil || missing != 0 || !bytes.Equal(back.Encode(), m.Encode()) {
			t.Fatalf("decoded %+v; its frame decodes to %+v (%d missing, %v)", m, back, missing, err)
		}
	})
}

func FuzzDecodeHead(f *testing.F) {
	f.Add(EncodeHead(0))
	f.Add(EncodeHead(1 << 40))
	f.Add([]byte{0x80, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHead(b)
		if err != nil {
			return
		}
		if again := EncodeHead(h); !bytes.Equal(again, b) {
			t.Fatalf("head frame %x decodes to %d, which encodes as %x", b, h, again)
		}
	})
}

// FuzzDecodeHeadBlock: what decodes is at most MaxHeadBlockBytes and
// re-encodes to the same bytes.
func FuzzDecodeHeadBlock(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{KindBlock, 0, 0})
	f.Add(EncodeCertified(goldenBlock(2).Encode(), EncodeMessages(nil)))
	f.Add(EncodeCertified(make([]byte, MaxHeadBlockBytes), nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeHeadBlock(b)
		if err != nil {
			return
		}
		if len(b) > MaxHeadBlockBytes {
			t.Fatalf("a head/2 frame of %d bytes decoded; limit %d", len(b), MaxHeadBlockBytes)
		}
		if got := EncodeCertified(c.Raw, c.Cert); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func TestDecodeHeadBlockLimit(t *testing.T) {
	// A certified block within MaxBlockBytes but over the frame's limit.
	b := EncodeCertified(make([]byte, MaxHeadBlockBytes), nil)
	if _, err := DecodeHeadBlock(b); !errors.Is(err, ErrMalformed) {
		t.Errorf("a head/2 frame of %d bytes: got %v; want ErrMalformed (limit %d)", len(b), err, MaxHeadBlockBytes)
	}
	blk := goldenBlock(2)
	c, err := DecodeHeadBlock(EncodeCertified(blk.Encode(), []byte{1}))
	if err != nil || c.Block.Header.Height != blk.Header.Height || len(c.Cert) != 1 {
		t.Errorf("a golden block's head/2 frame: got height %d, cert %x, %v; want height %d, cert 01", c.Block.Header.Height, c.Cert, err, blk.Header.Height)
	}
}

func FuzzDecodeTxList(f *testing.F) {
	f.Add(EncodeTxList(nil))
	f.Add(EncodeTxList([][]byte{[]byte(`{"a":1}`), []byte("x")}))
	f.Add([]byte{0x80})
	f.Add([]byte{2, 1, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		raws, err := DecodeTxList(b)
		if err != nil {
			return
		}
		if got := EncodeTxList(raws); !bytes.Equal(got, b) {
			t.Fatalf("decode/encode changed the bytes: %x -> %x", b, got)
		}
	})
}

func FuzzDecodeTxBatch(f *testing.F) {
	f.Add(EncodeTxBatch([][]byte{[]byte("tx")}))
	f.Add([]byte{0})
	f.Add([]byte{1, 200, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		raws, err := DecodeTxBatch(b)
		if err != nil {
			return
		}
		if len(raws) == 0 || len(raws) > MaxBatchTxs {
			t.Fatalf("decoded %d txs; want 1..%d", len(raws), MaxBatchTxs)
		}
		if got := EncodeTxBatch(raws); !bytes.Equal(got, b) {
			t.Fatalf("decode/encode changed the bytes: %x -> %x", b, got)
		}
	})
}

// A block verifies against its certificate with chain and wire alone; a
// certificate for another block, another network or too few signers does
// not.
func TestVerifyCertified(t *testing.T) {
	set, keys := goldenSet()
	blk := goldenBlock(1)
	raw := blk.Encode()
	sign := func(signers []ident.Account, value ident.Hash) []byte {
		var votes []consensus.Message
		for _, id := range signers {
			m := consensus.Message{Type: consensus.Precommit, Height: blk.Header.Height, Round: 0, ValueID: value, ValidRound: -1, From: id}
			m.Sig = ed25519.Sign(keys[id], m.SignBytes("testnet"))
			votes = append(votes, m)
		}
		return EncodeCommit(votes, set)
	}
	id := ident.Hash(blk.Hash())
	for _, c := range []struct {
		name    string
		chainID string
		cert    []byte
		ok      bool
	}{
		{"three of four", "testnet", sign(set[:3], id), true},
		{"two of four", "testnet", sign(set[:2], id), false},
		{"another block", "testnet", sign(set[:3], ident.Hash{1}), false},
		{"another network", "othernet", sign(set[:3], id), false},
		{"garbage", "testnet", []byte{7}, false},
	} {
		err := VerifyCertified(c.chainID, set, Certified{Block: blk, Raw: raw, Cert: c.cert})
		if (err == nil) != c.ok {
			t.Errorf("%s: VerifyCertified = %v; want ok %v", c.name, err, c.ok)
		}
	}
}

func FuzzDecodeVotesRequest(f *testing.F) {
	f.Add(EncodeVotesRequest(300, 5))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, r, err := DecodeVotesRequest(b)
		if err != nil {
			return
		}
		if r < 0 {
			t.Fatalf("decoded round %d; want none negative", r)
		}
		if again := EncodeVotesRequest(h, r); !bytes.Equal(again, b) {
			t.Fatalf("votes request %x decodes to (%d, %d), which encodes as %x", b, h, r, again)
		}
	})
}

func FuzzDecodeVote(f *testing.F) {
	_, _, _, votes := testCommit(f)
	f.Add(EncodeVote(votes[0]))
	f.Add([]byte{KindVote})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeVote(b)
		if err != nil {
			return
		}
		if again := EncodeVote(m); !bytes.Equal(again, b) {
			t.Fatalf("vote %x decodes to %+v, which encodes as %x", b, m, again)
		}
	})
}
