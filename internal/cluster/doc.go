// Package cluster runs gridmesh authorities (and homes) as separate
// operating-system processes on loopback, the way an operator runs them
// (`gridmesh run -c node.toml`), and sees them only as an HTTP client and a
// gossip peer would. It is a library for harnesses: `gridmesh bench chain`
// (cmd/gridmesh/bench.go) and the crash tests (internal/crashtest) use it.
// It owns:
//
//   - Cluster (cluster.go): Write creates a network in a directory (keys, one
//     genesis, node configs with fixed loopback ports); with Options.Homes it
//     also writes home nodes (Cluster.Homes: role home, not admitted, trading
//     off, bootstrapped to every authority), which only follow the chain.
//   - Short trading slots (Options.SlotSeconds, Options.TradingHomes): a
//     genesis laid out as `gridmesh demo`'s, and homes admitted in it that
//     trade from simulated meters, for tests that need slots to clear and
//     settle while they run (internal/upgradetest). Options.Dev writes a
//     development genesis, which allows a single authority (the RSS soak
//     test, internal/soaktest, runs one with four trading homes).
//   - Network namespaces (Options.Place, netns_linux.go): a placed node
//     listens on its own address at port 4001 in a namespace the caller made,
//     is started with `ip netns exec` (and gets SIGKILL if the process that
//     started it dies), and its API, on the namespace's loopback at a port
//     unique in the cluster, is reached by dialling from inside the
//     namespace (InNetns runs a function on a thread there). Used by
//     internal/nattest's microgrid.
//   - Processes (proc.go): Start, Kill (SIGKILL), Stop (SIGTERM, then SIGKILL
//     after a grace period; Proc.Stop for one) and restart on the same data
//     directories, each process on the cluster's binary or its own
//     (Proc.SetBinary: a rolling upgrade);
//     Running, Pid, Starts and Unwanted (incarnations that exited by
//     themselves). The index-based methods (Start(i), Kill(i), Status(ctx,
//     i), ...) address the authorities in Cluster.Nodes; StartProc, StatusOf,
//     WaitPeers and the Proc methods any process, homes included.
//   - The nodes' read API (api.go): Status, Block, BlockOf, Slots, Balance, PostTx (ErrRejected for
//     any answer but 202), WaitConnected and WaitPeers.
//   - /proc figures (procfs.go): PeakRSS (VmHWM), RSS (VmRSS), CPUTime and
//     WriteBytes of a process, and NetBytes of an interface in its network
//     namespace.
//   - Orders (orders.go): deterministic signed order txs from the
//     cluster's admitted accounts.
//   - Observer (observer.go): a libp2p peer on the consensus topic that
//     neither votes nor relays; it verifies every consensus message against
//     the genesis authorities and reports any authority that signed two
//     different values for one (height, round, type), at any height,
//     including an old height a restarted authority might re-sign (a node's
//     evidence counter only sees conflicts at the height it is deciding).
//   - Profiles: with GRIDMESH_CPUPROFILE_DIR or GRIDMESH_MEMPROFILE_DIR set,
//     every node it starts writes a CPU profile (until it stops) or a heap
//     profile (as it is asked to stop) there, one file per node and start
//     (`gridmesh run --cpuprofile/--memprofile`).
//
// Decisions: participants' keys stay in memory (only the authorities' keys are
// written); the genesis has 900 s slots that open a day ahead and close 300 s
// before they start, with the epoch at the moment the network is written, so
// orders for slots 2..91 are valid for the first 25 minutes of any test or
// benchmark and no gate closure falls inside one. Nodes trust the host clock
// (node.clock = "trust"), since the kernel of a test machine may report itself
// unsynchronised. Each node's stdout and stderr are appended to files in its
// directory across restarts, so a panic in any incarnation stays visible. It
// starts no goroutine that outlives its owner: a process's reaper ends when
// the process does, Stop waits for every process.
//
// Imports: chain, chain/consensus, config, ident, internal/portlease, market, p2p and unit of gridmesh
// (enforced by internal/deptest), the standard library and golang.org/x/sys/unix (namespaces). It does not import
// node; the one thing it repeats from node is the first byte of a consensus
// gossip payload (kindVote, node/wire.go). Nothing in it is a test: it has
// no testing import, so the shipped binary may link it for `bench chain`.
package cluster
