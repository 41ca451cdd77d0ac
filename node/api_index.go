package node

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/wire"
)

// apiState is what the read API keeps beside the chain: an index of names
// and admissions, of recent transactions by hash, the authorities' record
// and the event stream's subscribers. Its zero value is ready; the loop
// feeds it through onCommit (apiCommit), handlers read it.
//
// The chain has no query for a transaction or a block by hash, nor for an
// account's admission: this index holds them for the genesis, the blocks this node committed since
// it started and for the stored blocks it scanned once at the first request
// (at most maxIndexScan, newest first). A chain index by tx hash and by
// account would make both one lookup and survive restarts for free.
type apiState struct {
	once sync.Once
	// idx is set once, by apiIndex, before it scans the stored blocks, so
	// that blocks the loop commits meanwhile are added too (apiCommit).
	idx atomic.Pointer[apiIdx]

	authMu   sync.Mutex
	authAt   uint64 // the head the cached record was made at
	authList []AuthorityInfo

	events  broker
	stmtMem sync.Pool // of *stmtMem: statements' reusable memory (api_statement.go)
}

const (
	maxIndexScan = 20_000 // stored blocks scanned at the first request
	maxTxIndex   = 50_000 // recent transactions remembered by hash
	maxBlockIdx  = 50_000 // recent blocks remembered by hash (about 3.5 MB at most)
)

type admission struct {
	name   string
	known  bool // height and time are known
	height uint64
	timeMs int64
}

type apiIdx struct {
	mu      sync.Mutex
	names   map[ident.Account]admission
	txs     heightIndex // tx hash → height, the last maxTxIndex
	blocks  heightIndex // block hash → height, the last maxBlockIdx
	scanned uint64      // the highest height indexed
}

// heightIndex maps hashes to heights and forgets the oldest hash once it
// holds max of them.
type heightIndex struct {
	max    int
	height map[ident.Hash]uint64
	ring   []ident.Hash // the keys in insertion order, for eviction
	next   int
}

func newHeightIndex(max int) heightIndex {
	return heightIndex{max: max, height: make(map[ident.Hash]uint64)}
}

// put sets h's height; a new h evicts the oldest beyond max.
func (x *heightIndex) put(h ident.Hash, height uint64) {
	if _, ok := x.height[h]; !ok {
		if len(x.ring) < x.max {
			x.ring = append(x.ring, h)
		} else {
			delete(x.height, x.ring[x.next])
			x.ring[x.next] = h
			x.next = (x.next + 1) % x.max
		}
	}
	x.height[h] = height
}

func (x *apiIdx) admission(a ident.Account) (admission, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	adm, ok := x.names[a]
	return adm, ok
}

func (x *apiIdx) txHeight(h ident.Hash) (uint64, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	v, ok := x.txs.height[h]
	return v, ok
}

// add indexes block b; the caller holds x.mu.
func (x *apiIdx) add(b chain.Block) {
	for _, tx := range b.Txs {
		x.txs.put(tx.Hash(), b.Header.Height)
		if tx.Kind == chain.TxAdmit && tx.Admit != nil {
			x.names[tx.Admit.Participant] = admission{name: tx.Admit.Name, known: true, height: b.Header.Height, timeMs: b.Header.Time}
		}
	}
	x.blocks.put(b.Hash(), b.Header.Height)
	x.scanned = max(x.scanned, b.Header.Height)
}

func (x *apiIdx) blockHeight(h ident.Hash) (uint64, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	v, ok := x.blocks.height[h]
	return v, ok
}

// apiIndex returns the index, building it at the first call from the
// genesis file's names and the stored blocks.
func (n *Node) apiIndex() *apiIdx {
	s := &n.surf
	s.once.Do(func() {
		x := &apiIdx{names: make(map[ident.Account]admission), txs: newHeightIndex(maxTxIndex), blocks: newHeightIndex(maxBlockIdx)}
		var genesisMs int64
		n.mu.RLock()
		if b, _, err := n.chain.Block(0); err == nil {
			genesisMs = b.Header.Time
			x.add(b) // x is not shared yet
		}
		n.mu.RUnlock()
		if g, err := config.LoadGenesis(n.cfg.Path(n.cfg.Network.Genesis)); err == nil {
			for _, m := range append(g.Authorities, g.Participants...) {
				x.names[ident.Account(m.Key)] = admission{name: m.Name, known: true, timeMs: genesisMs}
			}
		}
		if n.cfg.Node.Name != "" {
			if adm, ok := x.names[n.self]; ok {
				adm.name = n.cfg.Node.Name
				x.names[n.self] = adm
			} else {
				x.names[n.self] = admission{name: n.cfg.Node.Name}
			}
		}
		s.idx.Store(x)
		head := n.status.Load().Height
		low := uint64(1)
		if head > maxIndexScan {
			low = head - maxIndexScan + 1
		}
		for h := low; h <= head; h++ {
			n.mu.RLock()
			b, _, err := n.chain.Block(h)
			n.mu.RUnlock()
			if err != nil {
				continue // pruned
			}
			x.mu.Lock()
			x.add(b)
			x.mu.Unlock()
		}
	})
	return s.idx.Load()
}

