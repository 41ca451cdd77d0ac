package node

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gridmesh/gridmesh/unit"
)

// Status is the body of GET /api/v1/status. Slots are indices (see unit.Slot);
// -1 means none yet.
type Status struct {
	NodeID       string      `json:"node_id"`
	Account      string      `json:"account"`
	Name         string      `json:"name"`
	Role         string      `json:"role"`
	Network      string      `json:"network"`
	Height       uint64      `json:"height"`
	StateHash    string      `json:"state_hash"`
	BlockTime    int64       `json:"block_time_ms"`
	Peers        int         `json:"peers"`
	Reachability string      `json:"reachability"`
	OpenSlots    []unit.Slot `json:"open_slots"`
	LastCleared  unit.Slot   `json:"last_cleared"`
	LastSettled  unit.Slot   `json:"last_settled"`
	Rejected     int64       `json:"gossip_rejected"`
	ClockSynced  bool        `json:"clock_synced"`
}

// publishStatus refreshes the chain part of the status after a commit; the loop
// calls it, HTTP handlers read it.
func (n *Node) publishStatus() {
	n.mu.RLock()
	cs := n.chain.Status()
	n.mu.RUnlock()
	n.status.Store(&Status{
		Account:     string(n.self),
		Name:        n.cfg.Node.Name,
		Role:        n.cfg.Node.Role,
		Network:     n.gen.ChainID,
		Height:      cs.Height,
		StateHash:   cs.StateHash.String(),
		BlockTime:   cs.Time,
		LastCleared: cs.LastCleared,
		LastSettled: cs.LastSettled,
	})
}

// Status returns the node's current status.
func (n *Node) Status() Status {
	st := *n.status.Load()
	st.NodeID = n.host.ID()
	st.Peers = len(n.host.Peers())
	st.Reachability = n.host.Reachability()
	st.Rejected = n.rejected.Load()
	st.ClockSynced = n.clockOK()
	n.mu.RLock()
	st.OpenSlots = n.chain.OpenSlots(time.Now().UnixMilli())
	n.mu.RUnlock()
	if st.OpenSlots == nil {
		st.OpenSlots = []unit.Slot{}
	}
	return st
}

func (n *Node) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(n.Status())
	})
	return mux
}

// serveSync answers a peer's request for blocks from a height, with certificates.
func (n *Node) serveSync(ctx context.Context, from ed25519.PublicKey, req []byte) ([]byte, error) {
	h, err := decodeSyncRequest(req)
	if err != nil {
		return nil, err
	}
	n.mu.RLock()
	blocks, certs, err := n.chain.Blocks(h, maxSyncBlocks)
	n.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	items := make([][]byte, 0, len(blocks))
	size := 0
	for i, b := range blocks {
		raw := b.Encode()
		size += len(raw) + len(certs[i])
		if size > maxBlockBytes && len(items) > 0 {
			break
		}
		items = append(items, encodeCertified(raw, certs[i]))
	}
	return encodeSyncResponse(items), nil
}
