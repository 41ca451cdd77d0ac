// Package p2p is gridmesh's network layer: a libp2p host built from the node's
// ed25519 key, gossipsub topics that carry signed envelopes, and size-, time- and
// rate-limited request/response streams. It carries bytes and knows nothing of
// markets, orders or blocks.
//
// Imports: the standard library, go-libp2p and go-libp2p-pubsub. Nothing of
// gridmesh (enforced by the repository's import test).
//
// Decisions recorded here:
//
//   - Transports are TCP and QUIC only, secured by Noise and multiplexed by yamux.
//     The resource manager uses explicit limits sized for a 512 MB Raspberry Pi
//     (64 MiB for the whole stack, at most 128 connections) and the connection
//     manager keeps ConnLow..ConnHigh peers (16/32 by default). Bootstrap and
//     direct peers are protected from trimming.
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
//     expiry); receivers deduplicate payloads themselves.
//   - Topic validation order: decode (strict, size-limited) → network → expiry →
//     per-peer rate → signature → the caller's validator. Malformed, foreign-network
//     and badly signed envelopes are rejected (the forwarding peer is penalised by
//     peer scoring); expired, future and rate-exceeding ones are ignored.
//   - Request/response protocol ids are /gridmesh/<network>/<proto>. A request and a
//     response are each one frame: uvarint length then bytes; a response frame is
//     preceded by one status byte (0 ok, 1 error text). Each side enforces its size
//     limit before reading the body, every exchange has a deadline, and inbound
//     requests are rate limited per peer and protocol.
package p2p
