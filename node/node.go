package node

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/node/statesync"
	"github.com/gridmesh/gridmesh/node/web"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/unit"
	"github.com/gridmesh/gridmesh/update"
	"github.com/gridmesh/gridmesh/wire"
)

// ErrNeed64Bit is returned on a 32-bit platform before any data directory is touched.
var ErrNeed64Bit = errors.New("a 64-bit OS is required: badger, the chain and meter store, " +
	"silently loses data on 32-bit platforms; install 64-bit Raspberry Pi OS (Pi Zero 2 W, 3, 4, 5)")

// Options are what a caller of Load may set beyond the config file. The zero value
// is valid: every nil or zero field has the production default named in its
// comment.
type Options struct {
	// Log receives the node's structured log; nil discards it.
	Log *slog.Logger
	// OnEvent, if set, is called from the node's loop for every chain event
	// (chain.SlotCleared, chain.SlotSettled) as blocks commit. It must not block.
	OnEvent func(chain.Event)
	// KeepBlocks is how many recent block bodies a home keeps; older ones are
	// pruned (authorities keep all). 0 means 2,000.
	KeepBlocks uint64
	// SnapshotEvery is the height interval at which the node takes a state
	// snapshot to serve (snapshots.go). 0 means 256.
	SnapshotEvery uint64
	// StateSyncBehind is how far behind a home must be to join from a
	// snapshot rather than by blocks. 0 means 1,000.
	StateSyncBehind uint64
	// FollowEvery is how often a home asks for new blocks when no head push
	// woke it (follow.go). 0 means 1 s.
	FollowEvery time.Duration

	// Ready, if set, is called once, when the chain is loaded, the p2p host
	// is up and the node's loop has started (systemd's READY=1).
	Ready func()
	// Heartbeat, if set, is called by the node's loop goroutine on every
	// tick (100 ms), so a loop that is stuck stops calling it (systemd's
	// WATCHDOG=1). It must not block.
	Heartbeat func()

	// Now is the clock the node's protocols read (block and order times,
	// the policies' pacing, follower expiry). nil means time.Now. Timers
	// (the loop's tick, consensus timeouts) still run on the real clock.
	Now func() time.Time
	// ClockSynced reports whether the system clock is synchronised, for
	// node.clock = "kernel" (DESIGN.md, Clocks). nil means asking the kernel
	// (adjtimex; always true outside Linux).
	ClockSynced func() bool
	// Choose returns a number in [0, n) for the choices the node makes at
	// random: which authority a home sends a batch of transactions to, and
	// where its rotation of sync peers starts. nil means math/rand/v2.IntN.
	Choose func(n int) int
	// Filter, if set, sees every frame a peer sends on the node's message
	// streams (wire.TxProto, wire.VoteProto, wire.HeadProto,
	// wire.HeadV1Proto) before the node decodes it; a frame it returns
	// false for is dropped as if lost on the way (p2p.Ignore, not held
	// against the peer). It is for tests and chaos
	// runs (a lossy link, an authority that never gets a transaction); it is
	// called from the p2p host's goroutines and must be safe for that.
	Filter func(proto string, from ed25519.PublicKey, payload []byte) bool
	// Withhold names protocols of the node's request and message streams
	// (wire.HeadProto, ...) that its p2p host does not serve though the
	// node's code registers them (p2p.Config.Withhold): its peers pick
	// another version. It is for a node withholding a protocol version: a
	// release that retires one, and tests of mixed releases (a node of the
	// previous release, which never served it). nil serves all.
	Withhold []string
	// Releases, if set, serves the update releases this node holds to its
	// peers on update.PeerProtocol (/gridmesh/<network>/update/1): the
	// composition root builds it on the node's update slots (cmd/gridmesh,
	// update.NewServer). Its counts appear in the status (update_serving).
	// nil serves none (the demo's and tests' nodes). With it, the node also
	// keeps network.json in those slots and, with [updates] auto, installs
	// a release the authorities announced (release.go).
	Releases *update.Server
	// Version is the version of the running binary (`gridmesh version`),
	// which an announced release must be newer than; "" is v0.0.0.
	Version string
}

