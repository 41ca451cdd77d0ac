package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gridmesh/gridmesh/unit"
)

// Status is the part of GET /api/v1/status the cluster reads.
type Status struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	Height      uint64 `json:"height"`
	StateHash   string `json:"state_hash"`
	LastCleared int64  `json:"last_cleared"` // -1 before the first
	LastSettled int64  `json:"last_settled"`
	Peers       int    `json:"peers"`
	ClockSynced bool   `json:"clock_synced"`
	Evidence    int64  `json:"evidence"`
	// ProposalsFetched counts proposals fetched whole (node/wire.go).
	ProposalsFetched int64 `json:"proposals_fetched"`
	// P2PBytesIn and P2PBytesOut are the bytes the node's libp2p streams
	// carried since the process started (they restart from 0 with it).
	P2PBytesIn  int64 `json:"p2p_bytes_in"`
	P2PBytesOut int64 `json:"p2p_bytes_out"`
	// P2PProtocols splits them by libp2p protocol id.
	P2PProtocols map[string]struct {
		In  int64 `json:"in"`
		Out int64 `json:"out"`
	} `json:"p2p_protocols"`
	NodeID string `json:"node_id"`
	// Upgrades are the scheduled rule changes (chain: Upgrades).
	Upgrades []struct {
		Name   string `json:"name"`
		Height uint64 `json:"height"`
		Active bool   `json:"active"`
		Known  bool   `json:"known"`
	} `json:"upgrades"`
	Upstream  string `json:"upstream"`  // the peer a home follows
	Followers int    `json:"followers"` // the peers this node serves the head to
}

// Block is GET /api/v1/blocks/{height}.
type Block struct {
	Height    uint64   `json:"height"`
	Hash      string   `json:"hash"`
	Time      int64    `json:"time_ms"`
	Proposer  string   `json:"proposer"`
	StateHash string   `json:"state_hash"`
	Txs       []string `json:"txs"`
}

// Slot is one row of GET /api/v1/slots: a slot that cleared (it had
// orders), and whether it has settled.
type Slot struct {
	Slot    int64 `json:"slot"`
	Price   int64 `json:"price"`
	Volume  int64 `json:"volume_wh"`
	Trades  int   `json:"trades"`
	Settled bool  `json:"settled"`
	Energy  int64 `json:"settled_wh"`
}

// Slots reads the slots in [from, to) that p's chain has cleared (at most
// 500 of them).
func (c *Cluster) Slots(ctx context.Context, p *Proc, from, to int64) ([]Slot, error) {
	var page struct {
		Items []Slot `json:"items"`
	}
	err := c.get(ctx, fmt.Sprintf("%s/api/v1/slots?from=%d&to=%d&limit=500", p.API, from, to), &page)
	return page.Items, err
}

// Balance reads account's balance on p's chain.
func (c *Cluster) Balance(ctx context.Context, p *Proc, account string) (unit.Money, error) {
	var a struct {
		Balance unit.Money `json:"balance"`
	}
	err := c.get(ctx, p.API+"/api/v1/accounts/"+account, &a)
	return a.Balance, err
}

// Status reads authority i's status.
func (c *Cluster) Status(ctx context.Context, i int) (Status, error) {
	return c.StatusOf(ctx, c.Nodes[i])
}

// StatusOf reads p's status, an authority's or a home's.
func (c *Cluster) StatusOf(ctx context.Context, p *Proc) (Status, error) {
	var st Status
	err := c.get(ctx, p.API+"/api/v1/status", &st)
	return st, err
}

// Block reads node i's committed block at height h.
func (c *Cluster) Block(ctx context.Context, i int, h uint64) (Block, error) {
	return c.BlockOf(ctx, c.Nodes[i], h)
}

// BlockOf reads p's committed block at height h, an authority's or a home's.
func (c *Cluster) BlockOf(ctx context.Context, p *Proc, h uint64) (Block, error) {
	var b Block
	err := c.get(ctx, p.API+"/api/v1/blocks/"+strconv.FormatUint(h, 10), &b)
	return b, err
}

// dial connects the cluster's HTTP client: to a placed node's API inside
// its namespace, to anything else from the host's.
func (c *Cluster) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if ns := c.netns[addr]; ns != "" {
		return dialIn(ctx, ns, network, addr)
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func (c *Cluster) get(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, v)
}

// ErrRejected is a POST /api/v1/tx answered with something other than 202.
var ErrRejected = errors.New("cluster: tx rejected")

// PostTx offers one signed tx to node i. A 202 returns nil; any other answer
// wraps ErrRejected with the node's reason; a transport error is returned as is.
func (c *Cluster) PostTx(ctx context.Context, i int, encoded []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Nodes[i].API+"/api/v1/tx", bytes.NewReader(encoded))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%w: %s: %s", ErrRejected, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// WaitConnected waits until every authority in idx answers and sees at least
// len(idx)-1 peers.
func (c *Cluster) WaitConnected(ctx context.Context, idx []int) error {
	ps := make([]*Proc, len(idx))
	for k, i := range idx {
		ps[k] = c.Nodes[i]
	}
	return c.WaitPeers(ctx, ps, len(idx)-1)
}

// WaitPeers waits until every process in ps answers and sees at least peers
// peers.
func (c *Cluster) WaitPeers(ctx context.Context, ps []*Proc, peers int) error {
	for {
		ok := true
		var last error
		for _, p := range ps {
			st, err := c.StatusOf(ctx, p)
			if err != nil {
				ok, last = false, fmt.Errorf("%s: %w", p.Name, err)
				break
			}
			if st.Peers < peers {
				ok, last = false, fmt.Errorf("%s sees %d peers, want %d", p.Name, st.Peers, peers)
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: nodes not connected: %w (%v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
