// Package nattest holds no code: its tests show that gridmesh's p2p layer,
// and whole gridmesh nodes, reach homes behind NAT routers. It builds a small internet out of Linux
// network namespaces (an authority on the public side, two routers doing
// masquerading NAT with a home-router firewall, a home behind each), runs real
// p2p hosts inside them (the test binary re-executed with `ip netns exec`) and
// checks that the homes reach each other through the authority's circuit relay
// v2, and directly where hole punching (DCUtR) succeeds.
//
// Two variants run in parallel, each in its own namespaces. "tcp+quic": homeA
// declares itself private (p2p.Config.AssumePrivate); homeB, like a home with
// the default config, learns it from the authority's AutoNAT service (about
// 20 s: AutoNAT's 15 s boot delay, then a dial-back that the router drops).
// "tcp": TCP only, both homes assume they are private, so hole punching must
// use TCP simultaneous open. The test logs whether hole punching succeeded and
// over which transport; if it does not within 15 s the test still passes
// (about 30% of real home pairs stay on the relay) and says so. Between two
// Linux masquerading routers it has succeeded over QUIC and over TCP
// (Linux keeps the source port: endpoint-independent mapping).
//
// TestNodesBehindNAT does the same with whole gridmesh nodes (the binary,
// built by the test, run with `gridmesh run` in the namespaces): an authority
// serving the chain's head to one follower only, and two admitted homes
// behind the routers, with the DHT on. One home must then follow the other
// (node/follow.go); the test waits until one does, checks that it keeps up
// with the authority and that the orders posted to a home reach the chain,
// and reads from the status whether the following home reaches its upstream
// through the relay or directly (`upstream_via`). "relay" cuts the routers
// off from each other, so the homes stay on the relay; "direct" lets them
// punch a hole. The following starts after 35 to 70 s (AutoNAT, relay
// reservations, DHT rendezvous, a home's 30-s probe for a home to follow).
//
// TestUpdateFromPeerBehindNAT delivers an update between two gridmesh nodes:
// the authority runs release v9.9.0 from its update slot (signed by the
// key its genesis pins) and serves it on update/1; a home behind routerA,
// whose firewall lets out only the p2p port, cannot reach the download
// server in the authority's namespace, takes the release with `gridmesh
// update apply --from-peer`, verified as from any source, into its
// inactive slot on trial, and its running node exits (status 75) to
// restart into it. About 20 s.
//
// TestMicrogrid is a real microgrid (issue 19): 4 authorities and trading
// homes, every one a `gridmesh run` process in its own namespace, the homes
// spread over 3 LANs behind 3 NAT routers (grid_test.go draws the
// topology). The processes come from internal/cluster (Options.Place puts
// each in its namespace; the cluster reaches its API there); their genesis
// has short slots and their homes trade from simulated meters. Every access
// link, an authority's or a home's, delays each packet 20..80 ms each way and
// drops 1 % each way; the last home's link is also limited to 1 Mbit/s (tbf).
// The delay and loss come from a delay line, two TUN devices with the test
// process in between (delayline_test.go), not from `tc netem`: the kernel
// of the VM the figures were measured on is built without sch_netem (and
// fq, which eBPF departure times would need), and a delay line behaves the
// same on any kernel with TUN. The test measures slots from the first that
// opens after every node is connected: per slot, when the first authority
// saw it cleared (polled every 200 ms; on time = before the slot starts)
// and settled (finality: from the slot's end, so at least the attestation
// window), and per node CPU, RSS (/proc), p2p bytes (the node's counters)
// and wire bytes (its namespace's eth0) per second. It asserts that every
// measured slot cleared and settled on every node, one state hash, balances
// summing to 0, trades, and no process exiting by itself, and logs the
// report as tables and JSON (GRIDMESH_MICROGRID_OUT=dir writes both there).
// By default it is the CI run: 10 processes, 5-s slots, 16 slots measured,
// about 3 minutes. GRIDMESH_MICROGRID=50 runs 50 processes, with
// GRIDMESH_MICROGRID_SLOT seconds per slot (default 15) and
// GRIDMESH_MICROGRID_SLOTS slots (default 30); give it -timeout 30m.
// Whatever happens, its cleanups stop every process (SIGTERM, SIGKILL after
// 10 s) and delete every namespace, and the processes are started to get
// SIGKILL if the test binary dies (a -timeout panic runs no cleanup).
//
// The tests need root, iproute2 (`ip`, and `tc` for the microgrid) and
// nftables (`nft`), and the microgrid /dev/net/tun. Under CI=true it
// fails when one of them is missing; elsewhere it skips, unless
// GRIDMESH_REQUIRE_ALL=1 asks for every test to run. It is skipped with -short.
// It touches nothing outside the namespaces it creates (each with a random
// suffix, all deleted at the end).
//
// The "internet" is 192.0.0.128/26, inside 192.0.0.0/24 (IANA "IETF Protocol
// Assignments", never routed globally). Not 10.0.0.0/8: libp2p counts only
// public addresses for hole punching, and go-multiaddr counts 192.0.0.128/26 as
// public, so the test exercises the path a real home takes.
//
// Imports: p2p (TestHomesBehindNAT); chain, config, market, p2p, unit and
// internal/crashtest (TestNodesBehindNAT: the nodes' configs, signed orders,
// building the binary); update (TestUpdateFromPeerBehindNAT: the
// authority's slots). Only tests import them: the package itself has no
// code.
package nattest
