package p2p

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// Gossipsub protocol ids of gridmesh. Nodes speak only these, never the public
// /meshsub/ ids, so they cannot join a public mesh by accident.
const (
	GossipSubID11 = protocol.ID("/gridmesh/meshsub/1.1.0")
	GossipSubID12 = protocol.ID("/gridmesh/meshsub/1.2.0")
)

// Defaults for Config fields left zero.
const (
	DefaultConnLow      = 16
	DefaultConnHigh     = 32
	DefaultMessageTTL   = 2 * time.Minute
	DefaultClockSkew    = 30 * time.Second
	DefaultTimeout      = 10 * time.Second
	DefaultSenderRate   = 100 // gossip messages per second from one signer
	DefaultPeerReqRate  = 10  // requests per second per peer and protocol
	DefaultMemoryLimit  = 64 << 20
	DefaultMaxConns     = 128
	bootstrapMinBackoff = 500 * time.Millisecond
	bootstrapMaxBackoff = 30 * time.Second
	bootstrapPoll       = 5 * time.Second
)

// Errors.
var (
	ErrClosed      = errors.New("p2p: host closed")
	ErrConfig      = errors.New("p2p: bad config")
	ErrNotEd25519  = errors.New("p2p: peer key is not ed25519")
	ErrRateLimited = errors.New("p2p: rate limited")
)

// Config configures a Host. Zero values take the defaults above.
type Config struct {
	Key               ed25519.PrivateKey // node key = libp2p identity
	Network           string             // chain id; topics /gridmesh/<network>/<name>/1; protocols /gridmesh/<network>/<proto>
	Listen            []string           // multiaddrs, e.g. /ip4/127.0.0.1/tcp/0; empty: dial only
	Bootstrap         []string           // full multiaddrs with /p2p/<id>; dialled and redialled for the host's life
	MDNS              bool               // discover peers on the LAN
	ConnLow, ConnHigh int                // connection manager water marks; defaults 16/32

	// Extensions beyond the issue-2 contract; all optional.
	Direct     []string      // full multiaddrs of gossipsub direct peers (authorities); also kept connected
	MaxPayload int           // largest gossip payload in bytes; default DefaultMaxPayload
	MessageTTL time.Duration // expiry Publish puts on envelopes; default 2 min
	ClockSkew  time.Duration // tolerated future skew of an expiry; default 30 s
	SenderRate int           // gossip messages/s accepted from one signer (burst twice that); default 100
	// Unlimited signers are exempt from SenderRate: the network's authorities,
	// whose keys are known and whose traffic consensus bounds (they relay every
	// order submitted to them and vote several times per block).
	Unlimited   []ed25519.PublicKey
	PeerReqRate int   // requests/s served per peer and protocol; default 10
	MemoryLimit int64 // resource manager memory for the whole stack; default 64 MiB
	MaxConns    int   // resource manager connection limit; default 128
	NoScoring   bool  // disable gossipsub peer scoring (see score.go); on by default
	MeshDegree  int   // gossipsub D (mesh peers per topic); default 6, minimum 4
	// DHT runs the network's own Kademlia DHT (seeded by Bootstrap and Direct
	// only, never the public one) and meets peers beyond the LAN through it:
	// see dht.go. Off by default: the bootstrap peers and mDNS suffice for a
	// small network, and the DHT costs a lookup a minute and its goroutines.
	DHT bool

	// NAT traversal (see nat.go). RelayService is for authorities (publicly
	// reachable): AutoNAT service and an unlimited circuit relay v2 for the peers
	// RelayAllow admits (nil: all). NATTraversal is for homes: relay client,
	// reservations on the bootstrap/direct peers, hole punching.
	RelayService bool
	RelayAllow   func(peerID string) bool
	NATTraversal bool
	// AssumePrivate (with NATTraversal) declares the host unreachable from
	// outside instead of waiting for AutoNAT's verdict, so relay reservations
	// start at once: for a home known to sit behind NAT, and for tests.
	AssumePrivate bool

	heartbeat time.Duration // gossipsub heartbeat; tests shorten it (default 1 s)
	shape     *linkModel    // loss and delay injected into gossip (simulation)
}

