package node

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
)

// Payloads are told apart by their first byte:
//
//	kindVote  (1): one signed consensus.Message (proposal, prevote or precommit),
//	               the only payload of the consensus topic;
//	kindBlock (2): a decided block with its commit certificate, as a sync
//	               answer carries it.
//
// A certified block is encoded as
//
//	kind | uvarint len(block) | block | uvarint len(cert) | cert
//
// and a certificate as a count followed by length-prefixed consensus messages.
// Every length is bounded and no trailing byte is accepted.
const (
	kindVote  byte = 1
	kindBlock byte = 2

	maxBlockBytes = 4 << 20
	maxCertBytes  = 1 << 20
	maxCertVotes  = 1024
	maxVoteBytes  = 64 << 10
	maxSyncBlocks = 64
)

var errWire = errors.New("node: malformed payload")

// certified is a decided block and its commit certificate.
type certified struct {
	Block chain.Block
	Raw   []byte // the block's encoding
	Cert  []byte // encodeCommit of the precommits
}

func encodeVote(m consensus.Message) []byte {
	b := m.Encode()
	out := make([]byte, 0, 1+len(b))
	out = append(out, kindVote)
	return append(out, b...)
}

func encodeCertified(rawBlock, cert []byte) []byte {
	out := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(rawBlock)+len(cert))
	out = append(out, kindBlock)
	out = binary.AppendUvarint(out, uint64(len(rawBlock)))
	out = append(out, rawBlock...)
	out = binary.AppendUvarint(out, uint64(len(cert)))
	return append(out, cert...)
}

// decodeCertifiedBody decodes what follows kindBlock.
func decodeCertifiedBody(b []byte) (certified, error) {
	raw, rest, err := readChunk(b, maxBlockBytes)
	if err != nil {
		return certified{}, fmt.Errorf("block: %w", err)
	}
	cert, rest, err := readChunk(rest, maxCertBytes)
	if err != nil {
		return certified{}, fmt.Errorf("certificate: %w", err)
	}
	if len(rest) != 0 {
		return certified{}, fmt.Errorf("%w: %d trailing bytes", errWire, len(rest))
	}
	blk, err := chain.DecodeBlock(raw)
	if err != nil {
		return certified{}, err
	}
	return certified{Block: blk, Raw: raw, Cert: cert}, nil
}

func readChunk(b []byte, max int) (chunk, rest []byte, err error) {
	n, k := uvarint(b)
	if k <= 0 {
		return nil, nil, fmt.Errorf("%w: bad length", errWire)
	}
	if n > uint64(max) || n > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("%w: length %d out of bounds", errWire, n)
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

// encodeChunks writes a count followed by length-prefixed items: the layout of
// a certificate, a sync response, a tx batch and a book.
func encodeChunks(items [][]byte) []byte {
	size := binary.MaxVarintLen64
	for _, it := range items {
		size += binary.MaxVarintLen64 + len(it)
	}
	out := binary.AppendUvarint(make([]byte, 0, size), uint64(len(items)))
	for _, it := range items {
		out = binary.AppendUvarint(out, uint64(len(it)))
		out = append(out, it...)
	}
	return out
}

// uvarint is binary.Uvarint accepting only the shortest encoding of a value,
// so that every accepted encoding re-encodes to the same bytes (k <= 0 on
// error).
func uvarint(b []byte) (uint64, int) {
	v, k := binary.Uvarint(b)
	if k > 0 && k != len(binary.AppendUvarint(nil, v)) {
		return 0, -1
	}
	return v, k
}

// nextUvarint reads a uvarint of at most max (shortest form) from the front of
// *b and advances *b past it.
func nextUvarint(b *[]byte, max uint64) (uint64, bool) {
	v, k := uvarint(*b)
	if k <= 0 || v > max {
		return 0, false
	}
	*b = (*b)[k:]
	return v, true
}

// splitChunks reads what encodeChunks writes, with minCount..maxCount items of
// at most maxItem bytes each and nothing after them. The items alias b.
func splitChunks(b []byte, minCount, maxCount, maxItem int) ([][]byte, error) {
	n, k := uvarint(b)
	if k <= 0 || n < uint64(minCount) || n > uint64(maxCount) {
		return nil, fmt.Errorf("%w: bad count", errWire)
	}
	b = b[k:]
	out := make([][]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		var chunk []byte
		var err error
		if chunk, b, err = readChunk(b, maxItem); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out = append(out, chunk)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errWire, len(b))
	}
	return out, nil
}

