package p2psim

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"
)

// linkModel injects loss and delay into gossipsub traffic. It wraps the host that
// gossipsub writes through: gossipsub writes each RPC with exactly one Write on its
// outbound stream, so the model sees whole RPCs.
//
//   - Loss drops an RPC that carries at least one published message with
//     probability Loss (control-only RPCs, such as subscriptions, always pass: over
//     TCP or QUIC lost packets are retransmitted, so what a real network loses is
//     whole messages, in overloaded queues);
//   - Latency delays every RPC by Latency, in order, without limiting throughput.
type linkModel struct {
	Loss    float64
	Latency time.Duration

	mu  sync.Mutex
	rng *rand.Rand

	sent, received atomic.Int64 // gossipsub bytes through this host's streams
}

func newLinkModel(loss float64, latency time.Duration, seed uint64) *linkModel {
	return &linkModel{Loss: loss, Latency: latency, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (lm *linkModel) drop(rpc []byte) bool {
	if lm.Loss <= 0 {
		return false
	}
	size, k := binary.Uvarint(rpc)
	if k <= 0 || uint64(len(rpc)-k) < size {
		return false
	}
	var m pb.RPC
	if err := proto.Unmarshal(rpc[k:k+int(size)], &m); err != nil || len(m.Publish) == 0 {
		return false
	}
	lm.mu.Lock()
	defer lm.mu.Unlock()
	return lm.rng.Float64() < lm.Loss
}

// shapedHost is a host whose gossipsub streams go through a linkModel
// (p2p.Config.WrapGossip).
type shapedHost struct {
	host.Host
	lm *linkModel
}

func (h shapedHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, func(s network.Stream) {
		handler(countedStream{Stream: s, lm: h.lm})
	})
}

// countedStream counts the bytes read from an inbound gossipsub stream.
type countedStream struct {
	network.Stream
	lm *linkModel
}

func (s countedStream) Read(b []byte) (int, error) {
	n, err := s.Stream.Read(b)
	s.lm.received.Add(int64(n))
	return n, err
}

func (h shapedHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	return newShapedStream(s, h.lm), nil
}

type delayed struct {
	due time.Time
	b   []byte
}

type shapedStream struct {
	network.Stream
	lm    *linkModel
	queue chan delayed
	done  chan struct{}
	once  sync.Once
}

func newShapedStream(s network.Stream, lm *linkModel) *shapedStream {
	ss := &shapedStream{Stream: s, lm: lm, done: make(chan struct{})}
	if lm.Latency > 0 {
		ss.queue = make(chan delayed, 4096)
		go ss.deliver()
	}
	return ss
}

func (s *shapedStream) Write(b []byte) (int, error) {
	if s.lm.drop(b) {
		return len(b), nil
	}
	if s.queue == nil {
		n, err := s.Stream.Write(b)
		s.lm.sent.Add(int64(n))
		return n, err
	}
	select {
	case s.queue <- delayed{due: time.Now().Add(s.lm.Latency), b: append([]byte(nil), b...)}:
		return len(b), nil
	case <-s.done:
		return 0, network.ErrReset
	}
}

// deliver writes queued RPCs when they are due; it ends when the stream does.
func (s *shapedStream) deliver() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case d := <-s.queue:
			if wait := time.Until(d.due); wait > 0 {
				t.Reset(wait)
				select {
				case <-s.done:
					return
				case <-t.C:
				}
			}
			n, err := s.Stream.Write(d.b)
			s.lm.sent.Add(int64(n))
			if err != nil {
				s.stop()
				return
			}
		}
	}
}

func (s *shapedStream) stop() { s.once.Do(func() { close(s.done) }) }

func (s *shapedStream) Close() error { s.stop(); return s.Stream.Close() }
func (s *shapedStream) Reset() error { s.stop(); return s.Stream.Reset() }

// wrap is the linkModel's p2p.Config.WrapGossip.
func (lm *linkModel) wrap(h host.Host) host.Host { return shapedHost{Host: h, lm: lm} }