// Node is one gridmesh node: a chain replica, a libp2p host, a meter sampler and a
// trading agent (homes), or a block-producing authority. Load opens it; Run runs it
// until its context ends and then releases everything Load opened.
type Node struct {
	cfg  config.Node
	gen  chain.Genesis
	key  ed25519.PrivateKey
	self ident.Account
	log  *slog.Logger
	opts Options // as given to Load, defaults filled in
	path string  // the config file, for messages

	chain    *chain.Chain
	journal  *meter.Journal // nil on nodes without a meter
	device   *Device        // the meter; nil on nodes without one
	forecast forecaster
	battery  *simBattery // the simulated battery behind the meter; nil: none
	flex     *simFlex    // the simulated flexible load behind the meter; nil: none
	host     *p2p.Host
	audit    *auditFile // [network] audit_file; nil: none
	csTopic  *p2p.Topic
	orders   *p2p.Topic // the live book's gossip (orders.go)
	api      net.Listener
	login    *web.Login // nil while api.listen is loopback (openAPI)

	isAuthority bool // configured as one; it votes while in the chain's authority set

	// mu orders reads of the chain from gossip validators and HTTP handlers against
	// commits by the loop, which is the only writer.
	mu     sync.RWMutex
	status atomic.Pointer[Status]
	stats  stats

	metrics *metrics // GET /metrics (metrics.go)

	txIn      chan chain.Tx
	bookIn    chan chain.Tx              // orders heard on the orders topic, for the loop's book
	book      atomic.Pointer[bookStatus] // the loop's last view of its local book, for the status
	txOut     chan outTx                 // checked txs waiting for runBatcher
	pool      *chain.Pool                // the mempool; written by the loop, read by serveBook
	voteIn    chan consensus.Message
	votesIn   chan votesQuery // peers' missing-vote requests, for the loop
	timeoutIn chan consensus.Timeout
	// The head push (follow.go): the block or height to tell followers and
	// its wake-up, the upstream's word that the chain moved on, and the
	// blocks it pushed (head/2), checked, for the loop.
	headOut  atomic.Pointer[headPush]
	headWake chan struct{}
	headIn   chan struct{}
	blockIn  chan pushedBlock
	bestSeen atomic.Uint64 // the height to catch up to (seen)
	heardMu  sync.Mutex
	heard    map[ident.Account]uint64 // the highest height each authority claimed (seen)

	fetchMu sync.Mutex
	fetch   fetchPolicy // proposal fetches by sender (fetch.go)
	// lastProposal is the frame of the last proposal this node sent (voteFrame).
	lastProposal struct {
		sig   string
		frame []byte
	}

	followers *followers             // the peers this node serves the chain's head to (follow.go)
	upstream  atomic.Pointer[string] // the peer a home follows, for the status
	// alsoUpstream is the peer besides the upstream whose pushes a home
	// takes for a while (followPolicy.alsoFrom: the upstream it left by
	// climbing, or the home it asked on the last resort), for receiveBlock.
	alsoUpstream atomic.Pointer[string]
	depth        atomic.Uint32 // a home's followDepth: its upstream's plus one, noDepth for none
	onLastResort atomic.Bool   // a home served as the last resort: it gives no new follower a slot (followPolicy.open)

	surf apiState // the read API's index and event stream (api_index.go)

	// repairedFrom is where a corrupt chain store found at Load was moved.
	repairedFrom string
	// enrolQR is the enrolment code's QR image (enrolment.go), made once
	// when a status first needs it: the key never changes.
	enrolQR    func() string
	keepBlocks uint64

	genesisReleaseKeys []string               // genesis.toml's [updates] keys
	autoUpdate         atomic.Pointer[string] // what runReleases did last (release.go)

	snaps           *statesync.Server                  // the snapshots this node serves (snapshots.go)
	syncProgress    atomic.Pointer[statesync.Progress] // the last state sync's progress; nil: none
	snapshotEvery   uint64
	stateSyncBehind uint64
}

// now reads the node's clock (Options.Now).
func (n *Node) now() time.Time { return n.opts.Now() }

// clockOK reports whether the node may do time-dependent work: propose, attest
// and trade (DESIGN.md, Clocks).
func (n *Node) clockOK() bool {
	return n.cfg.Node.Clock == config.ClockTrust || n.opts.ClockSynced()
}

