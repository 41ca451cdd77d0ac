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
// It imports nothing of gridmesh (standard library only). It starts no goroutines,
// reads no clock, draws no randomness, does no I/O and never depends on map
// iteration order. Inputs go in through Engine.Step; the work the engine wants done
// comes out of Engine.Ready (persist, send, schedule timers, build or validate a
// value, apply decisions) and is acknowledged with Engine.Advance. The engine never
// interprets values: the application builds them (BuildRequest -> Proposed) and
// judges them (ValidateRequest -> Validated), and names them by their ID.
package consensus
