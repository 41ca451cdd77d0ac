package node

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	pathpkg "path"
	"slices"
	"strconv"
	"strings"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/firmware/enrol"
	"github.com/gridmesh/gridmesh/node/web"

	"github.com/gridmesh/gridmesh/node/statesync"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/unit"
	"github.com/gridmesh/gridmesh/update"
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
	// Rejected counts payloads from peers refused as malformed or forged
	// (gossip, sync, book and vote answers); Ignored counts gossip dropped as
	// not acceptable now (late, duplicate, a signer this node does not know
	// yet), which honest peers also send.
	Rejected     int64 `json:"gossip_rejected"`
	Ignored      int64 `json:"gossip_ignored"`
	ClockSynced  bool  `json:"clock_synced"`
	Evidence     int64 `json:"evidence"`
	PendingTxs   int   `json:"pending_txs"`   // the mempool: accepted, not yet in a block
	Voting       bool  `json:"voting"`        // an authority in the current set, running consensus
	Authorities  int   `json:"authorities"`   // size of the authority set of the next height
	VotesFetched int64 `json:"votes_fetched"` // consensus messages a peer supplied on request
	// FutureFormat counts transactions and blocks from peers of a newer
	// encoding format than this binary reads: the network has moved on and
	// this node needs an update.
	FutureFormat int64 `json:"future_format"`
	// ProposalsFetched counts proposals that arrived as transaction hashes
	// while some transaction was not in this node's pool, so it asked the
	// proposer for the whole proposal (package wire, vote/2).
	ProposalsFetched int64 `json:"proposals_fetched"`
	// P2PBytesIn and P2PBytesOut count what the node's libp2p streams carried
	// since it started (gossip, sync, requests), without transport framing.
	P2PBytesIn  int64 `json:"p2p_bytes_in"`
	P2PBytesOut int64 `json:"p2p_bytes_out"`
	// P2PProtocols splits those bytes by libp2p protocol id (the node's own
	// streams are /gridmesh/<network>/..., gossip /gridmesh/meshsub/...).
	P2PProtocols map[string]p2p.Traffic `json:"p2p_protocols,omitempty"`
	// PeersBanned counts the bans this node gave peers that sent invalid
	// frames on one of its message streams (transactions, votes, head
	// pushes; p2p/penalty.go), each for 10 minutes from that stream.
	PeersBanned int64 `json:"peers_banned"`
	// Audit is the capture of every byte sent to peers ([network]
	// audit_file); absent when there is none.
	Audit *AuditStatus `json:"audit,omitempty"`
	// UpdateServing counts the requests for update releases that this node
	// answered and refused on update/1 (Options.Releases); absent when it
	// serves none.
	UpdateServing *update.ServerStats `json:"update_serving,omitempty"`
	// Followers is how many peers this node serves the chain's head to now,
	// SyncBusy how many it turned away since it started (node/follow.go);
	// Upstream is the peer a home follows (empty while it has none).
	Followers int    `json:"followers"`
	SyncBusy  int64  `json:"sync_busy"`
	Upstream  string `json:"upstream,omitempty"`
	// UpstreamVia says how this node reaches its upstream: "direct", "relay"
	// (only through an authority's circuit relay: a home behind a router
	// whose hole punching has not succeeded) or "" while it has none or is
	// not connected.
	UpstreamVia string `json:"upstream_via,omitempty"`
	// FollowDepth is how many hops the node is from the authorities when it
	// follows (0 on an authority, 1 following one, 255 while it follows
	// nobody).
	FollowDepth int `json:"follow_depth"`
	// PushedBlocks counts the blocks a home applied as its upstream pushed
	// them (head/2, follow.go) rather than by sync, since it started.
	PushedBlocks int64 `json:"pushed_blocks"`
	// StoreRepaired is where a corrupt chain store found at start was moved
	// (the chain was fetched again from peers); empty normally.
	StoreRepaired string `json:"store_repaired,omitempty"`
	// StateSync is the progress of this home's last join from a snapshot
	// (snapshots.go): phase, height, entries done of all, bytes, peers
	// serving and dropped; absent when it never state-synced.
	StateSync *statesync.Progress `json:"state_sync,omitempty"`
	// Snapshots are the state snapshots this node serves and its answers.
	Snapshots *statesync.ServerStats `json:"snapshots,omitempty"`
	// OpenBook is the live book (localbook.go): per open slot this node
	// holds orders for, the indicative price and volume and the home's own
	// order; GateChecks compares, for the last slots whose gate closed, the
	// indicative figures at gate closure with the clearing; BookDropped
	// counts orders refused for the book's per-owner and per-slot limits.
	OpenBook    []OpenSlot  `json:"open_book"`
	GateChecks  []GateCheck `json:"gate_checks,omitempty"`
	BookDropped int64       `json:"book_dropped"`
	// Admitted says whether the chain knows this node's key: an admitted
	// participant, or an authority of the next height. EnrolmentCode is the
	// key in the checksummed form an operator types into `gridmesh admit`
	// (firmware/enrol): a home that is not admitted shows it to its
	// installer (gridmesh doctor, the home page). EnrolmentQR, only while
	// not admitted, is that code's QR code as a data: URI of an SVG image
	// (enrolment.go), which the home page shows beside it. LANName, only
	// while not admitted, is the name the installer finds the device by on
	// the LAN: the host name's first label under .local, which Raspberry Pi
	// OS's avahi-daemon answers by mDNS (`gridmesh doctor` checks that it
	// runs).
	Admitted      bool   `json:"admitted"`
	EnrolmentCode string `json:"enrolment_code"`
	EnrolmentQR   string `json:"enrolment_qr,omitempty"`
	LANName       string `json:"lan_name,omitempty"`
	// Battery is the home battery's state ([battery]; battery.go), absent
	// without one.
	Battery *BatteryStatus `json:"battery,omitempty"`
	// Flex is the flexible load's state ([flex]; flex.go), absent without
	// one.
	Flex *FlexStatus `json:"flex,omitempty"`
	// Upgrades are the rule changes the authorities voted (chain: Upgrades),
	// by height; omitted when there is none.
	Upgrades []UpgradeStatus `json:"upgrades,omitempty"`
	// Announced is the release the authorities announced on chain
	// (release.go), ReleaseVotes the release votes not yet decided,
	// ReleaseKeys the release keys they voted (absent: genesis.toml's);
	// AutoUpdate what this node did about the announcement ([updates]
	// auto), absent while it did nothing.
	Announced    *AnnouncedStatus    `json:"announced,omitempty"`
	ReleaseVotes []ReleaseVoteStatus `json:"release_votes,omitempty"`
	ReleaseKeys  *ReleaseKeysStatus  `json:"release_keys,omitempty"`
	AutoUpdate   string              `json:"auto_update,omitempty"`
}