// RunConfig runs one node from the config file at path (`gridmesh run -c path`).
func RunConfig(ctx context.Context, path string, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := Load(ctx, path, Options{Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "gridmesh %s node %s (%s), status at %s\n", n.cfg.Node.Role, n.cfg.Node.Name, n.host.ID(), n.StatusURL())
	return n.Run(ctx)
}

// Load reads the node config at path, its genesis and its key, and opens the
// node's API listener, chain store, meter journal and libp2p host, in that order,
// so that a port in use fails before any store is opened. On error everything
// opened so far is closed again. ctx bounds the host's background work: it
// must outlive Run (cancelling it ends the node's networking).
func Load(ctx context.Context, path string, opts Options) (_ *Node, err error) {
	if strconv.IntSize == 32 {
		return nil, ErrNeed64Bit
	}
	n, err := newNode(path, opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if err := n.openAPI(); err != nil {
		return nil, err
	}
	if err := n.openChain(); err != nil {
		return nil, err
	}
	if err := n.openMeter(); err != nil {
		return nil, err
	}
	if err := n.openHost(ctx); err != nil {
		return nil, err
	}
	if err := n.registerHandlers(); err != nil {
		return nil, err
	}
	n.publishStatus()
	return n, nil
}

// newNode reads the config at path, its genesis and its key, and builds the
// node with opts' defaults filled in; it opens nothing.
func newNode(path string, opts Options) (*Node, error) {
	cfg, err := config.LoadNode(path)
	if err != nil {
		return nil, err
	}
	gcfg, err := config.LoadGenesis(cfg.Path(cfg.Network.Genesis))
	if err != nil {
		return nil, err
	}
	gen, err := chainGenesis(gcfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path(cfg.Network.Genesis), err)
	}
	key, err := config.LoadKey(cfg.Path(cfg.Node.Key))
	if err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ClockSynced == nil {
		opts.ClockSynced = kernelClockSynced
	}
	if opts.Choose == nil {
		opts.Choose = rand.IntN
	}
	opts.FollowEvery = cmp.Or(opts.FollowEvery, followEvery)
	n := &Node{
		cfg:                cfg,
		gen:                gen,
		key:                key,
		self:               ident.AccountOf(key.Public().(ed25519.PublicKey)),
		log:                opts.Log.With("node", cfg.Node.Name),
		opts:               opts,
		path:               path,
		txIn:               make(chan chain.Tx, 4096),
		bookIn:             make(chan chain.Tx, 4096),
		txOut:              make(chan outTx, txQueueSize),
		pool:               chain.NewPool(poolSize),
		voteIn:             make(chan consensus.Message, 4096),
		votesIn:            make(chan votesQuery),
		timeoutIn:          make(chan consensus.Timeout, 256),
		headWake:           make(chan struct{}, 1),
		headIn:             make(chan struct{}, 1),
		blockIn:            make(chan pushedBlock, pushedQueue),
		fetch:              make(fetchPolicy),
		heard:              make(map[ident.Account]uint64),
		keepBlocks:         cmp.Or(opts.KeepBlocks, keepBlocks),
		genesisReleaseKeys: gcfg.Updates.Keys,

		snapshotEvery:   cmp.Or(opts.SnapshotEvery, snapshotEvery),
		stateSyncBehind: cmp.Or(opts.StateSyncBehind, stateSyncBehind),
		enrolQR:         sync.OnceValue(func() string { return enrolmentQR(key.Public().(ed25519.PublicKey)) }),
	}
	n.isAuthority = cfg.Node.Role == config.RoleAuthority
	maxFollowers := followersHome
	if n.isAuthority {
		maxFollowers = followersAuthority
	}
	n.followers = newFollowers(cmp.Or(cfg.Network.Followers, maxFollowers))
	n.depth.Store(noDepth)
	n.metrics = newMetrics(n, authorityNames(gcfg))
	return n, nil
}

// openAPI opens the HTTP API's listener (Run serves it).
func (n *Node) openAPI() error {
	ln, err := net.Listen("tcp", n.cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("%s: api.listen: %w", n.path, err)
	}
	n.api = newLimitListener(ln, apiMaxConns)
	if !loopback(ln.Addr()) {
		// Beyond loopback, the API and the dashboard need the token (http.go).
		tok, err := web.Token(n.cfg.Path(web.TokenFile))
		if err != nil {
			ln.Close()
			return fmt.Errorf("%s: api.listen %s is not loopback, so it needs a token: %w", n.path, n.cfg.API.Listen, err)
		}
		n.login = web.NewLogin(tok)
	}
	return nil
}

// openChain opens the chain store, moving a corrupt one aside.
func (n *Node) openChain() error {
	data := n.cfg.Path(n.cfg.Node.Data)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("%s: node.data: %w", n.path, err)
	}
	chainDir := filepath.Join(data, "chain")
	var err error
	n.chain, err = chain.Open(chainDir, n.gen)
	if errors.Is(err, chain.ErrCorrupt) {
		// Never used silently, never deleted: the damaged store is kept for
		// inspection and the chain is fetched again from peers, verified block
		// by block with its certificates. An authority's last-signed record
		// is in consensus.state, outside the store, so it signs nothing
		// conflicting meanwhile (it votes again once it has caught up).
		aside := chainDir + ".corrupt-" + n.now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(chainDir, aside); rerr != nil {
			return fmt.Errorf("%w (moving it aside failed: %v)", err, rerr)
		}
		n.log.Error("the chain store is corrupt: moved aside; the chain is fetched again from peers", "err", err, "moved_to", aside)
		n.repairedFrom = aside
		n.chain, err = chain.Open(chainDir, n.gen)
	}
	if err != nil {
		return err
	}
	n.chain.SetEvidenceVerifier(evidenceVerifier)
	if head := n.chain.Status().Height; n.isAuthority &&
		!slices.Contains(n.authoritiesAt(head+1), n.self) && !slices.Contains(n.authoritiesAt(head+2), n.self) {
		// Not an error: a node voted in later learns so only once it has
		// synced the chain. Until its key is in the set it follows (status
		// "voting": false).
		n.log.Warn("node.role is authority, but this node's key is not in the authority set known so far: following the chain until the authorities vote it in",
			"key", n.self, "height", head+1)
	}
	return nil
}

