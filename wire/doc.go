// Package wire defines the bytes of gridmesh's peer-to-peer protocols: the
// framing they share, every request, response and one-way frame, the compact
// commit certificate that the chain stores with each block, and the size
// limits of each. It does no I/O and keeps no state; node's loop owns what
// happens when a frame arrives. It may import chain, chain/consensus, ident
// and unit (internal/deptest).
//
// Decoders are strict: every length is bounded, every uvarint must be in its
// shortest form, and no trailing byte is accepted, so that every accepted
// encoding re-encodes to the same bytes. Every decoder is fuzzed and golden
// bytes (testdata/golden.txt) pin every format: nodes of the previous release
// must interoperate.
//
// # Versions
//
// Every protocol id ends in its version (sync/2), and so do the gossip
// topics (/gridmesh/<network>/orders/1, p2p.TopicID). An id's version goes
// up whenever its bytes change in a way the previous release would not
// read; the release that changes it keeps serving the previous id (with the
// previous format) beside the new one, listed in Served, and asks with the
// new id first (p2p.Host.RequestFirst; a one-way sender picks the version
// its peer announced, p2p.Host.Speaks), so a network moves from one release
// to the next node by node. The release after drops the old id.
// TestPreviousReleaseServed pins the ids of the previous release;
// internal/upgradetest runs that release's binary against this one's.
//
// Transactions and blocks inside these payloads carry their own format
// version (chain.TxFormat, chain.BlockFormat): a later format is refused
// with chain.ErrFormat, which a node counts and does not hold against the
// peer (node: future_format). A change of consensus or market rules is not
// a format change: it activates at a height the authorities vote (chain:
// Upgrades).
//
// # Framing
//
// A list (a commit certificate in full form, a sync answer, a tx batch, a
// book, a votes answer) is
//
//	uvarint count | count × (uvarint len | item)
//
// (EncodeChunks, SplitChunks). A payload that may be one of several kinds
// starts with its kind byte: KindVote (1, a whole consensus.Message),
// KindBlock (2, a certified block), KindVoteFrame (3, a vote-stream frame).
//
// # Commit certificates (stored by the chain, sent by sync)
//
// The precommits that decided a block, compact when they share height, round
// and value and come from the height's authority set (always, for a
// decision):
//
//	1 | uvarint height | uvarint round | value id (32) | uvarint count | count × (uvarint index | sig (64))
//
// with each signer as its index in the set (in the chain's order); any other
// list is 0 followed by the list of whole messages. Limits: MaxCertBytes,
// MaxCertVotes, MaxVoteBytes. VerifyCertified checks a block against its
// certificate with chain and wire alone.
//
// # sync/2 (SyncProto): blocks after a height
//
// Request: first wanted height (8 bytes, big-endian) | flags (SyncLastResort
// or 0). Response: the server's height (8 bytes) | busy (0 or 1) | depth (0 on
// an authority, its upstream's plus one on a home, 255 for none) | a list of
// certified blocks, empty when busy. A certified block is
//
//	2 | uvarint len(block) | block | uvarint len(cert) | cert
//
// Limits: MaxSyncBlocks blocks, each at most MaxBlockBytes with a certificate
// of at most MaxCertBytes; a server stops filling an answer at MaxBlockBytes,
// and a client reads at most MaxSyncResponseBytes.
//
// # vote/2 (VoteProto): consensus messages, authority to authority
//
// One frame per message, a KindVoteFrame:
//
//	3 | type | uvarint height | uvarint round | uvarint valid round+1 | value id (32) | signer's key (32) | sig (64) | proposal value
//
// A proposal's value follows as 0 | uvarint len | value, or, when the block
// holds transactions, as its header's fields and the transactions' hashes:
//
//	1 | uvarint len(chain id) | chain id | uvarint height | uvarint time | parent (32) | state hash (32) | proposer's key (32) | uvarint count | count × tx hash
//
// (the tx root follows from the hashes; at most MaxBlockTxs hashes, and the
// transactions found must add up to at most MaxProposalTxBytes). A message the
// frame cannot carry goes as KindVote: 1 | consensus.Message encoding, which
// is also the only payload of the consensus gossip topic. Limit:
// MaxGossipBytes per frame.
//
// # votes/1 (VotesProto): a round's messages on request
//
// Request: height (8 bytes, big-endian) | round (4 bytes, big-endian, not
// negative). Response: the list of whole consensus messages (EncodeMessages),
// empty when the peer is at another height; at most MaxVotesResponseBytes.
//
// # head/2 (HeadProto): a node's new block, to its followers
//
// One certified block, as sync/2 carries it (2 | uvarint len(block) | block
// | uvarint len(cert) | cert), at most MaxHeadBlockBytes; the block's height
// is the height pushed. The receiver checks the certificate as for a synced
// block (VerifyCertified) before it forwards or applies it.
//
// # head/1 (HeadV1Proto): a node's new height, to its followers
//
// One shortest-form uvarint, nothing after it (at most binary.MaxVarintLen64
// bytes). Replaced by head/2; served, and sent to followers that do not
// speak head/2, until the release after this one.
//
// # txs/1 (TxProto): a batch of transactions, to the authorities
//
// A list of 1..MaxBatchTxs canonical transactions, each at most
// chain.MaxTxBytes; a sender keeps a batch within MaxBatchBytes.
//
// # book/1 (BookProto): a peer's mempool
//
// Request: empty. Response: a list of 0..MaxBookTxs canonical transactions,
// at most MaxBookBytes in all, oldest first.
package wire
