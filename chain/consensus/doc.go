// Package consensus is Tendermint's consensus algorithm (Buchman, Kwon, Milosevic,
// "The latest gossip on BFT consensus", arXiv:1807.04938, Algorithm 1) as a pure
// state machine in the style of etcd-io/raft.
//
// It owns: the consensus messages (Message, its strict binary encoding and its
// signature bytes), the per-height vote bookkeeping, the upon-rules of Algorithm 1
// (each one a named method citing its line), the persisted consensus State with the
// last-signed record, evidence of equivocation and commit-certificate verification
// (VerifyCommit).
//
// It imports, of gridmesh, only the leaf package ident (standard library
// otherwise): validator ids are ident.Account and value ids ident.Hash, the same
// types the chain and the node name. This amends DESIGN.md's "chain/consensus
// imports nothing of ours" deliberately (issue 18): ident holds two types and
// imports nothing itself, so the engine stays a pure, self-contained state
// machine. The zero
// ident.Hash is nil, the nil vote.
//
// The rules have no test switches: tests that show what breaks without a rule
// run a Byzantine wrapper around the honest engine (locking_test.go's
// lockBreaker signs the prevote a lock forbids with the validator's key).
//
// It starts no goroutines, reads no clock, draws no randomness, does no I/O and never depends on map
// iteration order. Inputs go in through Engine.Step; the work the engine wants done
// comes out of Engine.Ready (persist, send, schedule timers, build or validate a
// value, apply decisions) and is acknowledged with Engine.Advance. The engine never
// interprets values: the application builds them (BuildRequest -> Proposed) and
// judges them (ValidateRequest -> Validated), and names them by their ID.
//
// Rules and their priority: see Engine.run. Proposer: validators sorted by ID,
// proposer(h, r) = sorted[(h+r) mod n]. Quorums over n equal-power validators:
// "2f+1" is 3*count > 2n, "f+1" is 3*count > n.
//
// Deviations from the paper's pseudocode, none of which affects safety:
//
//   - Line 54: after a decision the engine enters the next height but starts round
//     0 only on Step(Work{}) or a message of that height (blocks only when there
//     is work).
//   - Line 21: the proposer arms timeoutPropose as well (a slow application or a
//     refused signature then ends in a nil prevote instead of a stall).
//   - Line 55 counts, per validator, the highest round it sent anything in, and
//     skips to the highest round f+1 validators have reached; this includes the
//     paper's rule and keeps working for rounds beyond the stored window.
//   - Votes are counted per value from distinct senders, as the paper counts
//     messages: an equivocator's conflicting votes each count for their own value
//     (up to maxVotesPerValidator values), and the pair is reported as Evidence.
//   - valid(v) is asked of the application once per value id (a "not valid"
//     verdict only for the round it was given in).
//   - Gossip is best-effort: Rebroadcast re-sends the latest own messages and the
//     prevotes proving the valid value (ValidPolka, persisted in State, also sent
//     with a re-proposal), without which line 28 can stall after a restart.
//   - A restored engine re-arms the timer of its step and re-sends its messages.
//   - Bounded memory while a height is stuck: messages are stored for rounds up
//     to round_p + maxRoundsAhead (8) and down to round_p − keepRoundsBehind (4);
//     an older round is kept only if it is the locked or valid round or the valid
//     round a proposal of a kept recent round cites (line 28 counts its
//     prevotes). Other old rounds are forgotten when a round starts and their
//     late messages are dropped, as message loss would drop them: safety does
//     not depend on them, and a decision of a forgotten round (line 49) reaches
//     the node as a certified block instead. Validity verdicts are kept only for
//     values a kept round proposes (TestStuckHeightBounded,
//     TestOldValidRoundStillCounts).
//
// Safety across restarts: every signature goes through the last-signed guard
// (Engine.sign) on the persisted State, which is handed out by Ready before the
// messages it covers.
//
// Files: types.go (inputs, outputs, Config), engine.go (Engine: Step, Ready,
// vote bookkeeping, signing), rules.go (the upon-rules and their order),
// votes.go (Messages: the votes of a round, for sync), codec.go (Message and
// State encodings), commit.go (VerifyCommit), evidence_check.go
// (CheckEvidence).
package consensus