// openMeter opens a home's meter journal and its meter.
func (n *Node) openMeter() error {
	if n.cfg.Node.Role != config.RoleHome {
		return nil
	}
	data := n.cfg.Path(n.cfg.Node.Data)
	var err error
	if n.journal, err = meter.OpenJournal(filepath.Join(data, "meter")); err != nil {
		return err
	}
	n.device, err = OpenMeter(n.cfg.Meter, data, time.Unix(n.gen.Epoch, 0), n.log.With("component", "meter"))
	if err != nil {
		return fmt.Errorf("%s: %w", n.path, err)
	}
	if s, ok := n.device.Reader.(interface{ AtLeast(imp, exp unit.Wh) }); ok {
		// A pulse counter may have lost its last pulses with the power; the
		// journal's last reading is a floor for it.
		if last, ok := n.journal.Last(); ok {
			s.AtLeast(last.Import, last.Export)
		}
	}
	n.forecast = n.device.forecaster(n.journal)
	if b := n.cfg.Battery; b.Present() {
		if n.device.sim == nil { // config.validateBattery refuses this
			return fmt.Errorf("%s: battery.source: \"sim\" needs meter.driver = \"sim\"", n.path)
		}
		n.battery = newSimBattery(n.device.sim, batteryOf(b))
		n.device.Reader, n.forecast = n.battery, n.battery
	}
	if f := n.cfg.Flex; f.Present() {
		if n.device.sim == nil || n.battery != nil { // config.validateFlex refuses these
			return fmt.Errorf("%s: flex.source: \"sim\" needs meter.driver = \"sim\" and no [battery]", n.path)
		}
		n.flex = newSimFlex(n.device.sim, f)
		n.device.Reader, n.forecast = n.flex, n.flex
	}
	return nil
}