// A commit certificate (the precommits that decided a block, stored with it
// and sent with it by sync) is encoded compactly when, as always for a
// decision, its precommits share height, round and value and come from
// authorities of the height's set: the shared fields once, then each signer as
// its index in the set (in the chain's order) and its signature.
//
//	1 | uvarint height | uvarint round | value id (32) | uvarint count | count × (uvarint index | sig (64))
//
// Any other list is kept whole: 0 | encodeCert. Four precommits take about
// 300 bytes instead of 740 (a block header and its certificate are most of
// what a home downloads at 1,000 homes' load).
const (
	commitFull    byte = 0
	commitCompact byte = 1
)

func encodeCommit(votes []consensus.Message, set []consensus.ID) []byte {
	if b, ok := compactCommit(votes, set); ok {
		return b
	}
	return append([]byte{commitFull}, encodeCert(votes)...)
}

func compactCommit(votes []consensus.Message, set []consensus.ID) ([]byte, bool) {
	if len(votes) == 0 {
		return nil, false
	}
	v0 := votes[0]
	b := append([]byte{commitCompact}, binary.AppendUvarint(nil, v0.Height)...)
	b = binary.AppendUvarint(b, uint64(v0.Round))
	b = append(b, v0.ValueID[:]...)
	b = binary.AppendUvarint(b, uint64(len(votes)))
	for _, m := range votes {
		i := slices.Index(set, m.From)
		if i < 0 || m.Type != consensus.Precommit || m.Height != v0.Height || m.Round != v0.Round || m.Round < 0 ||
			m.ValueID != v0.ValueID || m.ValidRound != -1 || len(m.Value) != 0 || len(m.Sig) != ed25519.SignatureSize {
			return nil, false
		}
		b = binary.AppendUvarint(b, uint64(i))
		b = append(b, m.Sig...)
	}
	return b, true
}

// decodeCommit decodes encodeCommit's output; set is the authority set of the
// certificate's height, which gives the compact form's signers.
func decodeCommit(b []byte, set []consensus.ID) ([]consensus.Message, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty certificate", errWire)
	}
	if b[0] == commitFull {
		return decodeCert(b[1:])
	}
	if b[0] != commitCompact {
		return nil, fmt.Errorf("%w: certificate form %d", errWire, b[0])
	}
	b = b[1:]
	h, ok1 := nextUvarint(&b, math.MaxUint64)
	r, ok2 := nextUvarint(&b, consensus.MaxRound)
	if !ok1 || !ok2 || len(b) < len(consensus.Hash{}) {
		return nil, fmt.Errorf("%w: certificate header", errWire)
	}
	var id consensus.Hash
	b = b[copy(id[:], b):]
	n, ok := nextUvarint(&b, uint64(len(set)))
	if !ok || n == 0 {
		return nil, fmt.Errorf("%w: certificate count", errWire)
	}
	votes := make([]consensus.Message, 0, n)
	for range n {
		i, ok := nextUvarint(&b, uint64(len(set))-1)
		if !ok || len(b) < ed25519.SignatureSize {
			return nil, fmt.Errorf("%w: certificate entry %d", errWire, len(votes))
		}
		votes = append(votes, consensus.Message{Type: consensus.Precommit, Height: h, Round: int32(r), ValueID: id, ValidRound: -1,
			From: set[i], Sig: slices.Clone(b[:ed25519.SignatureSize])})
		b = b[ed25519.SignatureSize:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the certificate", errWire, len(b))
	}
	return votes, nil
}

