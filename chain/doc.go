// Package chain is gridmesh's ledger: transactions, blocks, genesis, the
// replicated state machine that applies the market rules, the badger store and
// the mempool.
//
// Ownership: this package owns chain/*.go (not chain/consensus, which is the
// Tendermint engine and is owned separately). It imports ident, unit and market only (accounts
// are ident.Account, hashes ident.Hash); it must not import chain/consensus, p2p, meter or node. Consensus is wired to it by
// the node: the engine's Build request is answered with Propose, Validate requests
// with Validate, and decisions with Commit(block, encoded certificate).
//
// # Encoding
//
// Tx and Block are encoded as JSON with the fixed field order of their Go
// declarations (written and parsed by hand in encode_fast.go, byte for byte what
// encoding/json produces, without reflection), hashes as lowercase hex, signatures as base64, absent payloads
// omitted. Decoders are strict: size limits (MaxTxBytes, MaxBlockBytes), no
// unknown fields, no trailing data, and the decoded value must re-encode to the
// exact input bytes, so only the canonical form is accepted and a value has one
// hash. A transaction is signed with ed25519 by From over a domain tag plus its
// encoding without Sig; ChainID is a signed field, so nothing replays across
// networks. Tx.Hash covers the signature (Go's ed25519 rejects malleated
// signatures). The block hash is SHA-256 of the header, which commits to the
// transactions through TxRoot (SHA-256 over the count and tx hashes).
//
// # State machine
//
// Transactions: Admit and Tariff only from an authority of the block's height
// (Tariff.Seq must increase; genesis has Seq 0); Order only from an admitted participant while
// block time is in [OpenAt, GateClosure) of its slot and within the current
// tariff's bounds (market.Tariff.Check); its id is the tx hash in hex, its Height
// the block height; Cancel only by the order's owner before gate closure; Attest
// from an admitted participant once per slot, in [slot end, SettleAt), and only
// for a slot that has orders and is not yet settled (ErrNothingToSettle
// otherwise); Authority, a vote by an authority to add or remove one, decided by
// more than 2/3 of the current set and in force two heights later (authority.go
// states the rules); Evidence, two conflicting consensus votes of one authority,
// checked by the verifier the node installs and recorded once per offence
// (evidence.go; it does not remove the offender: the utility votes that). A tx
// hash is accepted once (replay protection). Nonce has no rule: it only makes
// otherwise identical transactions distinct.
//
// After a block's transactions, every slot with orders whose gate closure is at
// or before the block time is cleared with market.Clear (current tariff, genesis
// params) and the tariff used is stored with the result; then every cleared slot
// whose SettleAt has passed is settled with market.Settle (its attestations, the
// clearing tariff, genesis operator) and the transfers are added to balances. A
// slot that cleared no trades is settled (empty settlement, SlotSettled emitted)
// in the same block. After settlement a slot's orders, attestations and their
// replay records are pruned, at most 2048 entries per block, oldest slot first
// (the timing rules refuse any replay afterwards); its result and settlement are
// kept. Due reports whether the next block would clear or settle something, so
// blocks are produced only when there is work (pruning never asks for a block).
// Orders and attestations for slots far from the block time are refused before
// any slot arithmetic, which could overflow.
//
// Block time must be after the parent's and at most MaxClockSkewMs ahead of the
// validator's clock; Propose uses max(now, parent + 1 ms). The genesis block
// (height 0, stored, no certificate) has time OpenAt(0) − 1 ms, so blocks can
// start when slot 0 opens for orders even if the epoch is slightly in the
// future. The proposer must be in the authority set of the block's height
// (Authorities; which one is the consensus engine's business). Propose returns one error per input tx (nil = included;
// ErrBlockFull = did not fit, try again later).
//
// The state is a set of key/value entries (see state.go). The state hash is
// SHA-256 over all entries in key order, each as (key length, key, SHA-256 of the
// value). An execution reads through copy-on-write overlays of the committed
// state, re-encodes only the keys it wrote (its diff), and merges the diff into
// the committed sorted list of hash records, so a block costs what it changes
// plus one pass of SHA-256 over the records (BenchmarkExecuteLargeState: 50,000
// tx records and 5,000 orders, a 100-tx block in about 6 ms here;
// BenchmarkProposeLargeHistory, a year of 15-minute slots: about 2 ms). A
// randomized test checks every block's diff and hash against a from-scratch
// computation. Propose and Validate remember their execution by block hash, so Commit of a block just proposed
// or validated does not execute it again. Signatures of a block's transactions
// are verified on all cores (the only goroutines here, waited for), and a tx
// that verified once (CheckTx, an earlier proposal) is remembered by hash.
//
// # Store
//
// badger, tuned for a Raspberry Pi. A badger transaction holds at most 15% of a
// memtable (2.4 MiB here), so a block holds at most MaxBlockTxs (2,000)
// transactions and pruning is bounded per block: a full block of orders plus
// pruning measured well inside the limit (3,000 orders still fit, 4,000 do not).
// OpenMemory uses a 64 MiB memtable, as every value is inline there. Commit
// writes the block, its certificate (opaque), every changed state entry and the
// head pointer in one badger transaction, then calls DB.Sync. Values are
// checksummed on read (block and value checksums on). Open checks an existing store: genesis (chain
// id and hash), head record against the head block, the state hash recomputed
// from the stored entries, and that the entries decode and re-encode exactly; any
// failure is an error matching ErrCorrupt ("chain: store at DIR is corrupt: ..."),
// as is a directory with a MANIFEST but no data; badger panics are recovered into
// that error. (The node moves such a store aside and fetches the chain again
// from its peers; see node's doc.) Older block bodies are checked when read (Block, Blocks). Open
// refuses 32-bit platforms (badger loses data there). PruneBlocks lets a home
// node delete old block bodies and certificates (state, head and genesis stay);
// Block and Blocks then answer ErrPruned for those heights.
//
// Known limits: the per-block state hash is still linear in the number of
// entries (an incremental commitment, e.g. a Merkle tree, is future work).
// Balances are int64 micro-units without overflow checks (a slot moves at most
// 10^18). The encodings of market types inside state values follow their Go
// field names, so changing those types changes the state hash.
//
// Statement lists an account's settled slots (energy bought and sold, money
// paid, received, fees, net) for the utility's billing export.
//
// # Mempool
//
// Pool holds unchecked transactions by hash, bounded, in arrival order; callers
// check with CheckTx before Add and call Remove(block.Txs) and
// Recheck(func(tx) error { return c.CheckTx(tx, now) }) after each commit.
package chain
