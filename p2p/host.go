package p2p

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// Host is a running libp2p node. All methods are safe for concurrent use.
type Host struct {
	cfg   Config
	log   *slog.Logger
	h     host.Host
	ps    *pubsub.PubSub
	cm    *connmgr.BasicConnMgr
	gater *gater
	pub   ed25519.PublicKey
	now   func() time.Time
	// done is closed by Close (stop): the host's lifetime, from which its
	// goroutines and the libp2p calls they make take their context (life).
	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup // every goroutine of the host
	mdns     mdns.Service
	dht      *dht.IpfsDHT // nil unless Config.DHT

	stats     counters
	meshes    meshes // gossipsub's mesh per topic (MeshPeers)
	bytes     *byteCounter
	msgRate   *rateLimiter                        // per envelope signer, gossip
	unlimited atomic.Pointer[map[string]struct{}] // signers exempt from msgRate (Config.Unlimited, SetUnlimited)
	reqRate   *rateLimiter                        // per peer and protocol, requests

	mu     sync.Mutex
	topics map[string]*Topic
	reach  string
	closed bool
	kick   map[peer.ID]chan struct{} // wakes the redial loop of a bootstrap/direct peer
	// outboxes are Send's queues by peer and protocol (msgstream.go);
	// streamRates are HandleMessages' per-peer limiters, swept with the others.
	outboxes    map[string]*outbox
	streamRates []*rateLimiter
	penalties   []*penaltyBox       // HandleMessages' bad peers, per protocol (penalty.go)
	scores      map[peer.ID]float64 // gossipsub peer scores, refreshed every second

	connected chan string // see Connected
}

// connectedBuffer bounds the connection events waiting for the reader of
// Connected; more are dropped (and counted in Stats.ConnectEventsDropped).
const connectedBuffer = 1024

// Connected delivers the peer id of every connection this host opens or
// accepts, so that a caller can exchange state with a peer that just (re)joined,
// for example after a partition healed, however briefly it was cut off. Only
// one reader should consume it. A peer with several connections appears once
// per connection. The event comes before gossipsub has heard the peer's
// subscriptions: gossip published at that moment may never reach the peer,
// so exchange state with it over a request stream, or publish once it is in
// the topic's mesh (Topic.MeshPeers).
func (n *Host) Connected() <-chan string { return n.connected }

func (n *Host) onConnected(_ network.Network, c network.Conn) {
	select {
	case n.connected <- c.RemotePeer().String():
	default:
		n.stats.connectDropped.Add(1)
	}
}

// New starts a host. ctx bounds the start only: New fails with ctx's error
// if ctx has ended by the time the host is up. The host then lives until
// Close, which must be called, whatever becomes of ctx; it keeps no context
// (its goroutines end when Close cancels them).
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Host, error) {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	priv, boot, direct, err := checkConfig(cfg)
	if err != nil {
		return nil, err
	}
	var audit *auditor
	if cfg.Audit != nil {
		if audit, err = newAuditor(cfg.Audit, log); err != nil {
			return nil, fmt.Errorf("p2p: audit capture: %w", err)
		}
	}
	h, cm, gt, bc, err := newLibp2p(cfg, priv, append(slices.Clone(boot), direct...), audit)
	if err != nil {
		return nil, err
	}
	n := &Host{
		cfg:       cfg,
		log:       log,
		h:         h,
		cm:        cm,
		gater:     gt,
		bytes:     bc,
		pub:       cfg.Key.Public().(ed25519.PublicKey),
		now:       time.Now,
		done:      make(chan struct{}),
		msgRate:   newRateLimiter(float64(cfg.SenderRate), float64(2*cfg.SenderRate)),
		reqRate:   newRateLimiter(float64(cfg.PeerReqRate), float64(2*cfg.PeerReqRate)),
		topics:    make(map[string]*Topic),
		reach:     "unknown",
		kick:      make(map[peer.ID]chan struct{}),
		outboxes:  make(map[string]*outbox),
		connected: make(chan string, connectedBuffer),
	}
	n.SetUnlimited(cfg.Unlimited)
	if err := n.start(boot, direct); err != nil {
		n.abort()
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		n.Close()
		return nil, err
	}
	log.Info("p2p host started", "id", h.ID().String(), "addrs", n.Addrs())
	return n, nil
}

