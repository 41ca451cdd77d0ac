package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
)

// natOptions returns the libp2p options for NAT traversal.
//
// An authority (Config.RelayService) is publicly reachable by definition: it
// declares itself public, answers AutoNAT probes and offers circuit relay v2.
// Its relayed connections have no time or byte limit, because gossipsub does not
// run over limited connections; Config.RelayAllow (nil: everyone) decides who may
// reserve a slot and who may be reached, so the relay serves admitted members only.
//
// A home (Config.NATTraversal) uses the relay transport, keeps reservations on the
// bootstrap and direct peers (the authorities) once AutoNAT finds it private, and
// tries hole punching (DCUtR) to replace a relayed connection by a direct one.
func natOptions(cfg Config, static []peer.AddrInfo) []libp2p.Option {
	var opts []libp2p.Option
	if cfg.RelayService {
		opts = append(opts,
			libp2p.ForceReachabilityPublic(),
			libp2p.EnableNATService(),
			libp2p.EnableRelayService(
				relayv2.WithInfiniteLimits(),
				relayv2.WithACL(relayACL{allow: cfg.RelayAllow}),
			),
		)
	}
	if cfg.NATTraversal {
		opts = append(opts, libp2p.EnableRelay(), libp2p.EnableHolePunching())
		if cfg.AssumePrivate && !cfg.RelayService {
			opts = append(opts, libp2p.ForceReachabilityPrivate())
		}
		if len(static) > 0 {
			opts = append(opts, libp2p.EnableAutoRelayWithStaticRelays(static,
				autorelay.WithNumRelays(min(2, len(static))),
				autorelay.WithBootDelay(10*time.Second)))
		}
	}
	if !cfg.RelayService && !cfg.NATTraversal {
		opts = append(opts, libp2p.DisableRelay())
	}
	return opts
}

// relayACL admits reservations and relayed connections by peer id.
type relayACL struct {
	allow func(peerID string) bool
}

func (a relayACL) AllowReserve(p peer.ID, _ ma.Multiaddr) bool {
	return a.allow == nil || a.allow(p.String())
}

func (a relayACL) AllowConnect(src peer.ID, _ ma.Multiaddr, dest peer.ID) bool {
	return a.allow == nil || (a.allow(src.String()) && a.allow(dest.String()))
}