// FlexStatus is the flexible load now: what it still needs before its
// deadline (0 outside its window) and its daily window.
type FlexStatus struct {
	Need  unit.Wh `json:"need_wh"`
	From  string  `json:"from"`
	Until string  `json:"until"`
}

// UpgradeStatus is one scheduled upgrade: in force from block Height
// (Active once the chain is there); Known false means this binary does not
// implement it and stops at Height until it is updated.
type UpgradeStatus struct {
	Name   string `json:"name"`
	Height uint64 `json:"height"`
	Active bool   `json:"active"`
	Known  bool   `json:"known"`
}

// BatteryStatus is the home battery now: its state of charge, always in
// [reserve, capacity].
type BatteryStatus struct {
	SoC      unit.Wh `json:"soc_wh"`
	Capacity unit.Wh `json:"capacity_wh"`
	Reserve  unit.Wh `json:"reserve_wh"`
}

// publishStatus refreshes the chain part of the status after a commit; the loop
// calls it, HTTP handlers read it.
func (n *Node) publishStatus() {
	n.mu.RLock()
	cs := n.chain.Status()
	participant := n.chain.IsParticipant(n.self)
	n.mu.RUnlock()
	admitted := participant || slices.Contains(n.authoritiesAt(cs.Height+1), n.self)
	qr, lan := "", ""
	if !admitted {
		qr, lan = n.enrolQR(), lanName()
	}
	var ups []UpgradeStatus
	for _, u := range n.chain.Upgrades() {
		ups = append(ups, UpgradeStatus{Name: u.Name, Height: u.Height, Active: cs.Height >= u.Height, Known: u.Known})
	}
	st := &Status{
		Upgrades:      ups,
		Admitted:      admitted,
		EnrolmentCode: enrol.Code(n.key.Public().(ed25519.PublicKey)),
		EnrolmentQR:   qr,
		LANName:       lan,
		Account:       string(n.self),
		Name:          n.cfg.Node.Name,
		Role:          string(n.cfg.Node.Role),
		Network:       n.gen.ChainID,
		Height:        cs.Height,
		StateHash:     cs.StateHash.String(),
		BlockTime:     cs.Time,
		LastCleared:   cs.LastCleared,
		LastSettled:   cs.LastSettled,
	}
	n.releaseStatus(st)
	n.status.Store(st)
}

