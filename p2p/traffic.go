package p2p

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// byteCounter counts the bytes read from and written to the host's streams
// (gossip, requests, identify, DHT: what the protocols exchange, without the
// Noise, yamux, TCP or QUIC framing around it). It is libp2p's bandwidth
// Reporter reduced to atomic totals, overall and per protocol: libp2p's own
// BandwidthCounter keeps rate meters with a process-wide sweeper goroutine
// that never stops. The protocols are the few the host speaks, so the map
// stays small; libp2p reports a stream's bytes before its protocol is
// negotiated (multistream-select) under the empty id "".
type byteCounter struct {
	in, out atomic.Int64
	proto   sync.Map // protocol.ID -> *protoBytes
}

type protoBytes struct{ in, out atomic.Int64 }

var _ metrics.Reporter = (*byteCounter)(nil)

func (c *byteCounter) of(p protocol.ID) *protoBytes {
	if v, ok := c.proto.Load(p); ok {
		return v.(*protoBytes)
	}
	v, _ := c.proto.LoadOrStore(p, new(protoBytes))
	return v.(*protoBytes)
}

func (c *byteCounter) LogSentMessage(n int64)                                 { c.out.Add(n) }
func (c *byteCounter) LogRecvMessage(n int64)                                 { c.in.Add(n) }
func (c *byteCounter) LogSentMessageStream(n int64, p protocol.ID, _ peer.ID) { c.of(p).out.Add(n) }
func (c *byteCounter) LogRecvMessageStream(n int64, p protocol.ID, _ peer.ID) { c.of(p).in.Add(n) }
func (c *byteCounter) GetBandwidthForPeer(peer.ID) metrics.Stats              { return metrics.Stats{} }
func (c *byteCounter) GetBandwidthForProtocol(protocol.ID) metrics.Stats      { return metrics.Stats{} }
func (c *byteCounter) GetBandwidthTotals() metrics.Stats {
	return metrics.Stats{TotalIn: c.in.Load(), TotalOut: c.out.Load()}
}
func (c *byteCounter) GetBandwidthByPeer() map[peer.ID]metrics.Stats         { return nil }
func (c *byteCounter) GetBandwidthByProtocol() map[protocol.ID]metrics.Stats { return nil }
func (c *byteCounter) Reset()                                                {}
func (c *byteCounter) TrimIdle(time.Time)                                    {}

// Traffic is what a host's streams of one protocol carried since it started.
type Traffic struct {
	In  int64 `json:"in"`
	Out int64 `json:"out"`
}

// byProtocol returns the bytes per protocol id.
func (c *byteCounter) byProtocol() map[string]Traffic {
	m := make(map[string]Traffic)
	c.proto.Range(func(k, v any) bool {
		b := v.(*protoBytes)
		m[string(k.(protocol.ID))] = Traffic{In: b.in.Load(), Out: b.out.Load()}
		return true
	})
	return m
}