// openHost starts the libp2p host, recording what it sends to the audit
// file if the config names one; ctx bounds its background work.
func (n *Node) openHost(ctx context.Context) error {
	var err error
	if f := n.cfg.Network.AuditFile; f != "" {
		if n.audit, err = openAudit(n.cfg.Path(f), n.cfg.Network.AuditMaxMiB); err != nil {
			return fmt.Errorf("%s: %w", n.path, err)
		}
		n.log.Info("recording every byte sent to peers", "audit_file", n.audit.path)
	}
	n.host, err = p2p.New(ctx, p2p.Config{
		Key:        n.key,
		Network:    n.gen.ChainID,
		Listen:     n.cfg.Network.Listen,
		Bootstrap:  n.cfg.Network.Bootstrap,
		MDNS:       n.cfg.Network.MDNS,
		DHT:        n.cfg.Network.DHT,
		MaxPayload: wire.MaxGossipBytes,
		// Authorities relay every order submitted to them and vote several
		// times a block: the per-signer gossip rate limit is for everyone else.
		Unlimited: n.currentAuthorityKeys(),
		// NAT traversal (doc.go): an authority is publicly reachable, answers
		// AutoNAT, relays for admitted members (circuit relay v2) and is a
		// DHT server; a home reserves relay slots on the authorities once
		// AutoNAT finds it private, and tries hole punching.
		RelayService: n.isAuthority,
		RelayAllow:   n.relayAllowed,
		NATTraversal: !n.isAuthority,
		Audit:        n.auditWriter(),
		Withhold:     n.opts.Withhold,
	}, n.log.With("component", "p2p"))
	if err != nil {
		return fmt.Errorf("%s: network: %w", n.path, err)
	}
	return nil
}

// registerHandlers joins the consensus topic (authorities) and registers the
// request handlers; the message handlers, which need Run's context, are
// registered by handleMessages.
func (n *Node) registerHandlers() error {
	// Transactions and votes go straight to the authorities (txbatch.go,
	// sendVote); the consensus topic only feeds observers, such as a monitor
	// looking for double signs. A home follows the chain by sync (doc.go).
	if n.isAuthority {
		var err error
		if n.csTopic, err = n.host.JoinPublishOnly("consensus", n.validateConsensus); err != nil {
			return err
		}
	}
	// Every node holds the live book: it subscribes to the orders topic.
	var err error
	if n.orders, err = n.host.Join(ordersTopic, n.validateOrderGossip); err != nil {
		return err
	}
	n.host.Handle(wire.SyncProto, 16, n.serveSync)
	n.registerSnapshots()
	n.host.Handle(wire.BookProto, 0, n.serveBook)    // max: the request size (empty)
	n.host.Handle(wire.VotesProto, 12, n.serveVotes) // max: the request size
	if r := n.opts.Releases; r != nil {
		// Requests are bounded in size here, in time (p2p.DefaultTimeout) and
		// rate per peer by the host, in concurrency by the server.
		n.host.Handle(update.PeerProtocol, update.MaxPeerRequest, func(ctx context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
			return r.Handle(ctx, req)
		})
	}
	return nil
}

// handleMessages registers the message stream handlers (head pushes; on an
// authority transactions and votes), each behind Options.Filter.
func (n *Node) handleMessages(ctx context.Context) {
	anyone := func(ed25519.PublicKey) bool { return true }
	n.host.HandleMessages(wire.HeadProto, wire.MaxHeadBlockBytes, headRate, anyone, n.filtered(wire.HeadProto, n.receiveBlock))
	n.host.HandleMessages(wire.HeadV1Proto, binary.MaxVarintLen64, headRate, anyone, n.filtered(wire.HeadV1Proto, n.receiveHead))
	if n.isAuthority {
		n.host.HandleMessages(wire.TxProto, wire.MaxBatchBytes+binary.MaxVarintLen64, txRate, anyone,
			n.filtered(wire.TxProto, func(from ed25519.PublicKey, b []byte) p2p.Verdict { return n.receiveTxs(ctx, from, b) }))
		n.host.HandleMessages(wire.VoteProto, wire.MaxGossipBytes, voteRate, n.allowVotes,
			n.filtered(wire.VoteProto, func(from ed25519.PublicKey, b []byte) p2p.Verdict { return n.receiveVote(ctx, from, b) }))
	}
}

// filtered puts Options.Filter, if any, in front of a message handler.
func (n *Node) filtered(proto string, h func(ed25519.PublicKey, []byte) p2p.Verdict) func(ed25519.PublicKey, []byte) p2p.Verdict {
	f := n.opts.Filter
	if f == nil {
		return h
	}
	return func(from ed25519.PublicKey, b []byte) p2p.Verdict {
		if !f(proto, from, b) {
			return p2p.Ignore
		}
		return h(from, b)
	}
}

