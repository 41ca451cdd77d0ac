package p2p

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// One-way message streams. Gossip suits a message that must reach many peers
// through a few; it costs a few copies per peer and a signed envelope around
// every message. A message for a few known peers that are connected to each
// other anyway (an authority's votes for the other authorities) is cheaper
// sent straight to each: it arrives once, and the connection authenticates its
// sender. Send keeps one stream per peer and protocol open and writes
// length-prefixed frames in order; HandleMessages reads them.
//
// Delivery is best-effort, like gossip: a frame is dropped when the peer's
// queue is full (Stats.SendDropped) or the stream fails while writing it; the
// caller re-sends what matters (the consensus engine re-broadcasts its votes
// and asks for missing ones).

// ErrSendQueueFull is returned by Send when the peer's queue is full.
var ErrSendQueueFull = errors.New("p2p: send queue full")

const (
	sendQueue = 256             // frames waiting per peer and protocol
	sendIdle  = 2 * time.Minute // an idle sender closes its stream and exits
)

// outbox is the queue of one (peer, protocol) sender goroutine.
type outbox struct{ q chan []byte }

// Send queues payload for peerID on proto (under /gridmesh/<network>/). It
// never blocks: the frame waits in the peer's queue, and a goroutine per peer
// and protocol opens the stream (dialling if needed) and writes the queue in
// order.
func (n *Host) Send(peerID, proto string, payload []byte) error {
	pid, err := peer.Decode(peerID)
	if err != nil {
		return err
	}
	key := peerID + " " + proto
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	o := n.outboxes[key]
	if o == nil {
		o = &outbox{q: make(chan []byte, sendQueue)}
		n.outboxes[key] = o
		n.wg.Add(1)
		go n.runOutbox(key, pid, protocol.ID(ProtocolID(n.cfg.Network, proto)), o)
	}
	select {
	case o.q <- payload:
		return nil
	default:
		n.stats.sendDropped.Add(1)
		return ErrSendQueueFull
	}
}

// runOutbox writes o's frames to one stream to pid, opening it when needed,
// until the host closes or the queue stays empty for sendIdle.
func (n *Host) runOutbox(key string, pid peer.ID, proto protocol.ID, o *outbox) {
	defer n.wg.Done()
	var s network.Stream
	defer func() {
		if s != nil {
			_ = s.Close()
		}
	}()
	idle := time.NewTimer(sendIdle)
	defer idle.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-idle.C:
			n.mu.Lock()
			if len(o.q) == 0 {
				delete(n.outboxes, key)
				n.mu.Unlock()
				return
			}
			n.mu.Unlock()
			idle.Reset(sendIdle)
		case b := <-o.q:
			idle.Reset(sendIdle)
			if s == nil {
				ctx, cancel := context.WithTimeout(n.ctx, DefaultTimeout)
				var err error
				s, err = n.h.NewStream(ctx, pid, proto)
				cancel()
				if err != nil {
					n.stats.sendDropped.Add(1)
					n.log.Debug("send: no stream", "peer", pid.String(), "proto", string(proto), "err", err)
					s = nil
					continue
				}
			}
			_ = s.SetWriteDeadline(time.Now().Add(DefaultTimeout))
			if err := writeFrame(s, b); err != nil {
				n.stats.sendDropped.Add(1)
				_ = s.Reset()
				s = nil
			}
		}
	}
}

// HandleMessages serves proto (under /gridmesh/<network>/) as a one-way
// message stream: fn is called with every frame a peer sends, in order, from
// that stream's goroutine (a slow fn holds back that peer only). A frame larger
// than max ends the stream; frames beyond rate per second from one peer
// (burst twice that) are dropped and counted in Stats.RateLimit.
func (n *Host) HandleMessages(proto string, max int, rate float64, fn func(from ed25519.PublicKey, payload []byte)) {
	pid := protocol.ID(ProtocolID(n.cfg.Network, proto))
	limit := newRateLimiter(rate, 2*rate)
	n.h.SetStreamHandler(pid, func(s network.Stream) {
		remote := s.Conn().RemotePeer()
		from, err := pubKeyOf(remote)
		if err != nil {
			_ = s.Reset()
			return
		}
		r := bufio.NewReader(s)
		for {
			b, err := readFrame(r, max)
			if err != nil {
				if errors.Is(err, io.EOF) {
					_ = s.Close()
				} else {
					n.log.Debug("message stream ended", "peer", remote.String(), "proto", string(pid), "err", err)
					_ = s.Reset()
				}
				return
			}
			if !limit.allow(string(remote), n.now()) {
				n.stats.rateLimit.Add(1)
				continue
			}
			fn(from, b)
		}
	})
}