func encodeCert(votes []consensus.Message) []byte {
	items := make([][]byte, len(votes))
	for i, v := range votes {
		items[i] = v.Encode()
	}
	return encodeChunks(items)
}

func decodeCert(b []byte) ([]consensus.Message, error) {
	items, err := splitChunks(b, 0, maxCertVotes, maxVoteBytes)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	votes := make([]consensus.Message, 0, len(items))
	for i, it := range items {
		m, err := consensus.DecodeMessage(it)
		if err != nil {
			return nil, fmt.Errorf("vote %d: %w", i, err)
		}
		votes = append(votes, m)
	}
	return votes, nil
}

// Sync protocol (sync/2): the request is the first wanted height (8 bytes,
// big-endian) and a flags byte (syncLastResort); the response is the server's
// height (8 bytes), a busy byte (1: the server does not serve this request,
// follow.go; no blocks follow), its depth (0 on an authority, its upstream's
// plus one on a home, 255 for none; follow.go) and a count followed by
// length-prefixed certified blocks (each as encodeCertified produces it, kind
// byte included).
const syncLastResort byte = 1 // the requester found no other peer to follow

func encodeSyncRequest(from uint64, flags byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, from), flags)
}

func decodeSyncRequest(b []byte) (from uint64, flags byte, err error) {
	if len(b) != 9 || b[8]&^syncLastResort != 0 {
		return 0, 0, fmt.Errorf("%w: sync request %x", errWire, b)
	}
	return binary.BigEndian.Uint64(b), b[8], nil
}

// syncAnswer is a decoded sync response.
type syncAnswer struct {
	head   uint64 // the server's height
	busy   bool
	depth  byte // the server's distance from the authorities (follow.go)
	blocks []certified
}

func encodeSyncResponse(head uint64, busy bool, depth byte, items [][]byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, head)
	if busy {
		return append(b, 1, depth, 0) // busy, no blocks
	}
	return append(append(b, 0, depth), encodeChunks(items)...)
}

func decodeSyncResponse(b []byte) (syncAnswer, error) {
	if len(b) < 10 || b[8] > 1 {
		return syncAnswer{}, fmt.Errorf("%w: sync response header", errWire)
	}
	a := syncAnswer{head: binary.BigEndian.Uint64(b), busy: b[8] == 1, depth: b[9]}
	b = b[10:]
	maxItems := maxSyncBlocks
	if a.busy {
		maxItems = 0
	}
	items, err := splitChunks(b, 0, maxItems, maxBlockBytes+maxCertBytes+32)
	if err != nil {
		return syncAnswer{}, fmt.Errorf("sync response: %w", err)
	}
	a.blocks = make([]certified, 0, len(items))
	for i, chunk := range items {
		if len(chunk) == 0 || chunk[0] != kindBlock {
			return syncAnswer{}, fmt.Errorf("%w: block %d has no block kind", errWire, i)
		}
		c, err := decodeCertifiedBody(chunk[1:])
		if err != nil {
			return syncAnswer{}, fmt.Errorf("block %d: %w", i, err)
		}
		a.blocks = append(a.blocks, c)
	}
	return a, nil
}

// The vote stream (vote/2, authority to authority) carries a consensus
// message as a kindVoteFrame, about 130 bytes for a prevote or precommit
// instead of kindVote's 185:
//
//	3 | type | uvarint height | uvarint round | uvarint valid round+1 | value id (32) | signer's key (32) | sig (64) | proposal value
//
// A proposal's value (the block) follows as 0 | uvarint len | value, or, when
// it holds transactions, as its header's fields and the transactions' hashes:
//
//	1 | uvarint len(chain id) | chain id | uvarint height | uvarint time | parent (32) | state hash (32) | proposer's key (32) | uvarint count | count × tx hash
//
// (the tx root follows from the hashes). Every authority normally got those
// transactions when they were submitted (txs/1: an authority sends what it
// accepts to all the others, a home's batch is relayed by the authority it
// reached), so the receiver rebuilds the block from its pool and the
// signature, over the whole value, still decides. A receiver missing one
// (not arrived yet, or not accepted here) asks the sender for the round's
// messages, whole (votes/1). The consensus topic keeps
// kindVote, for observers. Any message the frame cannot carry (a signature
// or signer of another form) goes as kindVote, which the stream also takes.
const (
	kindVoteFrame byte = 3

	valueWhole  byte = 0
	valueHashes byte = 1
)

