package p2p

import (
	"sync/atomic"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Stats counts what the host's gossip validation did since it started. Gossipsub
// drops messages silently when its validation queue is full or a peer is
// throttled; QueueFull and Throttled make that visible.
type Stats struct {
	Accepted  int64 // delivered to a topic
	Malformed int64 // rejected: does not decode or too large
	Network   int64 // rejected: another network's envelope
	BadSig    int64 // rejected: signature does not verify
	Rejected  int64 // rejected by the caller's validator
	Expired   int64 // ignored: expired or too far in the future
	RateLimit int64 // ignored: signer (gossip) or peer (HandleMessages) over its rate
	Ignored   int64 // ignored by the caller's validator
	QueueFull int64 // dropped by gossipsub: validation queue full
	Throttled int64 // dropped by gossipsub: validation throttled
	Dropped   int64 // RPCs gossipsub dropped because a peer's send queue was full
	// ConnectEventsDropped counts connection events Connected could not buffer.
	ConnectEventsDropped int64
	// SendDropped counts frames Send dropped: the peer's queue was full, or
	// its stream could not be opened or written (msgstream.go).
	SendDropped int64
	// Banned counts bans of a peer from a message stream protocol for bad
	// frames, StreamsRefused the streams of banned peers reset unread
	// (penalty.go).
	Banned, StreamsRefused int64
	// BytesIn and BytesOut count what the host's streams carried (gossip,
	// requests, identify, DHT), without the Noise, yamux and transport framing.
	BytesIn, BytesOut int64
	// Protocols splits the bytes by protocol id (gossip is
	// /gridmesh/meshsub/..., the caller's streams /gridmesh/<network>/...).
	Protocols map[string]Traffic
}

type counters struct {
	accepted, malformed, network, badSig, rejected, expired, rateLimit, ignored atomic.Int64
	queueFull, throttled, dropped, connectDropped, sendDropped                  atomic.Int64
	banned, streamsRefused                                                      atomic.Int64
}

// Stats returns the host's gossip counters.
func (n *Host) Stats() Stats {
	c := &n.stats
	return Stats{
		Accepted: c.accepted.Load(), Malformed: c.malformed.Load(), Network: c.network.Load(),
		BadSig: c.badSig.Load(), Rejected: c.rejected.Load(), Expired: c.expired.Load(),
		RateLimit: c.rateLimit.Load(), Ignored: c.ignored.Load(),
		QueueFull: c.queueFull.Load(), Throttled: c.throttled.Load(), Dropped: c.dropped.Load(),
		ConnectEventsDropped: c.connectDropped.Load(), SendDropped: c.sendDropped.Load(),
		Banned: c.banned.Load(), StreamsRefused: c.streamsRefused.Load(),
		BytesIn: n.bytes.in.Load(), BytesOut: n.bytes.out.Load(),
		Protocols: n.bytes.byProtocol(),
	}
}

// tracer feeds gossipsub's silent drops into the counters.
type tracer struct{ c *counters }

func (t tracer) RejectMessage(_ *pubsub.Message, reason string) {
	switch reason {
	case pubsub.RejectValidationQueueFull:
		t.c.queueFull.Add(1)
	case pubsub.RejectValidationThrottled:
		t.c.throttled.Add(1)
	}
}
func (t tracer) DropRPC(*pubsub.RPC, peer.ID)           { t.c.dropped.Add(1) }
func (tracer) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (tracer) OnClosedOutboundStream(peer.ID)           {}
func (tracer) Join(string)                              {}
func (tracer) Leave(string)                             {}
func (tracer) Graft(peer.ID, string)                    {}
func (tracer) Prune(peer.ID, string)                    {}
func (tracer) ValidateMessage(*pubsub.Message)          {}
func (tracer) DeliverMessage(*pubsub.Message)           {}
func (tracer) DuplicateMessage(*pubsub.Message)         {}
func (tracer) ThrottlePeer(peer.ID)                     {}
func (tracer) RecvRPC(*pubsub.RPC)                      {}
func (tracer) SendRPC(*pubsub.RPC, peer.ID)             {}
func (tracer) UndeliverableMessage(*pubsub.Message)     {}
func (tracer) AddPeer(peer.ID, protocol.ID)             {}
func (tracer) RemovePeer(peer.ID)                       {}

var _ pubsub.RawTracer = tracer{}
