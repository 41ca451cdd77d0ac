// Package sim is a deterministic simulator of a gridmesh chain network: n
// authorities (some of them Byzantine) and follower nodes run the production
// consensus engine (chain/consensus) and the production state machine and store
// (chain, in-memory badger) over a simulated network, in simulated time, with
// every choice drawn from one seeded PCG (math/rand/v2). The same seed gives the
// same run: no wall clock, no goroutines of its own (badger's in-memory store runs
// its own background goroutines, which do not affect what is read), no map
// iteration order in any decision.
//
// It owns chain/sim/*.go and imports chain, chain/consensus, ident, market and unit.
//
// # What is driven, and how
//
// Each honest authority is driven the way node/loop.go drives it: a consensus
// message is decoded strictly, checked against the authority set and its
// signature, and stepped into the engine only for the height after the chain
// head (a later height triggers block sync); for every Ready the consensus State
// is persisted (fsynced) before any message is sent, timers are scheduled,
// decided values are committed with chain.Commit and announced as certified
// blocks, then Build is answered with chain.Propose and Validate with
// chain.Validate. A 100 ms tick steps Work when chain.Due or the mempool has
// transactions and re-broadcasts the latest votes after 2 s of silence; blocks
// from peers and from sync are checked against their certificate
// (consensus.VerifyCommit), validated and committed, and the engine is then
// restarted from the persisted State, as the node does. One deliberate
// difference: after each commit the simulator also calls Pool.Recheck, as
// chain's doc asks of callers (node/loop.go only calls Remove).
//
// # Faults
//
// Time alternates between chaos phases and heal phases. In chaos, honest nodes
// are split into partitions (re-drawn at random moments), messages are lost,
// duplicated and delayed (a few very late, which reorders them), and honest
// nodes crash and restart. In a heal phase every node is up and linked to every
// honest node, loss is low, and liveness is checked.
//
// Persistence model. A crash picks one of four points in the handling of a
// Ready: before the State's fsync completed (that write is lost: the node
// restarts from the previous fsynced State, which is how "losing unsynced
// writes" is modelled: the production loop fsyncs the State before it sends, so
// the only write that can be lost is the one whose messages never left), after
// the fsync but before sending, after sending but before committing the decided
// block (the restarted engine hands the Decision out again), or after the commit.
// The chain store always survives intact at its last commit (chain.Commit syncs
// its batch); the mempool and timers are lost. A restart is startEngine: the
// engine is created for chain height + 1 from the persisted State; a State ahead
// of the chain (ErrStateAhead) first syncs blocks from peers (Stats.Ahead; with
// the chain store always intact this does not occur, and node/loop.go would
// refuse to start).
//
// Clocks: every node's clock is the simulated time plus a fixed skew of up to
// ±Config.MaxSkew; block times come from the proposer's clock and are checked by
// chain.Validate against the validator's own. Config.FastClocks honest
// authorities run 2.5 to 5 s ahead, beyond chain.MaxClockSkewMs: their proposals
// are invalid to the others (they count as faults for the liveness check).
//
// Byzantine authorities run as twins: two instances of the production node share
// one key, each linked to its own half of the honest nodes, so they equivocate as
// proposers and double-vote naturally. In addition they send, at random:
// conflicting proposals and votes signed with the shared key, proposals of
// invalid blocks with valid signatures (a wrong state hash, a time far ahead, a
// forged transaction), replays of old messages of any node, messages signed for
// another network, and votes signed by non-authorities (participant keys);
// participants also send transactions signed for another network. Config.Silent
// further authorities never run at all (crash-faulty from the start).
//
// # Workload
//
// Participants (pre-admitted in genesis, and one admitted by an authority's Admit
// transaction) place orders for open slots, cancel some, and attest their meter
// readings after each slot, so clearing and settlement happen on chain.
//
// # Checks
//
// After every step (each check runs where the state it looks at changes):
// agreement (one block per height among honest nodes and followers), prefix
// consistency (each committed block's parent is the agreed block below), a valid
// commit certificate for every committed block, no double-sign by an honest
// authority across crashes (every message an honest authority sends is
// recorded; a signature lost with its unsynced State never left the process and
// cannot be held against it; engines' evidence naming an honest authority is a
// violation too), equal state hashes at equal heights, money conserved (balances sum
// to 0), no slot settled twice and every slot settled identically, and liveness:
// in a heal phase, when at least 2f+1 honest authorities are up and connected,
// every honest authority commits a new height within Config.LivenessBound of
// simulated time. A violation carries the seed and the last events touching the
// violated height.
//
// # Long runs
//
// An in-memory store grows with every block, so RunLong splits a long run into
// segments, each a fresh network from genesis with a seed derived from the run's
// (SegmentSeed); a violation names its segment's seed, which reproduces it alone.
//
// # Bugs found
//
// The simulator found a liveness bug of chain/consensus (a node restored at
// StepPrecommit re-armed timeoutPrecommit without 2f+1 precommits and entered
// the next round alone); it is fixed, and deadlock_test.go
// (TestRestartedPrecommitTimerDeadlock) is its regression test.
//
// # Showing that the checks can fail
//
// Each checker has a test that breaks what it guards and expects the
// violation: Config.ForgetState (restarted nodes lose their persisted State)
// for the double-sign check, and more Byzantine authorities than f for
// agreement. Pinned runs (TestPinnedRuns) fix the digest and state hash a few
// seeds give, so a change of the consensus rules, an encoding or the state
// hash shows. Throughput and long-run figures are in chain/DECISIONS.md and the
// README, with their commands.
package sim
