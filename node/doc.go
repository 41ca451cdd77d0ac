// Package node wires gridmesh's parts into one running node: the config and key
// (package config), the chain replica and its store (chain), the consensus engine
// (chain/consensus), the wire formats of the peer protocols (wire), the libp2p
// host (p2p), the meter sampler and journal (meter), the home's trading agent
// (market) and, when the caller passes one (Options.Releases), the server of
// the update releases it holds to peers (update, on update/1). It is owned
// by cmd/gridmesh, the composition root, and is the only package besides it
// that may import all the others.
//
// # Contracts
//
// Load(ctx, path, opts) opens a node in named steps (the API listener, the
// chain with repair, the meter, the host, the handlers), closing what it
// opened on error; ctx bounds the host's background work and must outlive
// Run. Run runs it until its context ends, returns nil then, and closes
// everything Load opened. Options carry everything a caller may inject: the
// clock the protocols read (Now), the kernel clock check (ClockSynced), the
// random choices (Choose), a fault-injecting filter on incoming frames for
// tests and chaos runs (Filter), the follow poll interval, and the Ready and
// Heartbeat callbacks a service manager needs. No field of Node is set by
// tests alone.
//
// One goroutine, the loop (loop.go), owns the consensus engine, the mempool, the
// agent, the policies and every write to the chain; the network, HTTP, the
// sampler and timers reach it through channels. After every input it carries
// out the engine's Ready in order: persist the consensus state (fsync), send the
// signed messages, commit decided blocks, and only then answer build and
// validate requests.
//
// The loop's decisions of when to act are small policies (policy.go, the follow
// policy in follow.go, the proposal-fetch limit in fetch.go), in the style of
// etcd-io/raft: each takes the current time and the events that concern it and
// returns a decision, with no I/O, clock reads or goroutines inside; the loop
// carries the decisions out. Their tests are tables and datadriven traces
// (testdata/follow) that never sleep.
//
// Files: node.go (Options, Load, Run), loop.go (the loop, commits), policy.go,
// sync.go (sync/2, both halves), follow.go (followers, head/1, the follow
// policy), vote.go (vote/2 and the consensus topic), votes.go (votes/1),
// fetch.go (whole proposals), certify.go (certificate checks), txbatch.go
// (txs/1), book.go (book/1), authority.go (the authority set), http.go (the
// API), stats.go (the status counters). The bytes of every protocol are in
// package wire.
//
// The whole-network tests that need nothing unexported (end to end, four
// authorities, a burst of orders, the indicative price at the gate, welfare)
// are in node/nodetest, an external package that sees the node as a user
// does; those that need a seam of node's own (the outages cut a home's p2p
// host and read its meter journal) stay here.
//
// # Roles
//
// An authority (configured so, and its key in the chain's authority set
// of the height being decided; see authority.go) runs the consensus
// engine; it sends its votes straight to the other authorities and does not
// announce decided blocks (the other authorities decide from the same votes,
// and one that missed them syncs when it hears the next height's votes). A home
// follows: every second it asks a peer over the sync stream for the blocks
// after its height, and applies them after checking their certificate
// (wire.VerifyCertified) and re-executing them. The peer is an authority while
// the authorities have follower slots free, and another home otherwise
// (follow.go). A home with a meter samples it into the journal and trades: one
// order per open slot from the meter's forecast, re-priced by replace from a
// cautious price toward the homeowner's limit as gate closure nears (agent.go,
// [trading] max_replaces), and an attestation of the metered import and
// export after the slot. A home with a [battery] (source "sim": simulated
// behind the simulated meter, battery.go) forecasts through it, and its order
// becomes a curve order: its own part plus the battery's steps
// (market.Battery.Quote); the battery's share of what cleared is charged from
// or discharged to the grid during the slot, within [reserve, capacity]. A
// home with a [flex] load (source "sim", flex.go: a car or heat pump that
// needs energy_wh in a daily window) lets the load take the home's own
// forecast surplus first; what it still wants in a slot of its window
// (market.Flex.Quote: its must part at its max_price, the rest in falling
// steps priced by how much of the remaining window it needs) joins the
// home's buy order as curve steps. At the slot's start the load consumes,
// over the slot, that surplus and what the home bought beyond its own part,
// or its must part if that is more, whatever the market gave. The live book
// holds a curve order step by step.
//
// # The live book
//
// Every node holds the open slots' book (localbook.go): the orders its chain
// holds for slots whose gate has not closed, merged after every commit, and
// the pending ones it accepted (its mempool) or heard on the orders topic
// (/gridmesh/<network>/orders/1, orders.go), each slot in a
// market.Indicative. Every node subscribes to that topic; a home publishes
// there each of its own orders and cancels once, when its pool first takes
// it (re-sends go only to the authorities, over txs/1), and an authority
// pools what it hears there as a second path. The topic's validator accepts an
// order or cancel only from its owner (the envelope's signer) and only if the
// chain would take it now (Chain.CheckTx: signature, admitted owner, open
// slot, tariff bounds, not a duplicate); malformed or forged payloads are
// rejected and score the peer down, late or unknown ones are ignored. The
// book holds at most 4 orders per owner and 10,000 per slot (book_dropped in
// the status counts the rest); a replacement removes the order it replaces.
// The status shows per open slot the indicative price and volume, the orders
// held and the home's own order with its replaces (open_book), and for the
// last 8 closed slots the indicative figures at gate closure beside the
// clearing (gate_checks, with same_orders when the orders held then were
// exactly those the chain cleared); Home Assistant gets the next slot's
// indicative price.
//
// # Outages
//
// Issue 19's four outages each have a rule (the chain's side is chain/doc.go,
// Late attestations; outage_test.go runs each on real nodes over loopback):
//   - (a) a home's internet is down: the sampler goes on writing the journal;
//     the agent signs each traded slot's attestation from the journal as
//     before and re-sends it every 2 s until a block includes it or the
//     tariff policy's late window (late_seconds) of its slot ends, so once
//     the home is back its attestations go out and count: the slot waited
//     for them. A pending attestation whose slot the node's chain shows
//     settled is dropped;
//   - (b) a home's power is cut: no readings exist. A slot is attested only
//     if the journal's readings either side of its start and of its end are
//     at most max(10 meter intervals, a quarter slot) apart (readAround), so
//     no slot the cut spans is attested from values interpolated across it.
//     The agent judges a slot once the journal holds a reading past its end
//     (readPast): a reading that is only late (a slow meter, a loaded
//     machine) is waited for, not taken for a cut;
//     those slots settle by the missing-attestation rule when the late
//     window ends (a seller delivered nothing, a buyer consumed what it
//     bought; no money is created). A node that restarts finds on its chain
//     the slots of the late window it has an order in and no attestation of
//     (recover, each slot once its gate closed on the node's chain) and
//     attests those the journal covers, so a crash loses no interval the
//     meter was read over;
//   - (c) one authority of four is down: the other three are a quorum and
//     the chain goes on; homes send to the authorities they are connected
//     to; back, the authority syncs from its peers and votes again;
//   - (d) two of four are down: no block can be decided (no quorum), so the
//     chain halts at its height without conflicting blocks; homes go on
//     reading, journaling and attesting (the live authorities pool the
//     attestations) and their orders for slots whose gate closes meanwhile
//     are lost; when one authority returns, consensus resumes by itself,
//     the first block applies the pooled attestations and clears and settles
//     the slots whose gates and windows passed, and the agents trade the
//     next open slots. Slots traded before the halt count their metering if
//     the halt ends within their late window.
//
// Determinism: within a run every node's state hash at a height is the
// chain's (the tests check it). Two runs of the same outage test with the
// same seed do not give the same state hash, and cannot with real-time
// networking: block times are the proposers' wall clocks (in the state
// through every order's and attestation's height and every slot's clearing
// block), transaction nonces are the wall clock in nanoseconds (in every tx
// hash, an order's id), which block includes which transaction depends on
// scheduling and the network, and the simulated meters read the wall clock.
// The seeded reproduction is the chain's: chain.TestOutageRunDeterministic
// drives the same outages through the chain's rules from a seed and pins
// the state hash.
//
// # Decisions
//
// The figures measured for these decisions, with their commands, are in
// DECISIONS.md.
//   - blocks are produced only when there is work: the loop signals consensus.Work
//     when the mempool is non-empty or the chain reports a gate closure or a
//     settlement due;
//   - a block that only carries transactions waits until 500 ms after the last
//     commit (batchGap) unless 64 are pending (workPolicy): each block costs
//     about 1.1 kB of header and certificate and a round of votes, so at 1,000
//     homes' load one block per transaction would be mostly overhead. Gate
//     closures and settlements do not wait, and a busy network fills blocks
//     without waiting;
//   - the agent re-publishes its transactions every 2 s until a committed block
//     includes them or the chain could no longer accept them (sending is
//     best-effort); a home re-sends the other transactions in its pool (those
//     POSTed to its API) the same way, to the next authority each round
//     (resender);
//   - a slot index before the network's epoch is never traded;
//   - rolling upgrades (README, Upgrading a network): a transaction or block
//     of a newer encoding format (chain.ErrFormat) from a peer is ignored,
//     not rejected, so that a node of a later release is not scored down by
//     this one, and counted in the status (future_format, logged once); when
//     the authorities have scheduled an upgrade this binary does not know,
//     the loop stops at the block before its height and Run returns
//     chain.ErrUnknownUpgrade, which says to update (haltForUpgrade; the
//     status lists the schedule under upgrades), rather than fork;
//   - a node whose clock is not synchronised (node.clock = "kernel" and the
//     kernel says so) does not trade, attest or propose, and says so in its log
//     at most once a minute (clockWarner) and in its status (clock_synced);
//   - transactions and votes go straight to the authorities over kept-open
//     streams (p2p.Send), not by gossip: the authorities are a handful of
//     peers connected to each other, and gossip delivered every vote and
//     transaction several times, votes in a signed envelope. Transactions
//     travel in batches (txs/1, txbatch.go): a home sends each to one
//     authority, which relays it to the others once; an authority sends its
//     own to all. POST /api/v1/tx answers 202 only once the tx's batch is
//     queued to leave the node. Votes (vote/2) go from each authority to the
//     others; only the authorities of the next two heights may send on it.
//     Votes missed on the stream are asked for (votes.go) and re-sent (the
//     engine's re-broadcast); an authority still publishes each on the
//     consensus topic, which no node subscribes to, for observers (a monitor
//     looking for double signs);
//   - on the vote stream a vote names its signer by its raw 32-byte key, and a
//     proposal carries its block's header fields and its transactions' hashes
//     instead of the block (package wire, vote/2): an authority normally got
//     those transactions when they were submitted, so it rebuilds the block
//     from its pool, and the signature, over the whole block, decides. One
//     missing (not arrived yet, or not accepted here) makes it fetch the
//     round's messages whole from the proposer at once (fetch.go;
//     proposals_fetched in the status);
//   - a home subscribes to no topic but the orders topic, and follows by
//     sync, receiving each block once;
//   - a node pushes each block it commits, certified, to its followers
//     (head/2, coalesced; head/1, the height alone, to a follower of the
//     previous release), and a home checks the next block from its
//     upstream as a synced one, forwards it to its own followers before it
//     applies it, and applies it; one further ahead, or head/1, makes it
//     sync at once (syncPacer); the poll stays as the fallback; a home
//     that follows nobody yet also syncs at once when it connects to a peer
//     (book.go), as its first poll may have found no peer;
//   - a node serves the chain's head to a bounded number of followers (2 on
//     an authority, 2 on a home, [network] followers) and turns others away
//     with its height; they follow a home instead, so an authority's upload
//     does not grow with the number of homes (follow.go). A home that finds
//     no other home is still served, as a last resort. A home looking for
//     an upstream asks the homes it knows to be shallowest first (the depth
//     every sync answer carries), so the tree fills level by level, and a
//     home that follows a home climbs to a shallower one with a free slot
//     (followPolicy.climb); followtree_test.go simulates the tree at 1,000
//     homes;
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
//     round's consensus messages (an authority asks authorities; voteAsker);
//   - a corrupt chain store found at start is moved aside (DIR.corrupt-TIME, kept
//     for inspection, reported as store_repaired in the status) and the chain
//     is fetched again from peers; an authority whose consensus state is then
//     ahead of its chain follows until it has caught up, and votes again;
//   - what a home sends its peers is its orders, its attestations (slot
//     totals and the journal's head hash), sync requests and what it serves
//     or forwards of the public chain, never a reading at sampling
//     resolution (README, Privacy); [network] audit_file records every byte
//     it sends, in the clear (p2p.Config.Audit, audit.go, gridmesh audit),
//     capped at audit_max_mib and rewritten at every start, and
//     TestPrivacyCapture searches a home's whole capture for every value of
//     every reading in its journal;
//   - the demo (Demo) writes real config, genesis and key files and runs every node
//     through Load and Run, exactly as `gridmesh run -c` does.
package node
