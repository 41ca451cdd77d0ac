// Package crashtest runs gridmesh authorities (and homes) as separate
// operating-system processes on loopback, the way an operator runs them
// (`gridmesh run -c node.toml`), and sees them only as an HTTP client and a
// gossip peer would.
// It owns:
//
//   - Cluster: writes a network (keys, one genesis, node configs with fixed
//     loopback ports) into a directory, starts, SIGKILLs and restarts the
//     authorities on the same data directories, offers them signed orders and
//     reads their status, blocks, peak memory and CPU time. `gridmesh bench
//     chain` and this package's test use it. With Options.Homes it also
//     writes home nodes (Cluster.Homes: role home, not admitted, trading off,
//     bootstrapped to every authority), which only follow the chain; the
//     index-based methods (Start(i), Kill(i), Status(ctx, i), ...) address
//     the authorities in Cluster.Nodes, and StartProc, StatusOf, WaitPeers
//     and the Proc methods (Kill, Running, Pid, Unwanted, Starts) any
//     process, homes included. Cluster.Stop stops both.
//   - Build: builds the gridmesh binary (this package's test and
//     internal/nattest's whole-node test run it).
//   - Profiles: with GRIDMESH_CPUPROFILE_DIR or GRIDMESH_MEMPROFILE_DIR set,
//     every node it starts writes a CPU profile (until it stops) or a heap
//     profile (as it is asked to stop) there, one file per node and start
//     (`gridmesh run --cpuprofile/--memprofile`), so `gridmesh bench chain`
//     can be profiled.
//   - Observer: a libp2p peer on the consensus topic that neither votes nor
//     relays; it verifies every consensus message against the genesis
//     authorities and reports any authority that signed two different values
//     for one (height, round, type), at any height, including an old height a
//     restarted authority might re-sign (a node's evidence counter only sees
//     conflicts at the height it is deciding).
//   - The SIGKILL test of issue 4 (crashtest_test.go): one authority, chosen
//     by the seed, is killed at each of 50 seeded random moments under light
//     load and restarted at once; at the end every authority must be up and
//     progressing, all must agree on the state hash at a common height, none
//     may report or have logged (in any incarnation) evidence of a
//     double-sign, the observer must have seen none, and no incarnation may
//     have panicked or exited by itself. The test builds the gridmesh binary,
//     takes about two minutes and is skipped under -short. Flags:
//     -crashtest.seed (default: from the clock, printed), -crashtest.kills,
//     -crashtest.span (the window in which the kills fall).
//
// Decisions: participants' keys stay in memory (only the authorities' keys are
// written); the genesis has 900 s slots that open a day ahead and close 300 s
// before they start, with the epoch at the moment the network is written, so
// orders for slots 2..91 are valid for the first 25 minutes of any test or
// benchmark and no gate closure falls inside one. Nodes trust the host clock
// (node.clock = "trust"), since the kernel of a test machine may report itself
// unsynchronised. Each node's stdout and stderr are appended to files in its
// directory across restarts, so a panic in any incarnation stays visible.
//
// Imports: chain, chain/consensus, config, market, p2p and unit of gridmesh
// (enforced by internal/deptest) and the standard library. It does not import
// node; the one thing it repeats from node is the first byte of a consensus
// gossip payload (kindVote, node/wire.go).
package crashtest