func (c *Config) setDefaults() {
	if c.ConnLow <= 0 {
		c.ConnLow = DefaultConnLow
	}
	if c.ConnHigh <= 0 {
		c.ConnHigh = DefaultConnHigh
	}
	if c.ConnHigh < c.ConnLow {
		c.ConnHigh = c.ConnLow
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.MessageTTL <= 0 {
		c.MessageTTL = DefaultMessageTTL
	}
	if c.ClockSkew <= 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.SenderRate <= 0 {
		c.SenderRate = DefaultSenderRate
	}
	if c.PeerReqRate <= 0 {
		c.PeerReqRate = DefaultPeerReqRate
	}
	if c.MemoryLimit <= 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
}

// Verdict is a topic validator's decision on a payload.
type Verdict int

const (
	// Accept delivers the message and forwards it.
	Accept Verdict = iota
	// Reject drops the message and penalises the peer that forwarded it (peer
	// scoring graylists a peer after about five). Use it only for payloads that
	// are invalid for every node (bad encoding, bad signature); use Ignore for what
	// depends on this node's view (unknown sender, stale, duplicate).
	Reject
	// Ignore drops the message without penalty (stale, duplicate, not yet useful).
	Ignore
)

func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	case Ignore:
		return "ignore"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Host is a running libp2p node. All methods are safe for concurrent use.
type Host struct {
	cfg    Config
	log    *slog.Logger
	h      host.Host
	ps     *pubsub.PubSub
	cm     *connmgr.BasicConnMgr
	gater  *gater
	pub    ed25519.PublicKey
	now    func() time.Time
	ctx    context.Context // lives until Close; owns every goroutine below
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mdns   mdns.Service
	dht    *dht.IpfsDHT // nil unless Config.DHT

	stats     counters
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
// per connection.
func (n *Host) Connected() <-chan string { return n.connected }

func (n *Host) onConnected(_ network.Network, c network.Conn) {
	select {
	case n.connected <- c.RemotePeer().String():
	default:
		n.stats.connectDropped.Add(1)
	}
}

// New starts a host. ctx bounds the host's background work (bootstrap redial,
// discovery); Close stops it as well and must be called.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Host, error) {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: key must be an ed25519 private key", ErrConfig)
	}
	if cfg.Network == "" || len(cfg.Network) > MaxNetworkLen || strings.ContainsAny(cfg.Network, "/ \t\n") {
		return nil, fmt.Errorf("%w: network id %q", ErrConfig, cfg.Network)
	}
	priv, err := crypto.UnmarshalEd25519PrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: node key: %v", ErrConfig, err)
	}
	boot, err := parseAddrInfos(cfg.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("%w: bootstrap: %v", ErrConfig, err)
	}
	direct, err := parseAddrInfos(cfg.Direct)
	if err != nil {
		return nil, fmt.Errorf("%w: direct: %v", ErrConfig, err)
	}

	rm, err := newResourceManager(cfg)
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(cfg.ConnLow, cfg.ConnHigh, connmgr.WithGracePeriod(30*time.Second))
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	gt := &gater{}
	bc := &byteCounter{}
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(gt),
		libp2p.DisableMetrics(),
		libp2p.BandwidthReporter(bc),
		libp2p.UserAgent("gridmesh"),
	}
	opts = append(opts, natOptions(cfg, append(append([]peer.AddrInfo(nil), boot...), direct...))...)
	if len(cfg.Listen) > 0 {
		opts = append(opts, libp2p.ListenAddrStrings(cfg.Listen...))
	} else {
		opts = append(opts, libp2p.NoListenAddrs)
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		cm.Close()
		rm.Close()
		return nil, fmt.Errorf("libp2p host: %w", err)
	}

	hctx, cancel := context.WithCancel(ctx)
	n := &Host{
		cfg:       cfg,
		log:       log,
		h:         h,
		cm:        cm,
		gater:     gt,
		bytes:     bc,
		pub:       cfg.Key.Public().(ed25519.PublicKey),
		now:       time.Now,
		ctx:       hctx,
		cancel:    cancel,
		msgRate:   newRateLimiter(float64(cfg.SenderRate), float64(2*cfg.SenderRate)),
		reqRate:   newRateLimiter(float64(cfg.PeerReqRate), float64(2*cfg.PeerReqRate)),
		topics:    make(map[string]*Topic),
		reach:     "unknown",
		kick:      make(map[peer.ID]chan struct{}),
		outboxes:  make(map[string]*outbox),
		connected: make(chan string, connectedBuffer),
	}
	n.SetUnlimited(cfg.Unlimited)
	fail := func(err error) (*Host, error) {
		cancel()
		n.wg.Wait()
		h.Close()
		return nil, err
	}

	if err := n.startReachability(); err != nil {
		return fail(err)
	}
	psHost := h
	if cfg.shape != nil {
		psHost = shapedHost{Host: h, lm: cfg.shape}
	}
	ps, err := pubsub.NewGossipSub(hctx, psHost, n.pubsubOptions(direct)...)
	if err != nil {
		return fail(fmt.Errorf("gossipsub: %w", err))
	}
	n.ps = ps

	h.Network().Notify(&network.NotifyBundle{DisconnectedF: n.onDisconnected, ConnectedF: n.onConnected})
	for _, ai := range boot {
		n.keepConnected(ai, "bootstrap")
	}
	for _, ai := range direct {
		n.keepConnected(ai, "direct")
	}
	if cfg.MDNS {
		n.mdns = mdns.NewMdnsService(h, "_gridmesh-"+cfg.Network+"._udp", mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			return fail(fmt.Errorf("mdns: %w", err))
		}
	}
	if cfg.DHT {
		if err := n.startDHT(append(append([]peer.AddrInfo(nil), boot...), direct...)); err != nil {
			return fail(err)
		}
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.sweepLimiters()
	}()
	log.Info("p2p host started", "id", h.ID().String(), "addrs", n.Addrs())
	return n, nil
}

