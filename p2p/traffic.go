package p2p

import (
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// byteCounter counts the bytes read from and written to the host's streams
// (gossip, requests, identify, DHT: what the protocols exchange, without the
// Noise, yamux, TCP or QUIC framing around it). It is libp2p's bandwidth
// Reporter reduced to two atomic totals: libp2p's own BandwidthCounter keeps
// rate meters with a process-wide sweeper goroutine that never stops.
type byteCounter struct{ in, out atomic.Int64 }

var _ metrics.Reporter = (*byteCounter)(nil)

func (c *byteCounter) LogSentMessage(n int64)                            { c.out.Add(n) }
func (c *byteCounter) LogRecvMessage(n int64)                            { c.in.Add(n) }
func (c *byteCounter) LogSentMessageStream(int64, protocol.ID, peer.ID)  {}
func (c *byteCounter) LogRecvMessageStream(int64, protocol.ID, peer.ID)  {}
func (c *byteCounter) GetBandwidthForPeer(peer.ID) metrics.Stats         { return metrics.Stats{} }
func (c *byteCounter) GetBandwidthForProtocol(protocol.ID) metrics.Stats { return metrics.Stats{} }
func (c *byteCounter) GetBandwidthTotals() metrics.Stats {
	return metrics.Stats{TotalIn: c.in.Load(), TotalOut: c.out.Load()}
}
func (c *byteCounter) GetBandwidthByPeer() map[peer.ID]metrics.Stats         { return nil }
func (c *byteCounter) GetBandwidthByProtocol() map[protocol.ID]metrics.Stats { return nil }
func (c *byteCounter) Reset()                                                {}
func (c *byteCounter) TrimIdle(time.Time)                                    {}
