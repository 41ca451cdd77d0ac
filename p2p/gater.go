package p2p

import (
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater is the host's connection gater: it refuses connections to and from
// blocked peers. It exists for operators (ban a misbehaving peer) and for
// partition tests. The zero value blocks nobody.
type gater struct {
	mu      sync.RWMutex
	blocked map[peer.ID]bool
}

func (g *gater) isBlocked(p peer.ID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.blocked[p]
}

func (g *gater) set(p peer.ID, block bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.blocked == nil {
		g.blocked = make(map[peer.ID]bool)
	}
	if block {
		g.blocked[p] = true
	} else {
		delete(g.blocked, p)
	}
}

// InterceptPeerDial implements connmgr.ConnectionGater.
func (g *gater) InterceptPeerDial(p peer.ID) bool { return !g.isBlocked(p) }

// InterceptAddrDial implements connmgr.ConnectionGater.
func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !g.isBlocked(p) }

// InterceptAccept implements connmgr.ConnectionGater.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured implements connmgr.ConnectionGater.
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.isBlocked(p)
}

// InterceptUpgraded implements connmgr.ConnectionGater.
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// Block refuses all connections with the peer id and closes the current ones.
func (n *Host) Block(id string) error {
	p, err := peer.Decode(id)
	if err != nil {
		return fmt.Errorf("peer id %q: %w", id, err)
	}
	n.gater.set(p, true)
	if err := n.h.Network().ClosePeer(p); err != nil {
		return fmt.Errorf("close %s: %w", p, err)
	}
	return nil
}

// Unblock allows connections with the peer id again. Bootstrap and direct peers
// are redialled by their keep-alive loops; others must be connected again.
func (n *Host) Unblock(id string) error {
	p, err := peer.Decode(id)
	if err != nil {
		return fmt.Errorf("peer id %q: %w", id, err)
	}
	n.gater.set(p, false)
	n.mu.Lock()
	kick := n.kick[p]
	n.mu.Unlock()
	if kick != nil {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	return nil
}