// checkConfig validates cfg (defaults set) and parses its key and peers.
func checkConfig(cfg Config) (priv crypto.PrivKey, boot, direct []peer.AddrInfo, err error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, nil, nil, fmt.Errorf("%w: key must be an ed25519 private key", ErrConfig)
	}
	if cfg.Network == "" || len(cfg.Network) > MaxNetworkLen || strings.ContainsAny(cfg.Network, "/ \t\n") {
		return nil, nil, nil, fmt.Errorf("%w: network id %q", ErrConfig, cfg.Network)
	}
	priv, err = crypto.UnmarshalEd25519PrivateKey(cfg.Key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: node key: %v", ErrConfig, err)
	}
	if boot, err = parseAddrInfos(cfg.Bootstrap); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: bootstrap: %v", ErrConfig, err)
	}
	if direct, err = parseAddrInfos(cfg.Direct); err != nil {
		return nil, nil, nil, fmt.Errorf("%w: direct: %v", ErrConfig, err)
	}
	return priv, boot, direct, nil
}

// newLibp2p builds the libp2p host with its resource manager, connection
// manager, gater and byte counter; natPeers are the relay candidates; audit,
// if not nil, records every stream's bytes (audit.go).
func newLibp2p(cfg Config, priv crypto.PrivKey, natPeers []peer.AddrInfo, audit *auditor) (host.Host, *connmgr.BasicConnMgr, *gater, *byteCounter, error) {
	rm, err := newResourceManager(cfg)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, connmgr.WithGracePeriod(30*time.Second))
	if err != nil {
		rm.Close()
		return nil, nil, nil, nil, fmt.Errorf("connection manager: %w", err)
	}
	gt := &gater{}
	bc := &byteCounter{}
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(gt),
		libp2p.DisableMetrics(),
		libp2p.BandwidthReporter(bc),
		libp2p.UserAgent("gridmesh"),
	}
	opts = append(opts, auditOptions(audit)...) // QUIC and yamux, recorded or not
	opts = append(opts, natOptions(cfg, natPeers)...)
	if len(cfg.Listen) > 0 {
		opts = append(opts, libp2p.ListenAddrStrings(cfg.Listen...))
	} else {
		opts = append(opts, libp2p.NoListenAddrs)
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		cm.Close()
		rm.Close()
		return nil, nil, nil, nil, fmt.Errorf("libp2p host: %w", err)
	}
	return h, cm, gt, bc, nil
}

// start starts gossipsub, the keep-alive loops of the bootstrap and direct
// peers, mDNS and the DHT if configured, and the limiter sweeper.
func (n *Host) start(boot, direct []peer.AddrInfo) error {
	if err := n.startReachability(); err != nil {
		return err
	}
	var psHost host.Host = n.h
	if n.cfg.WrapGossip != nil {
		psHost = n.cfg.WrapGossip(n.h)
	}
	ps, err := pubsub.NewGossipSub(n.life(), psHost, n.pubsubOptions(direct)...)
	if err != nil {
		return fmt.Errorf("gossipsub: %w", err)
	}
	n.ps = ps
	n.h.Network().Notify(&network.NotifyBundle{DisconnectedF: n.onDisconnected, ConnectedF: n.onConnected})
	for _, ai := range boot {
		n.keepConnected(ai, "bootstrap")
	}
	for _, ai := range direct {
		n.keepConnected(ai, "direct")
	}
	if n.cfg.MDNS {
		n.mdns = mdns.NewMdnsService(n.h, "_gridmesh-"+n.cfg.Network+"._udp", mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			return fmt.Errorf("mdns: %w", err)
		}
	}
	if n.cfg.DHT {
		if err := n.startDHT(append(slices.Clone(boot), direct...)); err != nil {
			return err
		}
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.sweepLimiters()
	}()
	return nil
}

// abort undoes a start that failed part way.
func (n *Host) abort() {
	if n.mdns != nil {
		_ = n.mdns.Close()
	}
	n.stop()
	n.wg.Wait()
	if n.dht != nil {
		_ = n.dht.Close()
	}
	_ = n.h.Close()
}

