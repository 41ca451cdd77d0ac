package p2p

import (
	"crypto/ed25519"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

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