// apiCommit is the loop's hook after it committed blk with events.
func (n *Node) apiCommit(blk chain.Block, events []chain.Event) {
	if x := n.surf.idx.Load(); x != nil {
		x.mu.Lock()
		x.add(blk)
		x.mu.Unlock()
	}
	n.surf.events.publishBlock(n, blk, events)
}

// TxInfo is the body of GET /api/v1/txs/{hash}.
type TxInfo struct {
	Hash      string   `json:"hash"`
	Height    uint64   `json:"height"`
	BlockHash string   `json:"block_hash"`
	Time      string   `json:"time"` // the block's, RFC 3339 UTC
	Index     int      `json:"index"`
	Kind      string   `json:"kind"`
	Tx        chain.Tx `json:"tx"`
}

func (n *Node) serveTxByHash(w http.ResponseWriter, r *http.Request) {
	h, err := ident.ParseHash(r.PathValue("hash"))
	if err != nil {
		httpError(w, http.StatusBadRequest, badParam("hash", "want 64 hex characters, got %q", r.PathValue("hash")))
		return
	}
	height, ok := n.apiIndex().txHeight(h)
	if ok {
		n.mu.RLock()
		b, _, err := n.chain.Block(height)
		n.mu.RUnlock()
		if err == nil {
			for i, tx := range b.Txs {
				if tx.Hash() == h {
					writeJSON(w, http.StatusOK, TxInfo{Hash: h.String(), Height: height, BlockHash: b.Hash().String(),
						Time: utc(b.Header.Time), Index: i, Kind: fmt.Sprint(tx.Kind), Tx: tx})
					return
				}
			}
		}
	}
	httpError(w, http.StatusNotFound, fmt.Errorf("no transaction %s in the blocks this node holds", h))
}

// AuthorityInfo is one authority in GET /api/v1/authorities, from the commit
// certificates of the last authorityWindow blocks, each verified against the
// authority set of its height.
type AuthorityInfo struct {
	Key  string `json:"key"`
	Name string `json:"name,omitempty"`
	// Live: its precommit is in a certificate of the last liveBlocks blocks.
	Live bool `json:"live"`
	// LastSigned is the highest height whose certificate holds its
	// precommit (0: none in the window).
	LastSigned uint64 `json:"last_signed_height"`
	// Signed and Missed count the window's blocks whose certificate holds,
	// or lacks, its precommit while it was in the set. A certificate needs
	// only more than 2/3 of the set, so a missed vote may have come late
	// rather than never.
	Signed int `json:"signed"`
	Missed int `json:"missed"`
}

const (
	authorityWindow = 100
	liveBlocks      = 10
)

func (n *Node) serveAuthorities(w http.ResponseWriter, r *http.Request) {
	list, window, err := n.authorities()
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"window": window, "items": list})
}

// authorities computes the record for the current head, once per head.
func (n *Node) authorities() ([]AuthorityInfo, int, error) {
	s := &n.surf
	head := n.status.Load().Height
	s.authMu.Lock()
	defer s.authMu.Unlock()
	if s.authList != nil && s.authAt == head {
		return s.authList, authorityWindow, nil
	}
	set := n.authoritiesAt(head + 1)
	byKey := make(map[ident.Account]*AuthorityInfo)
	out := make([]AuthorityInfo, len(set))
	idx := n.apiIndex()
	for i, a := range set {
		out[i] = AuthorityInfo{Key: string(a)}
		if adm, ok := idx.admission(a); ok {
			out[i].Name = adm.name
		}
		byKey[a] = &out[i]
	}
	low := uint64(1)
	if head >= authorityWindow {
		low = head - authorityWindow + 1
	}
	for h := head; h >= low && h > 0; h-- {
		n.mu.RLock()
		b, cert, err := n.chain.Block(h)
		n.mu.RUnlock()
		if errors.Is(err, chain.ErrPruned) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("block %d: %w", h, err)
		}
		hset := n.authoritiesAt(h)
		c := wire.Certified{Block: b, Cert: cert}
		if err := wire.VerifyCertified(n.gen.ChainID, consensusIDs(hset), c); err != nil {
			return nil, 0, fmt.Errorf("block %d: certificate: %w", h, err)
		}
		votes, _ := wire.DecodeCommit(cert, consensusIDs(hset))
		signed := make(map[ident.Account]bool, len(votes))
		for _, v := range votes {
			signed[ident.Account(v.From)] = true
		}
		for _, a := range hset {
			ai := byKey[a]
			if ai == nil {
				continue
			}
			if signed[a] {
				ai.Signed++
				ai.LastSigned = max(ai.LastSigned, h)
				if h+liveBlocks > head {
					ai.Live = true
				}
			} else {
				ai.Missed++
			}
		}
	}
	s.authAt, s.authList = head, out
	return out, authorityWindow, nil
}