// encodeVoteFrame encodes m for the vote stream.
func encodeVoteFrame(m consensus.Message) []byte {
	from, err := chain.Account(m.From).PublicKey()
	if err != nil || len(m.Sig) != ed25519.SignatureSize || m.Round < 0 || m.ValidRound < -1 {
		return encodeVote(m)
	}
	b := make([]byte, 0, 160+len(m.Value))
	b = append(b, kindVoteFrame, byte(m.Type))
	b = binary.AppendUvarint(b, m.Height)
	b = binary.AppendUvarint(b, uint64(m.Round))
	b = binary.AppendUvarint(b, uint64(m.ValidRound+1))
	b = append(b, m.ValueID[:]...)
	b = append(b, from...)
	b = append(b, m.Sig...)
	if m.Type != consensus.Proposal {
		if len(m.Value) != 0 {
			return encodeVote(m)
		}
		return b
	}
	blk, err := chain.DecodeBlock(m.Value)
	if err != nil || len(blk.Txs) == 0 {
		return appendWholeValue(b, m.Value)
	}
	hdr := blk.Header
	proposer, err := hdr.Proposer.PublicKey()
	if err != nil || hdr.Time < 0 || hdr.ChainID == "" || len(hdr.ChainID) > chain.MaxChainID {
		return appendWholeValue(b, m.Value)
	}
	start := len(b)
	b = append(b, valueHashes)
	b = binary.AppendUvarint(b, uint64(len(hdr.ChainID)))
	b = append(b, hdr.ChainID...)
	b = binary.AppendUvarint(b, hdr.Height)
	b = binary.AppendUvarint(b, uint64(hdr.Time))
	b = append(b, hdr.Parent[:]...)
	b = append(b, hdr.StateHash[:]...)
	b = append(b, proposer...)
	b = binary.AppendUvarint(b, uint64(len(blk.Txs)))
	for _, tx := range blk.Txs {
		h := tx.Hash()
		b = append(b, h[:]...)
	}
	// The header must come back whole from these fields (a field added to
	// chain.Header and not here would not): else send the value whole.
	if got, err := decodeBareHeader(b[start+1:]); err != nil || got.header != hdr {
		return appendWholeValue(b[:start], m.Value)
	}
	return b
}

func appendWholeValue(b, value []byte) []byte {
	b = append(b, valueWhole)
	b = binary.AppendUvarint(b, uint64(len(value)))
	return append(b, value...)
}

// bareProposal is a proposal's block header and its transactions' hashes.
type bareProposal struct {
	header chain.Header
	hashes []chain.Hash
}

// decodeBareHeader decodes what follows valueHashes; the header's TxRoot is
// computed from the hashes.
func decodeBareHeader(b []byte) (bareProposal, error) {
	bad := fmt.Errorf("%w: proposal header", errWire)
	var p bareProposal
	n, ok := nextUvarint(&b, chain.MaxChainID)
	if !ok || n == 0 || uint64(len(b)) < n {
		return p, bad
	}
	p.header.ChainID, b = string(b[:n]), b[n:]
	h, ok1 := nextUvarint(&b, math.MaxUint64)
	ms, ok2 := nextUvarint(&b, math.MaxInt64)
	if !ok1 || !ok2 || len(b) < 3*32 {
		return p, bad
	}
	p.header.Height, p.header.Time = h, int64(ms)
	b = b[copy(p.header.Parent[:], b):]
	b = b[copy(p.header.StateHash[:], b):]
	p.header.Proposer, b = chain.AccountOf(ed25519.PublicKey(b[:32])), b[32:]
	count, ok := nextUvarint(&b, maxBlockTxs)
	if !ok || count == 0 || uint64(len(b)) != count*32 {
		return p, fmt.Errorf("%w: proposal's tx hashes", errWire)
	}
	p.hashes = make([]chain.Hash, count)
	for i := range p.hashes {
		b = b[copy(p.hashes[i][:], b):]
	}
	p.header.TxRoot = chain.TxRootOf(p.hashes)
	return p, nil
}