func (n *Host) pubsubOptions(direct []peer.AddrInfo) []pubsub.Option {
	opts := []pubsub.Option{
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(func(m *pb.Message) string {
			sum := sha256.Sum256(m.Data)
			return string(sum[:])
		}),
		pubsub.WithFloodPublish(true),
		pubsub.WithGossipSubProtocols([]protocol.ID{GossipSubID12, GossipSubID11}, gossipFeatures),
		pubsub.WithMaxMessageSize(envelopeOverhead + MaxNetworkLen + n.cfg.MaxPayload + 1024),
		// A message stays in the seen-cache for as long as it can be valid, so a
		// valid message never loops back.
		pubsub.WithSeenMessagesTTL(n.cfg.MessageTTL + 2*n.cfg.ClockSkew),
		pubsub.WithValidateQueueSize(512),
		pubsub.WithPeerOutboundQueueSize(256),
		pubsub.WithLogger(n.log.With("component", "gossipsub")),
		pubsub.WithRawTracer(tracer{&n.stats}),
	}
	if n.cfg.heartbeat > 0 || n.cfg.MeshDegree > 0 {
		opts = append(opts, pubsub.WithGossipSubParams(gossipParams(n.cfg)))
	}
	if len(direct) > 0 {
		opts = append(opts, pubsub.WithDirectPeers(direct))
	}
	if !n.cfg.NoScoring {
		params, thresholds := n.scoreParams()
		opts = append(opts,
			pubsub.WithPeerScore(params, thresholds),
			pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(n.inspectScores), time.Second))
	}
	return opts
}

// gossipParams derives the gossipsub parameters from cfg: D = MeshDegree with the
// other degrees scaled as in the defaults (D 6, Dlo 5, Dhi 12, Dscore 4, Dout 2).
func gossipParams(cfg Config) pubsub.GossipSubParams {
	gp := pubsub.DefaultGossipSubParams()
	if cfg.heartbeat > 0 {
		gp.HeartbeatInterval = cfg.heartbeat
		gp.HeartbeatInitialDelay = cfg.heartbeat / 10
	}
	if d := max(cfg.MeshDegree, 4); cfg.MeshDegree > 0 {
		gp.D = d
		gp.Dlo = d - 1
		gp.Dhi = 2 * d
		gp.Dscore = (2*d + 2) / 3
		gp.Dout = d/2 - 1 // gossipsub wants Dout < Dlo and Dout < D/2
		gp.Dlazy = d
	}
	return gp
}

