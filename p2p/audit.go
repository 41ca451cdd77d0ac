package p2p

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	tpt "github.com/libp2p/go-libp2p/core/transport"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	ma "github.com/multiformats/go-multiaddr"
)

// The audit capture (Config.Audit) is a copy of every byte the host writes
// to a stream of any of its connections, in the clear: what goes into Noise
// (TCP and relayed connections, below yamux) or into QUIC's TLS, before any
// encryption. It is taken where streams are made, so nothing the host sends
// on a stream escapes it, whichever protocol wrote it: gossipsub, the
// request/response and message streams, identify, ping, AutoNAT, circuit
// relay, hole punching, the DHT. Not in it: the handshakes of Noise and TLS
// (which carry the node's public key and the list of muxers), yamux's and
// QUIC's own frame headers, window updates and pings, the cleartext
// multistream-select of a TCP connection (protocol names only), and mDNS
// (multicast DNS on the LAN, outside any connection: the peer id and its
// addresses). A relayed connection's bytes appear twice: in the clear on the
// relayed connection, and encrypted inside the circuit relay stream to the
// relay.
//
// The format, which ReadAudit reads, is the magic line AuditMagic and then
// records, each one uvarint length followed by that many bytes:
//
//	kind (1 byte) | unix time in nanoseconds (8 bytes, big-endian) | stream (uvarint) | rest
//
// kind 'S' starts a stream, before its first data: rest is the direction
// ('o' opened by this host, 'i' opened by the peer), the peer id (uvarint
// length, text) and the peer's address (uvarint length, text; a multiaddr
// for QUIC, host:port for TCP, the relay's for a relayed connection).
// kind 'D' is data this host wrote on the stream: rest is the bytes, at most
// AuditChunk of them (a larger write becomes several records). Stream
// numbers count from 1 in the order streams first write.

// AuditMagic begins every audit capture.
const AuditMagic = "gridmesh-audit/1\n"

// AuditChunk is the most data one record of the capture holds.
const AuditChunk = 64 << 10

// Record kinds of the audit capture.
const (
	auditStart = 'S'
	auditData  = 'D'
)

