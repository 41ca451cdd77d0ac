package p2p

import (
	"crypto/ed25519"
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/x/rate"
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

	// Heartbeat is gossipsub's heartbeat interval (0: gossipsub's 1 s). A
	// simulation or a test shortens it so that meshes form and repair sooner.
	Heartbeat time.Duration
	// WrapGossip, if not nil, wraps the libp2p host that gossipsub opens and
	// accepts its streams through, and only gossipsub: the injection point for
	// a fault-injecting transport (loss, delay, byte counts; p2p/p2psim). The
	// wrapper must pass streams through in order; nil runs gossip directly.
	WrapGossip func(host.Host) host.Host

	// Withhold names request and message protocols (as given to Handle and
	// HandleMessages, e.g. "head/2") that the host does not serve: Handle and
	// HandleMessages for them register nothing, so libp2p's identify does
	// not announce them and a peer's Speaks and RequestFirst pick another
	// version. It is for a node that withholds a protocol version: a release
	// that retires one while its code still registers it, and tests of mixed
	// releases (a node of the previous release, which never served it).
	Withhold []string

	// Audit, if not nil, receives a copy of every byte the host writes to
	// any stream of any connection, in the clear, framed with the time, the
	// stream's peer and direction (audit.go; ReadAudit reads it): what the
	// node sends, for its owner to inspect. Each record is one Write, from
	// the host's goroutines, one at a time; when a Write fails (a size cap,
	// a full disk) the capture stops for good. nil records nothing and
	// costs nothing: the streams are not wrapped.
	Audit io.Writer
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
	return rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.Build(base)), behindOneAddress(cfg.MaxConns)...)
}

// behindOneAddress lifts libp2p's limits per remote address. By default a
// host takes at most 8 connections from one IPv4 address (one IPv6 /56) and
// a new one every 5 s after a burst of 16; but a NAT puts every home behind
// it on one public address (a home router with several nodes, a carrier-grade
// NAT a whole neighbourhood), and with those limits an authority refused the
// ninth home behind a router: in issue 19's microgrid (46 homes behind 3
// routers) authorities held 8 connections per router and 2 homes never got
// a peer. One address may now hold as many connections as the host allows
// in all (maxConns, which still bounds them) and open 2 a second after a
// burst of maxConns; loopback stays unlimited, as libp2p has it.
func behindOneAddress(maxConns int) []rcmgr.Option {
	count4 := []rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: maxConns}}
	count6 := []rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: maxConns}}
	perAddr := rate.Limit{RPS: 2, Burst: maxConns}
	limiter := &rate.Limiter{
		NetworkPrefixLimits: []rate.PrefixLimit{
			{Prefix: netip.MustParsePrefix("127.0.0.0/8")},
			{Prefix: netip.MustParsePrefix("::1/128")},
		},
		SubnetRateLimiter: rate.SubnetLimiter{
			IPv4SubnetLimits: []rate.SubnetLimit{{PrefixLength: 32, Limit: perAddr}},
			IPv6SubnetLimits: []rate.SubnetLimit{{PrefixLength: 56, Limit: perAddr}},
			GracePeriod:      time.Minute,
		},
	}
	return []rcmgr.Option{rcmgr.WithLimitPerSubnet(count4, count6), rcmgr.WithConnRateLimiters(limiter)}
}
