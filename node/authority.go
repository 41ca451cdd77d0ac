package node

import (
	"crypto/ed25519"
	"errors"
	"slices"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/p2p"
)

// The authority set is chain state (chain.Chain.Authorities): a change voted by
// more than 2/3 of the authorities in block H decides blocks H+2 and later. The
// node follows it in these places:
//
//   - gossip validation judges a vote, and a block's commit certificate, against
//     the set of the vote's or block's height (heights the chain cannot answer
//     yet, more than two ahead of this node, are judged against the furthest set
//     it knows: such a node is behind and syncs anyway);
//   - after every commit the loop compares the set of the next height with the
//     one its consensus engine runs, and restarts the engine from the persisted
//     consensus state when they differ (so nothing conflicting is signed);
//   - a node configured as an authority votes only while its key is in the set
//     of the height being decided; before it is voted in, and after it is voted
//     out, it follows the chain like a home;
//   - the gossip rate limit exempts the sets of the next two heights
//     (currentAuthorityKeys, applied in reconfigure after every commit);
//   - sync asks the authorities of the next height first (loop.syncPeers), and
//     an authority's relay serves the authorities of the next two heights
//     besides the admitted participants (relayAllowed).

// authoritiesAt returns the authority set deciding block h.
func (n *Node) authoritiesAt(h uint64) []ident.Account {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if ids, err := n.chain.Authorities(max(h, 1)); err == nil {
		return ids
	}
	ids, _ := n.chain.Authorities(n.chain.Status().Height + 2)
	return ids
}

// validatorsAt returns the authority set deciding block h with its keys.
func (n *Node) validatorsAt(h uint64) map[ident.Account]ed25519.PublicKey {
	ids := n.authoritiesAt(h)
	m := make(map[ident.Account]ed25519.PublicKey, len(ids))
	for _, a := range ids {
		if pub, err := a.PublicKey(); err == nil {
			m[ident.Account(a)] = pub
		}
	}
	return m
}

// consensusIDs converts a sorted authority set to the engine's validator ids.
func consensusIDs(as []ident.Account) []ident.Account {
	ids := make([]ident.Account, len(as))
	for i, a := range as {
		ids[i] = ident.Account(a)
	}
	return ids
}

// nearAuthorities returns the authorities deciding the next two heights (an
// authority change takes effect two heights after its vote), each once, in the
// chain's order.
func (n *Node) nearAuthorities() []ident.Account {
	n.mu.RLock()
	head := n.chain.Status().Height
	n.mu.RUnlock()
	var out []ident.Account
	for _, a := range append(n.authoritiesAt(head+1), n.authoritiesAt(head+2)...) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// isNearAuthority reports whether pub is the key of one of nearAuthorities.
func (n *Node) isNearAuthority(pub ed25519.PublicKey) bool {
	return slices.Contains(n.nearAuthorities(), ident.AccountOf(pub))
}

// peerIDOf returns the libp2p peer id of account a's node.
func peerIDOf(a ident.Account) (string, error) {
	pub, err := a.PublicKey()
	if err != nil {
		return "", err
	}
	return p2p.PeerID(pub)
}

// currentAuthorityKeys returns the keys of nearAuthorities. The gossip rate
// limit exempts them (p2p Config.Unlimited).
func (n *Node) currentAuthorityKeys() []ed25519.PublicKey {
	var keys []ed25519.PublicKey
	for _, a := range n.nearAuthorities() {
		if pub, err := a.PublicKey(); err == nil {
			keys = append(keys, pub)
		}
	}
	return keys
}

// relayAllowed is an authority's circuit-relay allowlist (p2p
// Config.RelayAllow): it relays, without limits, for admitted participants and
// nearAuthorities only, judged by the chain's state at the moment of asking. A
// peer id that does not carry an ed25519 key is nobody's.
func (n *Node) relayAllowed(peerID string) bool {
	pub, err := p2p.PublicKey(peerID)
	if err != nil {
		return false
	}
	a := ident.AccountOf(pub)
	n.mu.RLock()
	admitted := n.chain.IsParticipant(a)
	n.mu.RUnlock()
	return admitted || slices.Contains(n.nearAuthorities(), a)
}

// reconfigure starts, restarts or stops the consensus engine so that it runs
// with the authority set of the next height, and only while this node is in it.
// On every node it also keeps the gossip rate-limit exemption in step with the
// authority set.
func (l *loop) reconfigure() error {
	if keys := l.n.currentAuthorityKeys(); !slices.EqualFunc(keys, l.unlimited, func(a, b ed25519.PublicKey) bool { return a.Equal(b) }) {
		l.n.host.SetUnlimited(keys)
		l.unlimited = keys
	}
	if !l.n.isAuthority {
		return nil
	}
	next := l.n.chain.Status().Height + 1
	ids := consensusIDs(l.n.authoritiesAt(next))
	member := slices.Contains(ids, ident.Account(l.n.self))
	switch {
	case !member && l.engine != nil:
		l.n.log.Warn("this node is no longer an authority: following the chain without voting", "height", next)
		l.engine, l.engineIDs = nil, nil
	case member && (l.engine == nil || !slices.Equal(ids, l.engineIDs)):
		err := l.startEngine()
		if errors.Is(err, consensus.ErrStateAhead) {
			// It voted at a height its (repaired or restored) store lacks:
			// follow until the chain has caught up, then vote again.
			l.n.log.Warn("consensus state is ahead of the chain: following until caught up", "height", next)
			l.engine, l.engineIDs = nil, nil
			return nil
		}
		return err
	}
	return nil
}

// evidenceVerifier is the chain's check of TxEvidence (chain.EvidenceVerifier),
// built on the consensus package, which the chain package may not import.
func evidenceVerifier(chainID string, a, b []byte) (chain.Offence, error) {
	ev, err := consensus.CheckEvidence(chainID, a, b)
	if err != nil {
		return chain.Offence{}, err
	}
	return chain.Offence{Offender: ident.Account(ev.A.From), Height: ev.A.Height, Round: ev.A.Round, Type: uint8(ev.A.Type)}, nil
}

// evidenceTx turns equivocation the engine saw into a transaction for the chain.
// Proposals carry whole blocks and are not recorded (consensus.CheckEvidence);
// ok is false for them.
func (n *Node) evidenceTx(ev consensus.Evidence) (tx chain.Tx, ok bool) {
	if ev.A.Type == consensus.Proposal {
		return chain.Tx{}, false
	}
	tx = chain.Tx{ChainID: n.gen.ChainID, Kind: chain.TxEvidence, From: n.self,
		Evidence: &chain.Evidence{A: ev.A.Encode(), B: ev.B.Encode()}}
	tx.Sign(n.key)
	return tx, true
}