// chainGenesis converts the genesis file's form into the chain's.
func chainGenesis(g config.Genesis) (chain.Genesis, error) {
	out := chain.Genesis{
		ChainID:             g.ChainID,
		Epoch:               g.Epoch,
		SlotSeconds:         g.SlotSeconds,
		OpenLeadSeconds:     g.OpenLeadSeconds,
		GateLeadSeconds:     g.GateLeadSeconds,
		AttestWindowSeconds: g.AttestWindowSeconds,
		Operator:            ident.Account(g.Operator),
		Tariff:              market.Tariff{Floor: g.Tariff.Floor, Ceiling: g.Tariff.Ceiling, Fee: g.Tariff.Fee},
		Params:              market.Params{KPPM: g.KPPM},
		Dev:                 g.Dev,
		LateSeconds:         g.Tariff.LateSeconds,
	}
	for _, a := range g.Authorities {
		out.Authorities = append(out.Authorities, ident.Account(a.Key))
	}
	for _, p := range g.Participants {
		out.Participants = append(out.Participants, ident.Account(p.Key))
	}
	return out, out.Validate()
}

// Addrs returns the node's libp2p addresses, with /p2p/<id>.
func (n *Node) Addrs() []string { return n.host.Addrs() }

// Account returns the node's chain account.
func (n *Node) Account() ident.Account { return n.self }

// StatusURL returns the URL of the node's status page.
func (n *Node) StatusURL() string { return "http://" + n.api.Addr().String() + "/api/v1/status" }

// Run runs the node until ctx ends. It returns nil when ctx is cancelled, and
// closes everything Load opened before returning.
func (n *Node) Run(ctx context.Context) error {
	defer n.close()
	g, ctx := errgroup.WithContext(ctx)
	srv := n.newAPIServer()
	g.Go(func() error {
		if err := srv.Serve(n.api); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("api: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	g.Go(func() error {
		return runBatcher(ctx, n.txOut, func(b []byte) { n.sendTxBatch(ctx, b, nil) })
	})
	g.Go(func() error { return n.runBookSync(ctx) })
	g.Go(func() error { return n.runOrders(ctx) })
	g.Go(func() error { return n.runHeadNotifier(ctx) })
	g.Go(func() error { return n.runReleases(ctx) })
	n.handleMessages(ctx)
	if n.journal != nil {
		n.runMeter(ctx, g)
	}
	started := make(chan struct{})
	g.Go(func() error { return n.loop(ctx, started) })
	if n.opts.Ready != nil {
		g.Go(func() error {
			select {
			case <-started:
				n.opts.Ready()
			case <-ctx.Done():
			}
			return nil
		})
	}
	return g.Wait()
}

// runMeter starts a home's meter, its sampler and its Home Assistant
// publisher in g.
func (n *Node) runMeter(ctx context.Context, g *errgroup.Group) {
	interval := n.cfg.Meter.Interval.Duration
	// The simulated meter runs Speed times faster than the wall clock, so its
	// counters may move Speed times as fast as a real meter's could.
	maxPower := n.cfg.Meter.MaxPowerW
	if n.device.sim != nil {
		maxPower *= unit.W(max(n.cfg.Meter.Sim.Speed, 1))
	}
	if n.device.Run != nil {
		g.Go(func() error { return n.device.Run(ctx) })
	}
	if n.cfg.HA.Enabled {
		g.Go(func() error { return n.publishHA(ctx, max(interval, 5*time.Second)) })
	}
	s := meter.NewSampler(n.device.Reader, n.journal, meter.SamplerConfig{
		Interval: interval,
		MaxPower: maxPower,
	}, n.log.With("component", "sampler"))
	n.metrics.sampler.Store(s)
	g.Go(func() error { return s.Run(ctx) })
}

func (n *Node) close() {
	if n.host != nil {
		n.host.Close()
	}
	if n.audit != nil {
		n.audit.Close()
	}
	if n.api != nil {
		n.api.Close()
	}
	if n.snaps != nil {
		n.snaps.Close() // before the chain: they hold its read transactions
	}
	if n.chain != nil {
		n.chain.Close()
	}
	if n.device != nil {
		n.device.Close()
	}
	if n.journal != nil {
		n.journal.Close()
	}
}
