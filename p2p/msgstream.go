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
// queue is full (256 frames or 4 MiB), when the stream cannot be opened (with
// everything queued meanwhile) or fails while writing it (Stats.SendDropped);
// the caller re-sends what matters (the consensus engine re-broadcasts its votes
// and asks for missing ones).

// ErrSendQueueFull is returned by Send when the peer's queue is full.
var ErrSendQueueFull = errors.New("p2p: send queue full")

const (
	sendQueue      = 256             // frames waiting per peer and protocol
	sendQueueBytes = 4 << 20         // and their bytes
	sendIdle       = 2 * time.Minute // an idle sender closes its stream and exits
)

// outbox is the queue of one (peer, protocol) sender goroutine.
type outbox struct {
	q     chan []byte
	bytes int // queued, under Host.mu
}

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
	if o.bytes+len(payload) > sendQueueBytes {
		n.stats.sendDropped.Add(1)
		return ErrSendQueueFull
	}
	select {
	case o.q <- payload:
		o.bytes += len(payload)
		return nil
	default:
		n.stats.sendDropped.Add(1)
		return ErrSendQueueFull
	}
}

// take accounts for a frame leaving o's queue.
func (n *Host) take(o *outbox, b []byte) {
	n.mu.Lock()
	o.bytes -= len(b)
	n.mu.Unlock()
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
		case <-n.done:
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
			n.take(o, b)
			idle.Reset(sendIdle)
			if s == nil {
				ctx, cancel := context.WithTimeout(n.life(), DefaultTimeout)
				var err error
				s, err = n.h.NewStream(ctx, pid, proto)
				cancel()
				if err != nil {
					// Drop what waited meanwhile too: it is stale, and
					// trying each frame would cost a dial timeout each.
					dropped := int64(1)
					for len(o.q) > 0 {
						n.take(o, <-o.q)
						dropped++
					}
					n.stats.sendDropped.Add(dropped)
					n.log.Debug("send: no stream", "peer", pid.String(), "proto", string(proto), "dropped", dropped, "err", err)
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
// message stream. allow decides, when a peer opens a stream, whether it may
// send at all (a refused stream is reset before anything is read); fn is called
// with every frame, in order, from that stream's goroutine (a slow fn holds
// back that peer only), and judges it: Reject only for a frame invalid for
// every node (it scores the peer down; penalty.go), Ignore for one not
// wanted now. A frame larger than max ends the stream and scores the peer
// down, as does a frame whose body does not arrive within DefaultTimeout or
// a stream silent for longer than twice a sender's idle time (without
// score); frames beyond rate per second from one peer (burst twice that) are
// dropped and counted in Stats.RateLimit. A peer banned for its score is
// refused on this protocol (Stats.Banned, Stats.StreamsRefused): each
// protocol keeps its own score, so a peer an older or stricter handler
// rejects on one stream keeps the others (votes among authorities above all).
// A proto in Config.Withhold is not served: HandleMessages does nothing.
func (n *Host) HandleMessages(proto string, max int, rate float64, allow func(from ed25519.PublicKey) bool, fn func(from ed25519.PublicKey, payload []byte) Verdict) {
	if n.withheld(proto) {
		return
	}
	pid := protocol.ID(ProtocolID(n.cfg.Network, proto))
	limit := newRateLimiter(rate, 2*rate)
	box := newPenaltyBox()
	n.mu.Lock()
	n.streamRates = append(n.streamRates, limit)
	n.penalties = append(n.penalties, box)
	n.mu.Unlock()
	n.h.SetStreamHandler(pid, func(s network.Stream) {
		remote := s.Conn().RemotePeer()
		key := string(remote)
		if box.banned(key, n.now()) {
			n.stats.streamsRefused.Add(1)
			_ = s.Reset()
			return
		}
		from, err := pubKeyOf(remote)
		if err != nil || !allow(from) {
			_ = s.Reset()
			return
		}
		r := bufio.NewReader(s)
		for {
			_ = s.SetReadDeadline(time.Now().Add(2 * sendIdle))
			if _, err := r.Peek(1); err != nil { // the next frame's first byte
				n.endStream(s, pid, err)
				return
			}
			_ = s.SetReadDeadline(time.Now().Add(DefaultTimeout))
			b, err := readFrame(r, max)
			if err != nil {
				if errors.Is(err, ErrFrameTooLarge) {
					n.penalise(box, key, pid)
				}
				n.endStream(s, pid, err)
				return
			}
			if box.banned(key, n.now()) { // on another stream of this protocol
				_ = s.Reset()
				return
			}
			if !limit.allow(key, n.now()) {
				n.stats.rateLimit.Add(1)
				continue
			}
			if fn(from, b) == Reject && n.penalise(box, key, pid) {
				_ = s.Reset()
				return
			}
		}
	})
}

// penalise scores peer key down in box for a bad frame on proto and reports
// whether that banned it.
func (n *Host) penalise(box *penaltyBox, key string, proto protocol.ID) bool {
	if !box.add(key, n.now()) {
		return false
	}
	n.stats.banned.Add(1)
	n.log.Warn("peer banned from a message stream", "peer", peer.ID(key).String(), "proto", string(proto), "for", banFor)
	return true
}

// endStream closes an inbound message stream the peer ended (EOF) and resets
// it otherwise.
func (n *Host) endStream(s network.Stream, pid protocol.ID, err error) {
	if errors.Is(err, io.EOF) {
		_ = s.Close()
		return
	}
	n.log.Debug("message stream ended", "peer", s.Conn().RemotePeer().String(), "proto", string(pid), "err", err)
	_ = s.Reset()
}
