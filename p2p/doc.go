// Package p2p is gridmesh's network layer: a libp2p host built from the node's
// ed25519 key, gossipsub topics that carry signed envelopes, size-, time- and
// rate-limited request/response streams, and one-way message streams to a
// known peer (msgstream.go). It carries bytes and knows nothing of
// markets, orders or blocks.
//
// Imports: the standard library, go-libp2p (with go-multiaddr),
// go-libp2p-pubsub (with its protobuf messages) and go-libp2p-kad-dht. Nothing
// of gridmesh (enforced by the repository's import test).
//
// Decisions recorded here:
//
//   - Transports are TCP and QUIC only, secured by Noise and multiplexed by yamux.
//     The resource manager uses explicit limits sized for a 512 MB Raspberry Pi
//     (64 MiB for the whole stack, at most 128 connections) and the connection
//     manager keeps ConnLow..ConnHigh peers (16/32 by default). Bootstrap and
//     direct peers are protected from trimming. One remote address may hold
//     all of them (behindOneAddress): the homes behind a NAT share its public
//     address, and libp2p's default of 8 per IPv4 address left the ninth home
//     behind a router without an authority.
//   - Gossipsub runs with StrictNoSign and no author: authenticity comes from the
//     Envelope, which the node key signs over a domain tag, the network id, the
//     expiry, the payload and the sender key. The message id is SHA-256 of the
//     message bytes. Flood publishing is on. The router speaks only the project's
//     own protocol ids (/gridmesh/meshsub/1.1.0 and /gridmesh/meshsub/1.2.0), so a
//     gridmesh node never joins a public mesh.
//   - Every envelope carries an expiry. Validators ignore expired envelopes and
//     envelopes whose expiry lies further ahead than MessageTTL+ClockSkew. The
//     seen-cache lives at least as long as that window, so a message still valid
//     can never loop back. Re-announcement therefore publishes new bytes (a fresh
//     expiry), and Next deduplicates payloads (below).
//   - Topic validation order: decode (strict, size-limited) → network → expiry →
//     signature → rate per signer → the caller's validator. Malformed,
//     foreign-network and badly signed envelopes are rejected (peer scoring
//     penalises the forwarding peer hard: an honest node validates before it
//     forwards); expired, future and rate-exceeding ones are ignored. The caller's
//     validator must return Reject only for payloads invalid for everyone.
//   - The rate limit is per signer, not per forwarding peer: gossipsub marks a
//     message seen before validating it, so a message ignored because its forwarder
//     was busy could not arrive from anyone else; limiting the signer only costs the
//     spammer. Peer scoring handles misbehaving forwarders.
//   - Next delivers each (signer, payload) at most once while it is valid, so a
//     re-announced payload does not reach the caller twice.
//   - QUIC wants larger UDP buffers than Raspberry Pi OS grants by default
//     (net.core.rmem_max/wmem_max of about 7.5 MB); without them quic-go logs a
//     warning and works with less throughput. The device image should raise them.
//   - Peer scoring is on by default, tuned for 10 to 1,000 mostly idle nodes (see
//     score.go for the reasoning); bootstrap and direct peers (the authorities)
//     get a fixed bonus and are gossipsub direct peers when listed in Direct.
//   - NAT traversal (nat.go): authorities offer AutoNAT and an unlimited circuit
//     relay v2 to admitted peers only (gossipsub does not run over limited
//     connections); homes use relays and hole punching. Reachability reports
//     AutoNAT's view ("unknown" until it has one); AutoNAT needs about 20 s
//     behind a NAT (15 s boot delay, then a dropped dial-back) before relay
//     reservations start, so a home known to be behind NAT may set
//     AssumePrivate. ConnAddrs shows whether a peer is reached through a relay
//     (/p2p-circuit) or directly. internal/nattest shows both paths between two
//     homes behind Linux masquerading routers in network namespaces: relayed
//     gossip and requests, then hole punching over QUIC and over TCP.
//   - The host keeps no context (STYLE.md): the ctx given to New bounds the
//     start only; the host lives until Close, which closes its done channel,
//     from which its goroutines, its stream handlers' contexts and the libp2p
//     calls they make take their end (host.go, life). Every goroutine it
//     starts is waited for by Close.
//   - Tests and simulations inject, they do not flip switches: a shorter
//     gossipsub heartbeat (Config.Heartbeat) and a wrapper around the host
//     gossipsub writes through (Config.WrapGossip), with which package
//     p2p/p2psim injects loss and delay and counts gossip bytes. Topic.
//     MeshPeers shows the gossipsub mesh (from gossipsub's tracer), so that a
//     caller, or a test, can wait until a mesh holds a peer instead of
//     sleeping for heartbeats: a message goes at once only to mesh peers, to
//     other peers known to be subscribed as gossip (IHAVE) for three
//     heartbeats, and never to a peer whose subscription had not arrived
//     when it passed. So after a partition heals, a payload that every node
//     needs reaches the returning peer by a request stream (Connected says
//     when to ask) or by a re-announcement once the peer is in the mesh
//     (MeshPeers); one published the moment the connection returns may
//     never cross it.
//   - Gossipsub keeps its default degrees (D 6) unless MeshDegree says otherwise,
//     and its default IDONTWANT threshold (1 KiB): in the 50-node simulation a
//     smaller D saved traffic at the cost of tail latency, and IDONTWANT for
//     small messages raised traffic (the duplicates are already on their way
//     when the IDONTWANT arrives); figures in DECISIONS.md.
//   - DHT rendezvous (dht.go, Config.DHT, off by default): a Kademlia DHT with
//     the protocol prefix /gridmesh/<network> (so /gridmesh/<network>/kad/1.0.0),
//     seeded only by the Bootstrap and Direct peers, never the public IPFS DHT,
//     storing provider records only. Authorities (RelayService) are DHT servers;
//     other hosts run in auto mode (clients unless AutoNAT finds them public).
//     Each host advertises the namespace gridmesh/<network> (renewed every
//     10 min) and looks it up in rounds 1 s, 2 s, 4 s … apart, settling at one a
//     minute, dialling the hosts found while it has fewer than ConnLow peers.
//     Off by default because the authorities and mDNS suffice for a small
//     network, and the DHT adds goroutines, memory and a lookup a minute on a Pi.
//     Four homes bootstrapped to one authority meet directly within the first
//     round (TestDHTRendezvous; figure in DECISIONS.md).
//   - A peer found by mDNS is dialled up to 5 times over about 7 s, not once:
//     two hosts that hear each other in the same mDNS exchange dial at once
//     from their listen ports, and when the SYNs cross, TCP's simultaneous open
//     gives both sides the initiator's role and both handshakes fail; zeroconf
//     would report the peer again only after the record's TTL (53 min).
//     internal/nattest TestMDNSOnLAN forces the crossing every run.
//   - Stats counts validation outcomes and gossipsub's otherwise silent drops
//     (validation queue full, throttled, send queue full).
//   - Request/response protocol ids are /gridmesh/<network>/<proto>. A request and a
//     response are each one frame: uvarint length then bytes; a response frame is
//     preceded by one status byte (0 ok, 1 error text). Each side enforces its size
//     limit before reading the body, every exchange has a deadline, and inbound
//     requests are rate limited per peer and protocol.
//   - Versions: a protocol's name ends in its version (sync/2), and a host
//     may serve several versions of one protocol (one Handle each).
//     RequestFirst offers a list, most preferred first, and libp2p's
//     multistream-select agrees on the first the peer serves, so a node of
//     the next release falls back to the previous version with an older
//     peer; Speaks reports which of a list a peer announced (identify), for
//     a one-way sender to choose its frame format. Which versions gridmesh
//     serves is package wire's rule (wire: Versions). Config.Withhold builds
//     a host that does not serve some of the versions its code registers (a
//     release retiring one; a test's node of the previous release); nothing
//     takes a version away from a running host.
//   - Send and HandleMessages keep one stream per peer and protocol open and
//     write length-prefixed frames on it in order, best-effort: a full queue
//     (256 frames) or a failed write drops the frame (Stats.SendDropped); the
//     receiver bounds the frame size and each peer's rate. Among four
//     authorities gossip delivered each vote several times in a signed
//     envelope; sent this way it arrives once (DECISIONS.md).
//   - Message streams have no gossip score, so they keep their own, per
//     protocol (penalty.go): every frame the handler rejects (invalid for
//     every node: a forged signature, a frame that does not decode) and every
//     frame over the size limit is a point; points halve every minute; 10 in
//     quick succession ban the peer from that protocol for 10 minutes (its
//     open streams of it end at their next frame, new ones are reset unread;
//     Stats.Banned, Stats.StreamsRefused). Per protocol, so that a peer one
//     handler rejects (an older version's, say) keeps the others. Ignored
//     frames (late, duplicate, replayed) and frames over the rate cost
//     nothing: honest peers send those too.
//   - Stats.Protocols splits the stream bytes by protocol id, so a node can
//     show where its traffic goes.
//   - Config.Audit records a copy of every byte the host writes to any
//     stream, in the clear, for the owner to see what the node sends
//     (audit.go; ReadAudit and AuditStreams read it). It is taken where
//     streams are made: a wrapping yamux (every TCP and relayed connection
//     is upgraded through the muxer, after Noise) and a wrapping QUIC
//     transport (QUIC has its own encryption and streams). Wrapping Noise
//     instead would miss QUIC, and a host wrapper (like WrapGossip) would
//     miss identify, AutoNAT, relay and the DHT, which use the libp2p host
//     directly. The capture's data is exactly what Stats.BytesOut counts
//     (TestAuditCapture, over TCP and over QUIC). With Audit nil nothing is
//     wrapped.
//
// Measured figures (gossip latency and traffic in the 50-host simulation,
// the idle footprint) and the commands that measure them are in
// DECISIONS.md; the simulator is package p2p/p2psim (`gridmesh sim p2p`).
package p2p