// decodeVoteFrame decodes a vote stream frame (kindVoteFrame or kindVote).
// txByHash looks up a proposal's transactions; missing is how many it did
// not find, and then m carries no value (and no signature can verify it).
func decodeVoteFrame(b []byte, txByHash func(chain.Hash) (chain.Tx, bool)) (m consensus.Message, missing int, err error) {
	if len(b) > 0 && b[0] == kindVote {
		m, err = consensus.DecodeMessage(b[1:])
		return m, 0, err
	}
	if len(b) < 2 || b[0] != kindVoteFrame {
		return m, 0, fmt.Errorf("%w: not a vote", errWire)
	}
	m.Type = consensus.MsgType(b[1])
	b = b[2:]
	h, ok1 := nextUvarint(&b, math.MaxUint64)
	r, ok2 := nextUvarint(&b, consensus.MaxRound)
	vr, ok3 := nextUvarint(&b, consensus.MaxRound+1)
	const fixed = len(consensus.Hash{}) + ed25519.PublicKeySize + ed25519.SignatureSize
	if !ok1 || !ok2 || !ok3 || len(b) < fixed {
		return m, 0, fmt.Errorf("%w: vote header", errWire)
	}
	m.Height, m.Round, m.ValidRound = h, int32(r), int32(vr)-1
	b = b[copy(m.ValueID[:], b):]
	m.From = consensus.ID(chain.AccountOf(ed25519.PublicKey(b[:ed25519.PublicKeySize])))
	b = b[ed25519.PublicKeySize:]
	m.Sig = slices.Clone(b[:ed25519.SignatureSize])
	b = b[ed25519.SignatureSize:]
	if m.Type != consensus.Proposal {
		if len(b) != 0 {
			return m, 0, fmt.Errorf("%w: %d bytes after a vote", errWire, len(b))
		}
		return m, 0, nil
	}
	if len(b) == 0 {
		return m, 0, fmt.Errorf("%w: proposal without value", errWire)
	}
	switch b[0] {
	case valueWhole:
		value, rest, err := readChunk(b[1:], consensus.MaxValueSize)
		if err != nil {
			return m, 0, fmt.Errorf("proposal value: %w", err)
		}
		if len(rest) != 0 {
			return m, 0, fmt.Errorf("%w: %d bytes after a proposal", errWire, len(rest))
		}
		if len(value) > 0 {
			m.Value = slices.Clone(value)
		}
		return m, 0, nil
	case valueHashes:
	default:
		return m, 0, fmt.Errorf("%w: proposal value form %d", errWire, b[0])
	}
	p, err := decodeBareHeader(b[1:])
	if err != nil {
		return m, 0, err
	}
	blk := chain.Block{Header: p.header, Txs: make([]chain.Tx, 0, len(p.hashes))}
	size := 0
	for _, h := range p.hashes {
		tx, ok := txByHash(h)
		if !ok {
			missing++
			continue
		}
		// No honest proposal holds more (fitProposal): stop a faulty one
		// before it costs a large block's memory.
		if size += len(tx.Encode()); size > maxProposalTxBytes {
			return m, 0, fmt.Errorf("%w: proposal's transactions exceed %d bytes", errWire, maxProposalTxBytes)
		}
		blk.Txs = append(blk.Txs, tx)
	}
	if missing == 0 {
		m.Value = blk.Encode()
	}
	return m, missing, nil
}
