package p2p

import (
	"slices"
	"sync"
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

// tracer feeds gossipsub's silent drops into the counters and follows its
// meshes.
type tracer struct {
	c *counters
	m *meshes
}

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
func (t tracer) OnClosedOutboundStream(p peer.ID)       { t.m.drop(p) }
func (tracer) Join(string)                              {}
func (tracer) Leave(string)                             {}
func (t tracer) Graft(p peer.ID, topic string)          { t.m.graft(p, topic) }
func (t tracer) Prune(p peer.ID, topic string)          { t.m.prune(p, topic) }
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

// meshes is gossipsub's mesh per topic as its tracer reports it: a peer is
// grafted (at join, at a heartbeat, or by the peer's GRAFT), pruned (at a
// heartbeat, by the peer's PRUNE, on leaving) or dropped from every topic
// when its stream closes. The tracer is called from gossipsub's event loop,
// so this copy lags the router's own by at most the event being handled.
type meshes struct {
	mu sync.Mutex
	m  map[string]map[peer.ID]struct{}
}

func (ms *meshes) graft(p peer.ID, topic string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.m == nil {
		ms.m = make(map[string]map[peer.ID]struct{})
	}
	if ms.m[topic] == nil {
		ms.m[topic] = make(map[peer.ID]struct{})
	}
	ms.m[topic][p] = struct{}{}
}

func (ms *meshes) prune(p peer.ID, topic string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	delete(ms.m[topic], p)
}

func (ms *meshes) drop(p peer.ID) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, peers := range ms.m {
		delete(peers, p)
	}
}

// peers returns the ids of topic's mesh peers, sorted.
func (ms *meshes) peers(topic string) []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	out := make([]string, 0, len(ms.m[topic]))
	for p := range ms.m[topic] {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}