// Status returns the node's current status.
func (n *Node) Status() Status {
	st := *n.status.Load()
	st.NodeID = n.host.ID()
	st.Peers = len(n.host.Peers())
	st.Reachability = n.host.Reachability()
	st.Rejected = n.stats.rejected.Load()
	st.Ignored = n.stats.ignored.Load()
	st.ClockSynced = n.clockOK()
	st.Evidence = n.stats.evidence.Load()
	st.PendingTxs = n.pool.Len()
	st.VotesFetched = n.stats.votesFetched.Load()
	st.FutureFormat = n.stats.futureFormat.Load()
	st.ProposalsFetched = n.stats.proposalsFetched.Load()
	ps := n.host.Stats()
	st.P2PBytesIn, st.P2PBytesOut, st.P2PProtocols = ps.BytesIn, ps.BytesOut, ps.Protocols
	st.PeersBanned = ps.Banned
	if n.audit != nil {
		st.Audit = n.audit.status()
	}
	if r := n.opts.Releases; r != nil {
		us := r.Stats()
		st.UpdateServing = &us
	}
	if s := n.autoUpdate.Load(); s != nil {
		st.AutoUpdate = *s
	}
	st.StoreRepaired = n.repairedFrom
	st.StateSync = n.syncProgress.Load()
	if n.snaps != nil {
		ss := n.snaps.Stats()
		st.Snapshots = &ss
	}
	if n.battery != nil {
		b := n.battery.Battery()
		st.Battery = &BatteryStatus{SoC: b.SoC, Capacity: b.Capacity, Reserve: b.Reserve}
	}
	if n.flex != nil {
		st.Flex = &FlexStatus{Need: n.flex.needNow(n.now()), From: n.cfg.Flex.From, Until: n.cfg.Flex.Until}
	}
	if b := n.book.Load(); b != nil {
		st.OpenBook, st.GateChecks, st.BookDropped = b.open, b.gates, b.drops
	}
	st.Followers, st.SyncBusy = n.followers.stats(n.now())
	st.FollowDepth = int(n.followDepth())
	st.PushedBlocks = n.stats.pushedBlocks.Load()
	if up := n.upstream.Load(); up != nil {
		st.Upstream = *up
		st.UpstreamVia = n.host.Via(st.Upstream)
	}
	set := n.authoritiesAt(st.Height + 1)
	st.Authorities = len(set)
	st.Voting = n.isAuthority && slices.Contains(set, n.self)
	n.mu.RLock()
	st.OpenSlots = n.chain.OpenSlots(n.now().UnixMilli())
	n.mu.RUnlock()
	if st.OpenSlots == nil {
		st.OpenSlots = []unit.Slot{}
	}
	return st
}

// handler is where the API's routes are registered: the read API's
// (routes, api.go), the dashboard's (node/web) and the rest.
func (n *Node) handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range n.routes() {
		mux.HandleFunc(rt.method+" "+rt.path, rt.h)
	}
	mux.Handle("GET /metrics", n.metrics.handler())
	web.Register(mux) // the dashboard: GET / and GET /ui/... (node/web)
	mux.HandleFunc("/", notFound)
	return mux
}

// access puts the API and the dashboard behind the login (node/web) when
// the node serves them beyond loopback (openAPI made n.login); on loopback
// it is h itself. With api.public_chain, GET and HEAD requests for the
// public chain views (publicChain) pass without a login; h must then be the
// handler's mux, whose patterns say which route a request is for.
func (n *Node) access(h http.Handler) http.Handler {
	if n.login == nil {
		return h
	}
	locked := n.login.Wrap(h)
	mux, ok := h.(*http.ServeMux)
	if !n.cfg.API.PublicChain || !ok {
		return locked
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			if _, pat := mux.Handler(r); publicChain(pat, r.URL.Path) {
				h.ServeHTTP(w, r)
				return
			}
		}
		locked.ServeHTTP(w, r)
	})
}