// auditor writes the capture. Records are written whole, one Write each, in
// the order the host's streams wrote their bytes. When a Write fails (the
// writer's size cap is reached, the disk is full) the auditor stops: it
// writes nothing more, and says so once in the log.
type auditor struct {
	log     *slog.Logger
	now     func() time.Time
	streams atomic.Uint64 // the last stream number given out
	stopped atomic.Bool

	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func newAuditor(w io.Writer, log *slog.Logger) (*auditor, error) {
	if _, err := io.WriteString(w, AuditMagic); err != nil {
		return nil, err
	}
	return &auditor{w: w, log: log, now: time.Now}, nil
}

// record writes one record of kind for stream, with head then data as its
// rest.
func (a *auditor) record(kind byte, stream uint64, head, data []byte) {
	if a.stopped.Load() {
		return
	}
	t := a.now().UnixNano()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped.Load() { // another write failed while this one waited
		return
	}
	var hdr [1 + 8 + binary.MaxVarintLen64]byte
	hdr[0] = kind
	binary.BigEndian.PutUint64(hdr[1:], uint64(t))
	h := binary.AppendUvarint(hdr[:9], stream)
	b := binary.AppendUvarint(a.buf[:0], uint64(len(h)+len(head)+len(data)))
	b = append(append(append(b, h...), head...), data...)
	a.buf = b[:0] // at most a chunk and a header: data comes in AuditChunk pieces
	if _, err := a.w.Write(b); err != nil && !a.stopped.Swap(true) {
		a.log.Warn("the audit capture stopped: nothing more is recorded", "err", err)
	}
}

// wrap returns s recording what is written to it.
func (a *auditor) wrap(s network.MuxedStream, p peer.ID, addr string, outbound bool) network.MuxedStream {
	return &auditStream{MuxedStream: s, a: a, peer: p, addr: addr, outbound: outbound}
}

// auditStream records the bytes written to its stream. Its stream record is
// written at the first write, so streams that never write leave no trace.
type auditStream struct {
	network.MuxedStream
	a        *auditor
	peer     peer.ID
	addr     string
	outbound bool
	once     sync.Once
	id       uint64
}

func (s *auditStream) Write(p []byte) (int, error) {
	n, err := s.MuxedStream.Write(p)
	if n <= 0 || s.a.stopped.Load() {
		return n, err
	}
	s.once.Do(func() {
		s.id = s.a.streams.Add(1)
		dir := byte('i')
		if s.outbound {
			dir = 'o'
		}
		head := append([]byte{dir}, binary.AppendUvarint(nil, uint64(len(s.peer.String())))...)
		head = append(head, s.peer.String()...)
		head = binary.AppendUvarint(head, uint64(len(s.addr)))
		head = append(head, s.addr...)
		s.a.record(auditStart, s.id, head, nil)
	})
	for b := p[:n]; len(b) > 0; {
		c := b[:min(len(b), AuditChunk)]
		s.a.record(auditData, s.id, nil, c)
		b = b[len(c):]
	}
	return n, err
}

// auditMuxer is yamux whose connections' streams are recorded: the one
// place every upgraded connection (TCP, and relayed connections over any
// transport) makes its streams, after Noise has authenticated the peer.
type auditMuxer struct {
	network.Multiplexer
	a *auditor
}

func (m auditMuxer) NewConn(c net.Conn, isServer bool, scope network.PeerScope) (network.MuxedConn, error) {
	mc, err := m.Multiplexer.NewConn(c, isServer, scope)
	if err != nil {
		return nil, err
	}
	var p peer.ID
	if scope != nil {
		p = scope.Peer()
	}
	if rp, ok := c.(interface{ RemotePeer() peer.ID }); ok && p == "" {
		p = rp.RemotePeer()
	}
	addr := ""
	if ra := c.RemoteAddr(); ra != nil {
		addr = ra.String()
	}
	return &auditMuxedConn{MuxedConn: mc, a: m.a, peer: p, addr: addr}, nil
}

type auditMuxedConn struct {
	network.MuxedConn
	a    *auditor
	peer peer.ID
	addr string
}

func (c *auditMuxedConn) OpenStream(ctx context.Context) (network.MuxedStream, error) {
	s, err := c.MuxedConn.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	return c.a.wrap(s, c.peer, c.addr, true), nil
}

func (c *auditMuxedConn) AcceptStream() (network.MuxedStream, error) {
	s, err := c.MuxedConn.AcceptStream()
	if err != nil {
		return nil, err
	}
	return c.a.wrap(s, c.peer, c.addr, false), nil
}

// auditQUIC is libp2p's QUIC transport whose connections' streams are
// recorded: QUIC brings its own encryption and streams, so its connections
// never pass the muxer.
type auditQUIC struct {
	tpt.Transport
	a *auditor
}

// auditOptions returns the transport and muxer options of a host that
// records its streams to a; without a, the plain ones.
func auditOptions(a *auditor) []libp2p.Option {
	if a == nil {
		return []libp2p.Option{
			libp2p.Transport(quic.NewTransport),
			libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		}
	}
	newQUIC := func(key ic.PrivKey, cm *quicreuse.ConnManager, psk pnet.PSK, gater connmgr.ConnectionGater, rcmgr network.ResourceManager) (tpt.Transport, error) {
		t, err := quic.NewTransport(key, cm, psk, gater, rcmgr)
		if err != nil {
			return nil, err
		}
		return &auditQUIC{Transport: t, a: a}, nil
	}
	return []libp2p.Option{
		libp2p.Transport(newQUIC),
		libp2p.Muxer(yamux.ID, auditMuxer{Multiplexer: yamux.DefaultTransport, a: a}),
	}
}

func (t *auditQUIC) Dial(ctx context.Context, raddr ma.Multiaddr, p peer.ID) (tpt.CapableConn, error) {
	c, err := t.Transport.Dial(ctx, raddr, p)
	if err != nil {
		return nil, err
	}
	return &auditCapableConn{CapableConn: c, a: t.a}, nil
}

func (t *auditQUIC) Listen(laddr ma.Multiaddr) (tpt.Listener, error) {
	l, err := t.Transport.Listen(laddr)
	if err != nil {
		return nil, err
	}
	return auditListener{Listener: l, a: t.a}, nil
}

// ListenOrder and Close pass on what the swarm asks of the QUIC transport.
func (t *auditQUIC) ListenOrder() int {
	if o, ok := t.Transport.(interface{ ListenOrder() int }); ok {
		return o.ListenOrder()
	}
	return 0
}

func (t *auditQUIC) Close() error {
	if c, ok := t.Transport.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

type auditListener struct {
	tpt.Listener
	a *auditor
}

func (l auditListener) Accept() (tpt.CapableConn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &auditCapableConn{CapableConn: c, a: l.a}, nil
}

type auditCapableConn struct {
	tpt.CapableConn
	a *auditor
}

func (c *auditCapableConn) OpenStream(ctx context.Context) (network.MuxedStream, error) {
	s, err := c.CapableConn.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	return c.a.wrap(s, c.RemotePeer(), c.RemoteMultiaddr().String(), true), nil
}

func (c *auditCapableConn) AcceptStream() (network.MuxedStream, error) {
	s, err := c.CapableConn.AcceptStream()
	if err != nil {
		return nil, err
	}
	return c.a.wrap(s, c.RemotePeer(), c.RemoteMultiaddr().String(), false), nil
}
