// Package node wires gridmesh's parts into one running node: the config and key
// (package config), the chain replica and its store (chain), the consensus engine
// (chain/consensus), the libp2p host (p2p), the meter sampler and journal (meter)
// and the home's trading agent (market). It is owned by cmd/gridmesh, the
// composition root, and is the only package besides it that may import all the
// others.
//
// One goroutine, the loop, owns the consensus engine, the mempool, the agent and
// every write to the chain; the network, HTTP, the sampler and timers reach it through
// channels. After every input it carries out the engine's Ready in order: persist
// the consensus state (fsync), send the signed messages, commit decided blocks, and
// only then answer build and validate requests.
//
// Roles. An authority (configured so, and its key in the chain's authority set
// of the height being decided; see authority.go) runs the consensus
// engine; it sends its votes straight to the other authorities and does not
// announce decided blocks (the other authorities decide from the same votes,
// and one that missed them syncs when it hears the next height's votes). A home follows: every second it asks a
// peer over the sync stream for the blocks after its height, and applies
// them after checking their certificate and re-executing them. The peer is an
// authority while the authorities have follower slots free, and another home
// otherwise (follow.go). A home with a meter samples it into
// the journal and trades: one order per open slot from the meter's forecast, and an
// attestation of the metered import and export after the slot.
//
// Decisions recorded here:
//   - blocks are produced only when there is work: the loop signals consensus.Work
//     when the mempool is non-empty or the chain reports a gate closure or a
//     settlement due;
//   - a block that only carries transactions waits until 500 ms after the last
//     commit (batchGap) unless 64 are pending: each block costs about 1.1 kB of
//     header and certificate and a round of votes, so at 1,000 homes' load
//     (4.4 tx/s) one block per transaction would be three quarters overhead.
//     Gate closures and settlements do not wait, and a busy network fills
//     blocks without waiting. Measured with `gridmesh bench chain --rate 4.4
//     --homes 2`: 34 blocks instead of 88 for 88 txs, finality p50 366 ms and
//     p99 694 ms instead of 110 and 186 ms (budget p50 0.5 s, p99 2 s);
//   - the agent re-publishes its transactions every 2 s until a committed block
//     includes them or the chain could no longer accept them (sending is
//     best-effort); a home re-sends the other transactions in its pool (those
//     POSTed to its API) the same way;
//   - a slot index before the network's epoch is never traded;
//   - transactions and votes go straight to the authorities over kept-open
//     streams (p2p.Send), not by gossip: the authorities are a handful of
//     peers connected to each other, and among 4 of them gossip delivered every
//     vote and transaction about three times, votes in a signed envelope.
//     Transactions travel in batches (txs/1, txbatch.go): a home sends each to
//     one authority, which relays it to the others once; an authority sends
//     its own to all. POST /api/v1/tx answers 202 only once the tx's batch is
//     queued to leave the node. Votes (vote/2) go from each authority to the
//     others; only the authorities of the next two heights may send on it.
//     Authority traffic at 4.4 tx/s (`gridmesh bench chain --rate 4.4 --for
//     30s --homes 2`): 395 kbit/s with both gossiped, 159 with votes sent
//     straight, less again with transactions too (README figures). Votes
//     missed on the stream are asked for (votes.go) and re-sent (the engine's
//     re-broadcast); an authority still publishes each on the consensus
//     topic, which no node subscribes to, for observers (a monitor looking for
//     double signs);
//   - on the vote stream a vote names its signer by its raw 32-byte key, not
//     its 64-character account, and a proposal carries its block's header
//     fields and its transactions' hashes instead of the block (package wire,
//     vote/2): an authority normally got those transactions when they were
//     submitted, so it rebuilds the block from its pool, and the signature,
//     over the whole block, decides. One missing (not arrived yet, or not
//     accepted here) makes it fetch the round's messages whole from the
//     proposer at once (proposals_fetched in the status). At 4.4 tx/s this
//     cut the vote stream from 58 to 30 kbit/s per authority; at 1,000 tx/s
//     the 3 receivers of each proposal fetched 3 whole over 158 blocks
//     (`gridmesh bench chain --rate 1000 --for 20s`, README);
//   - a home subscribes to nothing and follows by sync. A home that received
//     every transaction and vote used 2.1 Mbit/s at 1,000 homes' load (4
//     authorities and 8 homes in one process, 4.4 tx/s); following by sync it
//     receives each block once (21.7 kbit/s in, 23 in+out, `gridmesh bench
//     chain --rate 4.4 --for 60s --homes 8`);
//   - a node tells its followers its new height as it commits (head/1, a
//     uvarint frame, coalesced), and a home whose upstream reports a height
//     above its own syncs at once: without it each level of homes added up
//     to a poll interval (1 s) of lag. The poll stays as the fallback;
//   - a node serves the chain's head to a bounded number of followers (2 on
//     an authority, 2 on a home, [network] followers) and turns others away
//     with its height; they follow a home instead, so an authority's upload
//     does not grow with the number of homes (follow.go). A home that finds
//     no other home is still served, as a last resort;
//   - NAT traversal is on by role: an authority declares itself publicly
//     reachable, answers AutoNAT, is a DHT server and offers circuit relay v2
//     without limits to admitted participants and authorities only
//     (relayAllowed, judged by the chain's state when asked); a home runs the
//     relay client, reserves slots on the authorities once AutoNAT finds it
//     private, and tries hole punching;
//   - every authority keeps a mempool and, on every new connection, fetches the
//     peer's (book.go), so late joiners and both sides of a healed partition
//     end up with every accepted order;
//   - the height a node catches up to is the (f+1)-th highest that the
//     authorities claimed, by signed votes or sync answers (seen): one lying
//     authority of four cannot send every node chasing a height nobody has;
//   - a round without progress for 1.5 s makes the node ask a peer for the
//     round's consensus messages (an authority asks authorities; votes.go);
//   - a corrupt chain store found at start is moved aside (DIR.corrupt-TIME, kept
//     for inspection, reported as store_repaired in the status) and the chain
//     is fetched again from peers; an authority whose consensus state is then
//     ahead of its chain follows until it has caught up, and votes again;
//   - the demo (Demo) writes real config, genesis and key files and runs every node
//     through Load and Run, exactly as `gridmesh run -c` does.
package node