// gossipFeatures maps gridmesh's gossipsub ids to the features of the public
// versions they mirror (1.1: mesh and PX; 1.2: adds IDONTWANT).
func gossipFeatures(feat pubsub.GossipSubFeature, proto protocol.ID) bool {
	switch feat {
	case pubsub.GossipSubFeatureMesh, pubsub.GossipSubFeaturePX:
		return proto == GossipSubID11 || proto == GossipSubID12
	case pubsub.GossipSubFeatureIdontwant:
		return proto == GossipSubID12
	}
	return false
}

// newResourceManager builds explicit limits for a 512 MB Pi: the stack as a whole
// gets cfg.MemoryLimit and cfg.MaxConns, everything else scales from libp2p's base
// (smallest) configuration.
func newResourceManager(cfg Config) (network.ResourceManager, error) {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	base := scaling.Scale(0, 256) // below 128 MiB: the base limits
	conns := rcmgr.LimitVal(cfg.MaxConns)
	limits := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Memory:        rcmgr.LimitVal64(cfg.MemoryLimit),
			Conns:         conns,
			ConnsInbound:  conns,
			ConnsOutbound: conns,
			FD:            256,
		},
		Transient: rcmgr.ResourceLimits{
			Memory: rcmgr.LimitVal64(cfg.MemoryLimit / 4),
		},
		PeerDefault: rcmgr.ResourceLimits{
			Memory:  rcmgr.LimitVal64(8 << 20),
			Streams: 128,
		},
	}
	return rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.Build(base)))
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
			case <-n.ctx.Done():
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

// Connect dials the peer at addr, a full multiaddr with /p2p/<id>.
func (n *Host) Connect(ctx context.Context, addr string) error {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return fmt.Errorf("parse %q: %w", addr, err)
	}
	if err := n.h.Connect(ctx, *ai); err != nil {
		return fmt.Errorf("connect %s: %w", ai.ID, err)
	}
	return nil
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
	n.cancel()
	n.wg.Wait()
	if n.dht != nil {
		errs = append(errs, n.dht.Close())
	}
	errs = append(errs, n.h.Close())
	return errors.Join(errs...)
}

func parseAddrInfos(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	index := make(map[peer.ID]int)
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(m)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		if i, ok := index[ai.ID]; ok {
			out[i].Addrs = append(out[i].Addrs, ai.Addrs...)
			continue
		}
		index[ai.ID] = len(out)
		out = append(out, *ai)
	}
	return out, nil
}

// keepConnected keeps the host connected to ai for its whole life: it dials with
// exponential backoff and jitter, and redials as soon as the connection drops.
func (n *Host) keepConnected(ai peer.AddrInfo, tag string) {
	if ai.ID == n.h.ID() {
		return
	}
	n.cm.Protect(ai.ID, tag)
	n.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	kick := make(chan struct{}, 1)
	n.mu.Lock()
	if _, dup := n.kick[ai.ID]; dup {
		n.mu.Unlock()
		return
	}
	n.kick[ai.ID] = kick
	n.mu.Unlock()

	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		backoff := bootstrapMinBackoff
		for {
			var wait time.Duration
			if n.h.Network().Connectedness(ai.ID) == network.Connected {
				backoff = bootstrapMinBackoff
				wait = bootstrapPoll
			} else {
				// The loop does its own backoff; bypass the swarm's, which would
				// otherwise keep refusing to dial a peer that has just come back.
				dctx, cancel := context.WithTimeout(network.WithForceDirectDial(n.ctx, "keep-alive"), DefaultTimeout)
				err := n.h.Connect(dctx, ai)
				cancel()
				if err == nil {
					n.log.Debug("connected", "peer", ai.ID.String(), "role", tag)
					backoff = bootstrapMinBackoff
					wait = bootstrapPoll
				} else {
					if n.ctx.Err() != nil {
						return
					}
					n.log.Debug("dial failed", "peer", ai.ID.String(), "role", tag, "retry_in", backoff, "err", err)
					wait = jitter(backoff)
					backoff = min(2*backoff, bootstrapMaxBackoff)
				}
			}
			t := time.NewTimer(wait)
			select {
			case <-n.ctx.Done():
				t.Stop()
				return
			case <-kick:
				t.Stop()
			case <-t.C:
			}
		}
	}()
}

