// Package node wires gridmesh's parts into one running node: the config and key
// (package config), the chain replica and its store (chain), the consensus engine
// (chain/consensus), the libp2p host (p2p), the meter sampler and journal (meter)
// and the home's trading agent (market). It is owned by cmd/gridmesh, the
// composition root, and is the only package besides it that may import all the
// others.
//
// One goroutine, the loop, owns the consensus engine, the mempool, the agent and
// every write to the chain; gossip, HTTP, the sampler and timers reach it through
// channels. After every input it carries out the engine's Ready in order: persist
// the consensus state (fsync), send the signed messages, commit decided blocks, and
// only then answer build and validate requests.
//
// Roles. An authority (its key is in the genesis authority list) runs the consensus
// engine, keeps the mempool and announces each decided block with its commit
// certificate on the consensus topic. A home follows: it applies announced blocks
// after checking their certificate and re-executing them, and when it finds itself
// behind (after a restart, or a missed announcement) it fetches blocks with
// certificates from a peer over the sync stream. A home with a meter samples it into
// the journal and trades: one order per open slot from the meter's forecast, and an
// attestation of the metered import and export after the slot.
//
// Decisions recorded here:
//   - blocks are produced only when there is work: the loop signals consensus.Work
//     when the mempool is non-empty or the chain reports a gate closure or a
//     settlement due;
//   - the agent re-publishes its transactions every 2 s until a committed block
//     includes them or the chain could no longer accept them (gossip is
//     best-effort);
//   - a slot index before the network's epoch is never traded;
//   - the demo (Demo) writes real config, genesis and key files and runs every node
//     through Load and Run, exactly as `gridmesh run -c` does.
package node
