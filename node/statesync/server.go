package statesync

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/wire"
)

// held is how many snapshots a Server keeps.
const held = 2

// respBytes is how many value bytes (before compression) a values answer
// carries at most.
const respBytes = 1 << 20

// Server serves the snapshots its node took. Safe for concurrent use.
type Server struct {
	mu    sync.Mutex
	snaps []*chain.Snapshot // oldest first
	shut  bool

	answers, notHeld, pruned atomic.Int64
}

// ServerStats counts a Server's answers.
type ServerStats struct {
	Held    []uint64 `json:"held"`     // the heights held, oldest first
	Answers int64    `json:"answers"`  // requests answered with data
	NotHeld int64    `json:"not_held"` // requests for a height not held
	// Pruned counts values requests answered "not held" because their
	// first entry is a record this node pruned (its stub is no value).
	Pruned int64 `json:"pruned"`
}

// Add makes sn the newest snapshot, closing the oldest beyond two. The
// Server owns sn.
func (s *Server) Add(sn *chain.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		sn.Close()
		return
	}
	s.snaps = append(s.snaps, sn)
	for len(s.snaps) > held {
		s.snaps[0].Close()
		s.snaps = s.snaps[1:]
	}
}

// Close closes every snapshot; later Adds close theirs at once.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sn := range s.snaps {
		sn.Close()
	}
	s.snaps, s.shut = nil, true
}

// Stats returns the heights held and the answers counted.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	st := ServerStats{Answers: s.answers.Load(), NotHeld: s.notHeld.Load(), Pruned: s.pruned.Load()}
	for _, sn := range s.snaps {
		st.Held = append(st.Held, sn.Height)
	}
	s.mu.Unlock()
	return st
}

// find returns the snapshot of height h (0: the newest), or nil.
func (s *Server) find(h uint64) *chain.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.snaps) - 1; i >= 0; i-- {
		if h == 0 || s.snaps[i].Height == h {
			return s.snaps[i]
		}
	}
	return nil
}

// Handle answers a snapshot/1 request (p2p.Host.Handle).
func (s *Server) Handle(_ context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
	r, err := wire.DecodeSnapRequest(req)
	if err != nil {
		return nil, err
	}
	sn := s.find(r.Height)
	if sn == nil {
		s.notHeld.Add(1)
		return wire.NotHeld(), nil
	}
	var out []byte
	switch r.Kind {
	case wire.SnapOffer:
		out = wire.EncodeSnapOffer(sn.Height, uint64(len(sn.Manifest)), wire.EncodeCertified(sn.Block, sn.Cert))
	case wire.SnapManifest:
		if r.Arg >= uint64(len(sn.Manifest)) {
			return nil, fmt.Errorf("manifest offset %d of %d", r.Arg, len(sn.Manifest))
		}
		end := min(uint64(len(sn.Manifest)), r.Arg+wire.MaxSnapPiece)
		out = wire.EncodeSnapPiece(sn.Manifest[r.Arg:end])
	default:
		if r.Arg >= uint64(sn.Len()) {
			return nil, fmt.Errorf("entry %d of %d", r.Arg, sn.Len())
		}
		vals, err := sn.Values(int(r.Arg), int(r.Count), respBytes)
		if errors.Is(err, chain.ErrPruned) {
			s.pruned.Add(1)
			return wire.NotHeld(), nil // never a stub as a value: the joiner asks another peer
		}
		if err != nil {
			return nil, err
		}
		out = wire.EncodeSnapValues(vals)
	}
	s.answers.Add(1)
	return out, nil
}
