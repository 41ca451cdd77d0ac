package p2p

import (
	"context"
	"fmt"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/routing"
)

// Rendezvous through the DHT (Config.DHT). Every host of a network advertises
// itself under one namespace and looks the namespace up now and then, dialling
// the hosts it finds: the way two homes on different LANs meet without being
// listed in each other's config. The DHT is the network's own (protocol
// /gridmesh/<network>/kad/1.0.0) and is seeded only with the configured
// bootstrap and direct peers, so it never joins or queries the public IPFS DHT.
const (
	// dhtFirstRound is the wait before the first rendezvous round. The wait
	// doubles after every round up to dhtInterval, so a host that just started
	// meets its peers within seconds, and a settled one costs one lookup a minute.
	dhtFirstRound = time.Second
	dhtInterval   = time.Minute
	// dhtReadvertise is how often a host renews its provider record. The
	// record lives 48 h at the DHT servers, but they keep it in memory only: a
	// restarted authority learns the network's hosts again within this time.
	dhtReadvertise = 10 * time.Minute
)

// dhtPrefix is the DHT protocol prefix of a network; the kad protocol id is
// the prefix followed by /kad/1.0.0.
func dhtPrefix(network string) protocol.ID { return protocol.ID("/gridmesh/" + network) }

// dhtNamespace is the rendezvous namespace every host of a network advertises.
func dhtNamespace(network string) string { return "gridmesh/" + network }

// startDHT starts the Kademlia DHT and the rendezvous loop; Close stops the
// loop (n.wg) before it closes the DHT (n.dht). Hosts with RelayService (the
// authorities, publicly reachable) are DHT servers; the others start as
// clients and become servers only if AutoNAT finds them publicly reachable.
// The DHT stores provider records only (no values).
func (n *Host) startDHT(seeds []peer.AddrInfo) error {
	mode := dht.ModeAuto
	if n.cfg.RelayService {
		mode = dht.ModeServer
	}
	d, err := dht.New(n.life(), n.h,
		dht.ProtocolPrefix(dhtPrefix(n.cfg.Network)),
		dht.Mode(mode),
		dht.BootstrapPeers(seeds...),
		dht.DisableValues(),
	)
	if err != nil {
		return fmt.Errorf("dht: %w", err)
	}
	n.dht = d
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.rendezvous(routing.NewRoutingDiscovery(d))
	}()
	return nil
}

// rendezvous advertises the host under its network's namespace and dials the
// hosts found there, in rounds (see dhtFirstRound), until the host closes.
// It does its own rounds instead of go-libp2p's discovery util.Advertise,
// which starts a goroutine nobody waits for and retries a failed
// advertisement (an empty routing table at start) only after two minutes.
func (n *Host) rendezvous(disc *routing.RoutingDiscovery) {
	ns := dhtNamespace(n.cfg.Network)
	wait := dhtFirstRound
	var advertised time.Time // zero until an advertisement succeeded
	for {
		if !n.sleep(wait) {
			return
		}
		wait = min(2*wait, dhtInterval)
		if advertised.IsZero() || time.Since(advertised) >= dhtReadvertise {
			ctx, cancel := context.WithTimeout(n.life(), DefaultTimeout)
			_, err := disc.Advertise(ctx, ns)
			cancel()
			if err != nil {
				n.log.Debug("dht advertise failed", "err", err)
			} else {
				advertised = time.Now()
			}
		}
		n.dialRendezvous(disc, ns)
	}
}

// dialRendezvous looks up the namespace and dials the hosts found that are
// not this one and not connected yet. A host that already has ConnLow peers
// skips the lookup: rendezvous is for finding peers, not for filling the
// connection manager beyond its low water mark.
func (n *Host) dialRendezvous(disc *routing.RoutingDiscovery, ns string) {
	if len(n.h.Network().Peers()) >= n.cfg.ConnLow {
		return
	}
	ctx, cancel := context.WithTimeout(n.life(), DefaultTimeout)
	defer cancel()
	found, err := disc.FindPeers(ctx, ns, discovery.Limit(n.cfg.ConnHigh))
	if err != nil {
		n.log.Debug("dht find peers failed", "err", err)
		return
	}
	for ai := range found { // closed when the lookup ends or ctx expires
		if ai.ID == n.h.ID() || len(ai.Addrs) == 0 || n.h.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		n.spawn(func() {
			ctx, cancel := context.WithTimeout(n.life(), DefaultTimeout)
			defer cancel()
			if err := n.h.Connect(ctx, ai); err != nil {
				n.log.Debug("rendezvous peer dial failed", "peer", ai.ID.String(), "err", err)
			}
		})
	}
}
