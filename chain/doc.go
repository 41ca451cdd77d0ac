// Package chain is gridmesh's ledger: transactions, blocks, genesis, the
// replicated state machine that applies the market rules, the badger store and
// the mempool.
//
// Ownership and imports: this package owns chain/*.go (not chain/consensus,
// the Tendermint engine, nor chain/sim). Of gridmesh it imports ident (accounts
// are ident.Account, hashes ident.Hash), unit and market only; it must not
// import chain/consensus, p2p, meter or node. Consensus is wired to it by the
// node: the engine's Build request is answered with Propose, Validate requests
// with Validate, and decisions with Commit(block, encoded certificate).
// Measured figures and the decisions they support are in DECISIONS.md.
//
// # Encoding
//
// Tx, Header and Block have one canonical encoding, specified here and
// implemented by codec.go (encoders) and codec_parse.go (parser). It is a
// subset of JSON (RFC 8259), so any JSON reader can read it, but only this
// package writes it or accepts it. (encoding/json wrote these bytes first; the
// tests keep it as an oracle, and no production path uses it.)
//
//   - Objects have no whitespace and their fields in this order, each present
//     unless said otherwise:
//     Tx: chain_id, kind, from, nonce, then its one payload under its name,
//     then sig. Payloads, in this order, each omitted when absent: admit
//     (participant, name), tariff (floor, ceiling, fee, seq, then
//     late_seconds, omitted when 0: a tariff without it encodes as before
//     the field existed), order (side,
//     slot, energy, price, then replaces, expires and curve, each omitted
//     when unset: an order without them encodes as before they existed;
//     curve is an array of steps, each {"energy":E,"price":P} in that order,
//     omitted when empty, never [] or null), cancel (order), attest (slot, import, export,
//     journal), evidence (a, b), authority (add, key), upgrade (name, height),
//     release (version, manifest, keys, each omitted when unset: an
//     announcement has the first two, a key rotation only keys, an array
//     of strings, never [] or null).
//     sig is omitted when empty (SignBytes encodes the tx without it).
//     Header: chain_id, height, time, parent, tx_root, state_hash, proposer.
//     Block: header, txs (an array of Tx; [] when empty, never null).
//   - Integers are decimal, without plus sign, leading zeros, fraction or
//     exponent; a minus sign only on a negative value of a signed field (time,
//     slots, Wh, prices). kind, nonce, seq, side and height are unsigned.
//   - Booleans (authority.add) are true or false.
//   - Strings (chain_id, admit.name, accounts) are quoted; \" \\ \b \f \n \r \t
//     are escaped so, other bytes below 0x20 and < > & as \u00xx (lowercase
//     hex), U+2028 and U+2029 as \u2028 and \u2029, every other valid UTF-8
//     character as itself. An invalid UTF-8 byte is written \ufffd, which does
//     not decode back to it: such a value has no canonical encoding and is never
//     accepted.
//   - Accounts (from, participant, key, proposer) are strings; Tx.Verify
//     requires ident.Account's form, 64 lowercase hex characters.
//   - Hashes (cancel.order, attest.journal, parent, tx_root, state_hash) are
//     64 lowercase hex characters in a string.
//   - Byte strings (sig, evidence.a, evidence.b) are standard padded base64
//     (RFC 4648 §4) in a string; a nil evidence message is null (Verify
//     refuses it).
//
// Format versions. Everything above is format 0 (TxFormat, BlockFormat),
// which is never written. A later format of a transaction or a header
// opens its object with a format field, {"format":N, followed by that
// format's fields; a decoder that reads older formats only refuses it with
// ErrFormat (wrapped with ErrEncoding), naming the format, instead of
// calling it malformed, and the node counts it (future_format) without
// holding it against the peer. A new format may only be written from a
// height the authorities voted (Upgrades, upgrade.go), so that no node
// meets it before every node reads it.
//
// Decoding accepts the canonical form only: DecodeTx (at most MaxTxBytes) and
// DecodeBlock (at most MaxBlockBytes, each tx at most MaxTxBytes) parse this
// grammar and nothing else (no unknown, missing, duplicate or reordered fields,
// no whitespace, no trailing data), and the decoded value must re-encode to
// exactly the input bytes, so a value has one encoding and one hash. Errors
// wrap ErrEncoding or ErrTooLarge and give the byte offset.
//
// Hashes and signatures. A transaction is signed with ed25519 by From over
// SignBytes = "gridmesh/tx/v1\n" || its encoding without sig; ChainID is a
// signed field, so nothing replays across networks. Tx.Hash = SHA-256 of the
// encoding, sig included (Go's ed25519 rejects malleated signatures, so a tx
// has one hash). The block hash is Header.Hash = SHA-256("gridmesh/header/v1\n"
// || header encoding); the header commits to the transactions through TxRoot =
// SHA-256("gridmesh/txroot/v1\n" || count as 8-byte big-endian || each tx hash
// in block order).
//
// Store records. Everything else the store keeps — the genesis, the head
// record and the state values — is encoding/json of the named Go types
// (records.go: recordJSON, strictDecode), and hashed as such: their format is
// the field names and order of those types, market types included, so changing
// one changes the state hash. The genesis hash is SHA-256("gridmesh/genesis/v1\n"
// || encoding/json of Genesis, nil lists as []).
//
// State hash. The state is a set of key/value entries (keys in state.go). The
// state hash is SHA-256("gridmesh/state/v1\n" || for each entry in key order:
// uvarint(len(key)) || key || SHA-256(value)). Every node must compute the same
// value for the same chain; TestPinnedScenario and chain/sim's TestPinnedRuns
// pin it for fixed inputs.
//
// # State machine
//
// Transactions: Admit and Tariff only from an authority of the block's height
// (Tariff.Seq must increase; genesis has Seq 0); Order only from an admitted
// participant while block time is in [OpenAt, GateClosure) of its slot and
// within the current tariff's bounds (market.Tariff.Check, or
// market.Tariff.CheckCurve for each step of a curve order); a curve order
// (Order.Curve) also keeps the curve rules of order_rules.go (curve steps,
// curve energy, curve price, curve monotone: Verify, ErrTxShape); Order.Check
// is all of an order's content rules in one function; its id is the tx
// hash in hex, its Height the block height; an order with Expires set only
// in a block of height <= Expires (ErrExpired); an order with Replaces set
// (order_rules.go) only if it names an order of the same sender
// (ErrNotOwner), for the same slot (ErrReplaceSlot), still open
// (ErrReplaced once it was cancelled or replaced; ErrNoOrder if there is none):
// the old order is then cancelled by the new one in the same transaction, so a
// home re-prices before gate closure without a moment of no order and without a
// window in which both count. Replacing is a field of Order and not a new kind
// because a replacement is a whole order and is checked as one; the old
// order's record keeps its existing shape (cancelled, cancel_tx = the new
// order's hash), so the state encoding does not change; Cancel only by the order's owner
// before gate closure; Attest from an admitted participant once per slot, in
// [slot end, SettleAt), and only for a slot that has orders and is not yet
// settled (ErrNothingToSettle otherwise); Authority, a vote by an authority to
// add or remove one, decided by more than 2/3 of the current set and in force
// two heights later (authority.go states the rules; a genesis with VoteLapse
// set bounds votes: they lapse after that many heights and an authority holds
// at most MaxOpenVotes; without it, as in every genesis before the field,
// votes stay until they pass); Evidence, two conflicting consensus votes of
// one authority, checked by the verifier the node installs and recorded once
// per offence (evidence.go; it does not remove the offender: the utility
// votes that). Replay protection: a tx hash is accepted once (ErrDuplicate),
// and its record is kept until its slot settles, after which the slot's
// timing rules refuse it (ErrSlotClosed, ErrAttestWindow); a replaced order
// cannot be brought back (it is a duplicate, and a second replace of it fails
// ErrReplaced); ChainID is signed (ErrChainID on another network); Expires
// bounds how late a signed order held back by a peer can be included.
// TestOrderLifecycle checks each. Nonce has no rule: it only makes otherwise
// identical transactions distinct.
// Upgrade, an authority's vote that a named rule change activates at a
// height, scheduled by more than 2/3 of the set; a binary that does not know
// a scheduled upgrade executes no block from its height on and says so
// (upgrade.go; the one rule behind it today is tariff-seq-next: a tariff's
// Seq must then be exactly the current Seq + 1).
// Release, an authority's vote announcing a release (its version and
// manifest sha256) or replacing the release keys, decided by more than 2/3
// of the set and accepted only once the upgrade release-votes is in force
// (release.go). It is kind 9, a payload after the older ones, and its
// state keys (q/, r/) exist only once such a tx does, so no earlier
// transaction, block or state encodes or hashes differently.
// applyTx checks what all kinds share and dispatches one function per kind.
//
// After a block's transactions, every slot with orders whose gate closure is at
// or before the block time is cleared with market.ClearCurves (current tariff,
// genesis params; plain orders as market.Order, curve orders as market.Curve;
// with no curve order that call is market.Clear, so chains without curves
// clear as before) and the tariff used is stored with the result; then every cleared slot
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
// Late attestations (issue 19, outages). The tariff policy's late window
// (Tariff.LateSeconds, from the genesis's late_seconds and changed by a
// Tariff tx like the prices; at most MaxLateSeconds) lets a home whose
// internet was down have its journaled metering counted. A cleared slot with
// trades settles at SettleAt if every party of its trades (each trade's
// buyer and seller) has attested; otherwise it waits, and settles in the
// first block in which the last party's attestation is applied or whose
// time reaches SettleAt + late window, whichever comes first (settleDue).
// Until then attestations for it are taken ([slot end, SettleAt + late
// window) while it is unsettled). A party still missing at the end settles
// by the missing-attestation rule (market.Settle), so no money is created:
// every settlement sums to 0 as before. The window in force is the current
// policy's at each block (a Tariff tx that shortens it settles waiting slots
// at once). Chosen over settling at SettleAt and correcting afterwards: a
// settled slot never changes, so a statement exported for billing stays
// true; the price is that the counterparties of a home that missed its
// attestation wait for their money up to the late window. A late window of
// 0 — every chain before the field — settles every slot at SettleAt exactly
// as before, so old chains replay to the same state hashes (the pins are
// unchanged); it is not height-activated, as no earlier chain can hold a
// non-zero window. A waiting slot keeps its orders and attestations (it is
// pruned after it settles); settlements may now come out of slot order, and
// LastSettled is the highest settled slot. TestLateAttestation checks the
// rule; TestOutageRunDeterministic runs the outages of issue 19 on the chain
// alone from a seed and pins the state hash.
//
// Block time must be after the parent's and at most MaxClockSkewMs ahead of the
// validator's clock; Propose uses max(now, parent + 1 ms). The genesis block
// (height 0, stored, no certificate) has time OpenAt(0) − 1 ms, so blocks can
// start when slot 0 opens for orders even if the epoch is slightly in the
// future. The proposer must be in the authority set of the block's height
// (Authorities; which one is the consensus engine's business). Propose returns
// one error per input tx (nil = included; ErrBlockFull = did not fit, try again
// later).
//
// Execution cost. An execution reads through copy-on-write overlays of the
// committed state, re-encodes only the keys it wrote (its diff), and merges the
// diff into the committed sorted list of hash records, so a block costs what it
// changes plus SHA-256 over the records from the first one it changed (the
// list keeps the hash's state every few chunks: keylist.go). TestIncrementalState
// checks every block's diff and hash against a from-scratch computation. Propose and
// Validate remember their execution by block hash, so Commit of a block just
// proposed or validated does not execute it again. Signatures of a block's
// transactions are verified on all cores (the only goroutines here, waited
// for); CheckTxs, a batch from a peer, uses all cores but one, and takes the
// chain's lock only after. A tx that verified once (CheckTx, CheckTxs, an
// earlier proposal) is remembered by hash until it is committed (bounded: the
// set forgets everything when it holds 65,536). The signature is ed25519 by
// crypto/ed25519's rules, computed with curve25519-voi (sig.go).
//
// # Store
//
// badger, tuned for a Raspberry Pi. A badger transaction holds at most 15% of a
// memtable, so a block holds at most MaxBlockTxs transactions and pruning is
// bounded per block (TestFullBlockFitsOneTransaction). OpenMemory uses a 64 MiB
// memtable, as every value is inline there. Commit writes the block, its
// certificate (opaque), every changed state entry and the head pointer in one
// badger transaction, then calls DB.Sync. Values are checksummed on read (block
// and value checksums on). Open checks an existing store: genesis (chain id and
// hash), head record against the head block, the state hash recomputed from the
// stored entries, and that the entries decode and re-encode exactly; any
// failure is an error matching ErrCorrupt ("chain: store at DIR is corrupt:
// ..."), as is a directory with a MANIFEST but no data; badger panics are
// recovered into that error. (The node moves such a store aside and fetches the
// chain again from its peers; see node's doc.) Older block bodies are checked
// when read (Block, Blocks). Open refuses 32-bit platforms (badger loses data
// there). PruneBlocks lets a home node delete old block bodies and certificates
// (state, head and genesis stay); Block and Blocks then answer ErrPruned for
// those heights. PruneHome, what a home's loop calls, also replaces the
// cleared and settled records of the older settled slots by stubs that carry
// the SHA-256 of the record (the state hash reads only that, so it does not
// change) and deletes those slots' index lines of every account but the
// home's own; Result and Settlement then report none for those slots
// (prune.go). Both let badger collect its value log afterwards: deleted values
// free disk only when badger rewrites the files that hold them. A home that
// joins from a snapshot writes those stubs itself from the manifest instead
// of downloading the records (Fetch, InstallSnapshot: snapshot_stub.go), and
// a store that pruned serves no stub as a value (Snapshot.Values: ErrPruned).
//
// History lives in the store, not in memory (state.go: history; history.go).
// Cleared and settled records are state entries (c/<slot>, d/<slot>) written
// with their block; memory keeps only those of slots not yet pruned and of the
// last histWindow (8) slots below the last settled one, and reads the others
// from the store when asked (Result, Settlement; execution never asks for them:
// it only looks at open and recent slots). Open reads the state in one pass that
// keeps no old record: it recomputes the state hash over every stored value and
// decodes only what memory keeps (old records are decoded, strictly and
// round-trip checked, when read). Beside the state and outside the state hash,
// an account index A/<account>/<slot> holds each account's statement line of
// each settled slot, with the slot's clearing price, written in the block's
// badger transaction with a record of the height it is complete up to; Open
// rebuilds it from the settled and cleared records when that record is missing
// (a data directory from before the index), of another version (version 1
// lines had no price) or behind the head (TestOldStoreMigrates). The state
// hash, the entries and their encoding are unchanged.
//
// Known limits: the per-block state hash is still linear in the number of
// entries (an incremental commitment, e.g. a Merkle tree, is future work), and
// its sorted key list (keyList: per entry a varint, the key and a 32-byte
// digest, and an 8-byte offset) is in memory: each settled slot adds two
// records (c/ and d/) of 59 bytes, about 4 MB per year of 15-minute slots, and
// SHA-256 reads them all once per block (2.7–2.9 ms at a year on this
// machine's cores). Merging a block's diff into it no longer copies it: the
// list is in chunks a block shares with its parent but for the ones it
// touches (68–77 µs and 118 KB a block at a year, were 1.6 ms and 4.4 MB;
// BenchmarkStateHashYear, keylist.go). That is the one part of memory that
// still grows with the chain's age; bounding it without changing the state
// hash would mean keeping the key list's old stretch on disk and still
// reading it every block (the balances, b/, sort before it, so no SHA-256
// midstate can be kept for it).
// Balances are int64 micro-units without overflow checks (a slot moves at most
// 10^18).
//
// Statement lists an account's settled slots (energy bought and sold, the
// clearing price, money paid, received, fees, net) for the utility's billing
// export, read by range from the account index alone: it costs what it
// returns, not the chain's age, and reads no slot's records. AppendStatement
// fills a caller's slice and StatementSum only adds the lines up, so a caller
// that reuses its slice allocates nothing per line.
//
// # Mempool
//
// Pool holds unchecked transactions by hash, bounded, in arrival order; callers
// check with CheckTx before Add and call Remove(block.Txs) and
// Recheck(func(tx) error { return c.CheckTx(tx, now) }) after each commit.
package chain
