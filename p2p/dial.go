package p2p

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
)

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
				n.clearBackoff(ai.ID)
				dctx, cancel := context.WithTimeout(n.life(), DefaultTimeout)
				err := n.h.Connect(dctx, ai)
				cancel()
				if err == nil {
					n.log.Debug("connected", "peer", ai.ID.String(), "role", tag)
					backoff = bootstrapMinBackoff
					wait = bootstrapPoll
				} else {
					if n.life().Err() != nil {
						return
					}
					n.log.Debug("dial failed", "peer", ai.ID.String(), "role", tag, "retry_in", backoff, "err", err)
					wait = jitter(backoff)
					backoff = min(2*backoff, bootstrapMaxBackoff)
				}
			}
			t := time.NewTimer(wait)
			select {
			case <-n.done:
				t.Stop()
				return
			case <-kick:
				t.Stop()
			case <-t.C:
			}
		}
	}()
}

// clearBackoff forgets the swarm's dial backoff for p, so that the next dial
// tries p's addresses at once.
//
// The dial loops used to bypass the backoff with network.WithForceDirectDial.
// In go-libp2p v0.51.0 and v0.52.0 (the swarm is the same) a force-direct dial
// crashes the process if the host closes while the swarm's dial worker is
// still choosing the addresses: the worker outlives the Connect that the
// close cancelled, and Swarm.nonProxyAddr calls a method on the nil transport
// that a closed swarm returns (swarm_dial.go:476; upstream issue
// libp2p/go-libp2p#1545). A plain dial never calls nonProxyAddr. It may use a
// relay address of the peer as well as its direct ones; the swarm's ranker
// tries the direct ones first.
func (n *Host) clearBackoff(p peer.ID) {
	if s, ok := n.h.Network().(*swarm.Swarm); ok {
		s.Backoff().Clear(p)
	}
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
			m.n.clearBackoff(ai.ID)
			ctx, cancel := context.WithTimeout(m.n.life(), DefaultTimeout)
			err := m.n.h.Connect(ctx, ai)
			cancel()
			if err == nil || m.n.life().Err() != nil {
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
