// Package p2psim is the gossip simulator behind `gridmesh sim p2p`: it starts
// many real p2p hosts (package p2p: Noise, yamux, gossipsub with signed
// envelopes and peer scoring) in one process on loopback TCP, connects them
// as a ring plus random peers, gossips signed order-sized payloads and
// measures latency to every host, delivery, duplicates, gossip bytes per host
// and the process's peak RSS and goroutines.
//
// Contracts and decisions:
//
//   - Run closes every host it started before it returns, also on error; its
//     result is deterministic in Config.Seed for topology, publishers and
//     loss (timings are not).
//   - Loss and delay come from a wrapper around the host that gossipsub
//     reads and writes through (shape.go, installed with p2p.Config.
//     WrapGossip). Loss drops whole gossip RPCs that carry messages: over TCP
//     and QUIC lost packets are retransmitted, so what a real network loses
//     is whole messages, in overloaded queues. Control-only RPCs always pass.
//     Latency delays every RPC, in order, without limiting throughput.
//   - Publishing starts once every host has heard all its connected peers
//     subscribe and its mesh holds gossipsub's low-water degree (D-1) of
//     peers, or all of them if fewer (p2p.Topic.MeshPeers): a payload
//     published before that would reach only direct neighbours at first.
//   - With loss the publishers re-announce (fresh envelopes, same payload),
//     as the node does; Next on each host deduplicates, and a second delivery
//     of a payload to one host is counted as a duplicate.
//   - It reads /proc/self/status for the peak RSS: the figures are the whole
//     process's, so run it alone. Measured figures and their commands are in
//     p2p/DECISIONS.md.
//
// Imports: p2p of gridmesh (enforced by internal/deptest), go-libp2p and
// go-libp2p-pubsub (the stream wrapper and the RPC decoder), protobuf and the
// standard library. Nothing in the node links it except cmd/gridmesh's
// `sim p2p` command.
package p2psim
