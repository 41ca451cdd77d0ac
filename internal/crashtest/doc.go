// Package crashtest runs gridmesh authorities as separate operating-system
// processes on loopback, the way an operator runs them (`gridmesh run -c
// node.toml`), and talks to them only through their HTTP API. It owns:
//
//   - Cluster: writes a network (keys, one genesis, node configs with fixed
//     loopback ports) into a directory, starts, SIGKILLs and restarts the
//     authorities on the same data directories, and reads their status, blocks
//     and peak memory. `gridmesh bench chain` and this package's test use it.
//   - The SIGKILL test of issue 4 (crashtest_test.go): an authority is killed
//     at 50 seeded random moments under light load and restarted; at the end
//     every authority must be up and progressing, all must agree on the state
//     hash at a common height, none may report evidence of a double-sign, and
//     no restart may have panicked or exited on its own. The test builds the
//     gridmesh binary, takes about two minutes and is skipped under -short.
//     Flags: -crashtest.seed (default: time-based, printed), -crashtest.kills,
//     -crashtest.span (the window in which the kills fall).
//
// Decisions: participants' keys stay in memory (only the authorities' keys are
// written); the genesis has 900 s slots that open a day ahead and close 300 s
// before they start, with the epoch at the moment the network is written, so
// orders for slots 2..91 are valid for the first 25 minutes of any test or
// benchmark and no gate closure falls inside one. Nodes trust the host clock (node.clock =
// "trust"), since the kernel of a test machine may report itself unsynchronised.
// Each node's stdout and stderr are appended to files in its directory, across
// restarts, so a panic in any incarnation stays visible.
//
// Imports: chain, config, market, p2p and unit of gridmesh (enforced by
// internal/deptest), and the standard library. It does not import node: it
// sees the nodes only as a client would.
package crashtest