// startReachability follows AutoNAT's reachability events.
func (n *Host) startReachability() error {
	sub, err := n.h.EventBus().Subscribe(new(event.EvtLocalReachabilityChanged))
	if err != nil {
		return fmt.Errorf("subscribe reachability: %w", err)
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer sub.Close()
		for {
			select {
			case <-n.done:
				return
			case ev, ok := <-sub.Out():
				if !ok {
					return
				}
				r := ev.(event.EvtLocalReachabilityChanged).Reachability
				n.mu.Lock()
				n.reach = strings.ToLower(r.String())
				n.mu.Unlock()
			}
		}
	}()
	return nil
}

// SetUnlimited replaces the signers exempt from SenderRate (Config.Unlimited),
// for a network whose authority set changes.
func (n *Host) SetUnlimited(keys []ed25519.PublicKey) {
	m := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		m[string(k)] = struct{}{}
	}
	n.unlimited.Store(&m)
}

// IsUnlimited reports whether signer is exempt from SenderRate.
func (n *Host) IsUnlimited(signer ed25519.PublicKey) bool {
	_, ok := (*n.unlimited.Load())[string(signer)]
	return ok
}

// ID returns the host's peer id.
func (n *Host) ID() string { return n.h.ID().String() }

// PublicKey returns the node's ed25519 public key.
func (n *Host) PublicKey() ed25519.PublicKey { return n.pub }

// Addrs returns the host's listen addresses as full multiaddrs ending in /p2p/<id>, sorted.
func (n *Host) Addrs() []string {
	suffix := "/p2p/" + n.h.ID().String()
	var out []string
	for _, a := range n.h.Addrs() {
		out = append(out, a.String()+suffix)
	}
	sort.Strings(out)
	return out
}

// ConnAddrs returns the remote multiaddrs of the host's current connections
// to the peer id, sorted; a relayed connection's address contains
// /p2p-circuit. It is empty when no connection is open or id is malformed.
func (n *Host) ConnAddrs(id string) []string {
	p, err := peer.Decode(id)
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range n.h.Network().ConnsToPeer(p) {
		out = append(out, c.RemoteMultiaddr().String())
	}
	sort.Strings(out)
	return out
}

// Via says how this host reaches peer id: "direct" if one of its connections
// is not relayed, "relay" if all go through a circuit relay (/p2p-circuit),
// "" if it has none.
func (n *Host) Via(id string) string { return via(n.ConnAddrs(id)) }

func via(conns []string) string {
	if len(conns) == 0 {
		return ""
	}
	for _, c := range conns {
		if !strings.Contains(c, "/p2p-circuit") {
			return "direct"
		}
	}
	return "relay"
}

// Peers returns the ids of connected peers, sorted.
func (n *Host) Peers() []string {
	ps := n.h.Network().Peers()
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	sort.Strings(out)
	return out
}

// Reachability is "public", "private" or "unknown" as AutoNAT last reported.
func (n *Host) Reachability() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reach
}

// Close stops every goroutine of the host, leaves all topics and closes the host.
func (n *Host) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	topics := make([]*Topic, 0, len(n.topics))
	for _, t := range n.topics {
		topics = append(topics, t)
	}
	n.mu.Unlock()

	for _, t := range topics {
		t.close()
	}
	var errs []error
	if n.mdns != nil {
		errs = append(errs, n.mdns.Close())
	}
	n.stop()
	n.wg.Wait()
	if n.dht != nil {
		errs = append(errs, n.dht.Close())
	}
	errs = append(errs, n.h.Close())
	return errors.Join(errs...)
}

// sleep waits d, or less if the host closes; it reports whether the host is
// still open.
func (n *Host) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-n.done:
		return false
	case <-t.C:
		return true
	}
}

// spawn runs f in a goroutine the host waits for on Close, unless it is closing.
func (n *Host) spawn(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// stop ends the host's lifetime: life's contexts end, the goroutines return.
func (n *Host) stop() { n.stopOnce.Do(func() { close(n.done) }) }

// life returns a context that ends when the host closes, for the host's
// goroutines and the libp2p calls they make. The host stores no context
// (STYLE.md): only the done channel, which Close closes.
func (n *Host) life() context.Context { return untilClosed(n.done) }

// untilClosed is a context whose Done is the host's done channel.
type untilClosed <-chan struct{}

func (c untilClosed) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c untilClosed) Done() <-chan struct{}       { return c }
func (c untilClosed) Value(any) any               { return nil }
func (c untilClosed) Err() error {
	select {
	case <-c:
		return context.Canceled
	default:
		return nil
	}
}