func (n *Host) onDisconnected(_ network.Network, c network.Conn) {
	p := c.RemotePeer()
	n.mu.Lock()
	kick := n.kick[p]
	n.mu.Unlock()
	if kick == nil || n.h.Network().Connectedness(p) == network.Connected {
		return
	}
	select {
	case kick <- struct{}{}:
	default:
	}
}

type mdnsNotifee struct{ n *Host }

func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == m.n.h.ID() {
		return
	}
	// zeroconf reports a peer once per record TTL (53 minutes), so one failed
	// dial would leave the two hosts apart. A dial fails when both hosts learn
	// of each other from the same mDNS exchange and dial at once, each from its
	// listen port (TCP reuseport): the SYNs cross, TCP makes one connection out
	// of both (simultaneous open) and both sides start the security handshake
	// as initiator ("noise: message is too short"). Retry with jitter; the
	// swarm's dial backoff (5 s) is bypassed, as in keepConnected.
	m.n.spawn(func() {
		backoff := bootstrapMinBackoff
		for try := 1; ; try++ {
			ctx, cancel := context.WithTimeout(network.WithForceDirectDial(m.n.ctx, "mdns"), DefaultTimeout)
			err := m.n.h.Connect(ctx, ai)
			cancel()
			if err == nil || m.n.ctx.Err() != nil {
				return
			}
			m.n.log.Debug("mdns peer dial failed", "peer", ai.ID.String(), "try", try, "err", err)
			if try == mdnsDialTries {
				return
			}
			if !m.n.sleep(jitter(backoff)) {
				return
			}
			backoff *= 2
		}
	})
}

// mdnsDialTries bounds the dials to a peer found by mDNS (about 7 s of retries).
const mdnsDialTries = 5

// jitter returns a wait drawn from [b/2, b], so that peers retrying after the
// same failure do not retry in step.
func jitter(b time.Duration) time.Duration { return b/2 + rand.N(b/2+1) }

// sleep waits d, or less if the host closes; it reports whether the host is
// still open.
func (n *Host) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-n.ctx.Done():
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

// pubKeyOf returns the ed25519 key behind a peer id.
func pubKeyOf(p peer.ID) (ed25519.PublicKey, error) {
	pk, err := p.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotEd25519, err)
	}
	if pk.Type() != crypto.Ed25519 {
		return nil, ErrNotEd25519
	}
	raw, err := pk.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, ErrNotEd25519
	}
	return ed25519.PublicKey(raw), nil
}

// peerIDOfKey returns the peer id string of an ed25519 node key.
func peerIDOfKey(key ed25519.PrivateKey) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("%w: key must be an ed25519 private key", ErrConfig)
	}
	return PeerID(key.Public().(ed25519.PublicKey))
}

// PeerID returns the libp2p peer id of a node's ed25519 public key, as used in
// /p2p/<id> multiaddrs, Peers and Request.
func PeerID(pub ed25519.PublicKey) (string, error) {
	pk, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotEd25519, err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return "", fmt.Errorf("peer id: %w", err)
	}
	return id.String(), nil
}

// PublicKey returns the ed25519 public key behind a peer id string.
func PublicKey(peerID string) (ed25519.PublicKey, error) {
	p, err := peer.Decode(peerID)
	if err != nil {
		return nil, fmt.Errorf("peer id %q: %w", peerID, err)
	}
	return pubKeyOf(p)
}