// publicChainRoutes are the read API's routes that api.public_chain opens:
// what the chain and the p2p network show every participant anyway. The
// home's own readings (/api/v1/home, /api/v1/home/power), /metrics (meter
// readings among them), the home page and every POST are not among them.
var publicChainRoutes = map[string]bool{
	"GET /api/v1/status": true, "GET /api/v1/slots": true, "GET /api/v1/trades": true,
	"GET /api/v1/accounts/{key}": true, "GET /api/v1/accounts/{key}/statement": true, "GET /api/v1/statements": true,
	"GET /api/v1/txs/{hash}": true, "GET /api/v1/search": true, "GET /api/v1/blocks": true, "GET /api/v1/blocks/{height}": true,
	"GET /api/v1/peers": true, "GET /api/v1/authorities": true, "GET /api/v1/events": true, "GET /api/v1/openapi.json": true,
}

// publicChainFiles are the dashboard files of the public views: the
// explorer and network pages and what they load (uPlot under uplot/).
var publicChainFiles = map[string]bool{
	"explorer.html": true, "explorer.js": true, "network.html": true, "network.js": true,
	"common.js": true, "common.css": true, "favicon.svg": true,
}

// publicChain reports whether a request the mux routes to pattern pat, for
// path, is a public chain view.
func publicChain(pat, path string) bool {
	if pat == "GET /ui/" {
		name, _ := strings.CutPrefix(pathpkg.Clean(path), "/ui/")
		return publicChainFiles[name] || strings.HasPrefix(name, "uplot/")
	}
	return publicChainRoutes[pat]
}

// loopback reports whether addr is a loopback address (a wildcard such as
// 0.0.0.0 is not: it serves every interface).
func loopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// serveTx takes one signed transaction (its canonical chain encoding) from a local
// tool, checks it as a peer's would be, hands it to the loop and sends it to the
// authorities (txbatch.go). It
// answers 202 with the tx hash, or 400 with the reason.
func (n *Node) serveTx(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, chain.MaxTxBytes+1))
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	tx, err := chain.DecodeTx(body)
	if err == nil {
		// CheckTx verifies the signature (and remembers it by hash).
		n.mu.RLock()
		err = n.chain.CheckTx(tx, n.now().UnixMilli())
		n.mu.RUnlock()
	}
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	// Send first (202 means it is queued to leave this node); a tx refused
	// here (503) must not be proposed.
	if err := n.publishTxWait(r.Context(), body); err != nil {
		httpError(w, http.StatusServiceUnavailable, err)
		return
	}
	select {
	case n.txIn <- tx:
	case <-r.Context().Done():
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"hash": tx.Hash().String()})
}

// BlockInfo is the body of GET /api/v1/blocks/{height}.
type BlockInfo struct {
	Height    uint64   `json:"height"`
	Hash      string   `json:"hash"`
	Time      int64    `json:"time_ms"`
	Proposer  string   `json:"proposer"`
	StateHash string   `json:"state_hash"`
	Txs       []string `json:"txs"`
}

func (n *Node) serveBlock(w http.ResponseWriter, r *http.Request) {
	h, err := strconv.ParseUint(r.PathValue("height"), 10, 64)
	if err != nil {
		httpError(w, http.StatusBadRequest, fmt.Errorf("height: %w", err))
		return
	}
	n.mu.RLock()
	b, _, err := n.chain.Block(h)
	n.mu.RUnlock()
	if err != nil {
		httpError(w, http.StatusNotFound, err)
		return
	}
	writeJSON(w, http.StatusOK, blockInfo(b))
}

func blockInfo(b chain.Block) BlockInfo {
	info := BlockInfo{Height: b.Header.Height, Hash: b.Hash().String(), Time: b.Header.Time,
		Proposer: string(b.Header.Proposer), StateHash: b.Header.StateHash.String(), Txs: make([]string, len(b.Txs))}
	for i, tx := range b.Txs {
		info.Txs[i] = tx.Hash().String()
	}
	return info
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
