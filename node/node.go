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
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/unit"
)

// ErrNeed64Bit is returned on a 32-bit platform before any data directory is touched.
var ErrNeed64Bit = errors.New("a 64-bit OS is required: badger, the chain and meter store, " +
	"silently loses data on 32-bit platforms; install 64-bit Raspberry Pi OS (Pi Zero 2 W, 3, 4, 5)")

// Options are what a caller of Load may set beyond the config file. The zero value
// is valid.
type Options struct {
	// Log receives the node's structured log; nil discards it.
	Log *slog.Logger
	// OnEvent, if set, is called from the node's loop for every chain event
	// (chain.SlotCleared, chain.SlotSettled) as blocks commit. It must not block.
	OnEvent func(chain.Event)
	// KeepBlocks is how many recent block bodies a home keeps; older ones are
	// pruned (authorities keep all). 0 means 2,000.
	KeepBlocks uint64
	// Ready, if set, is called once by Run when the chain is loaded, the p2p
	// host is up and the loop has started (systemd's READY=1). It must not block.
	Ready func()
	// Heartbeat, if set, is called by the loop goroutine itself on every tick,
	// so a stuck loop stops calling it (systemd's watchdog). It must not block.
	Heartbeat func()
}

// Node is one gridmesh node: a chain replica, a libp2p host, a meter sampler and a
// trading agent (homes), or a block-producing authority. Load opens it; Run runs it
// until its context ends and then releases everything Load opened.
type Node struct {
	cfg     config.Node
	gen     chain.Genesis
	key     ed25519.PrivateKey
	self    chain.Account
	log     *slog.Logger
	onEvent func(chain.Event)
	// ready and heartbeat are Options.Ready and Options.Heartbeat; nil if unset.
	ready, heartbeat func()

	chain    *chain.Chain
	journal  *meter.Journal // nil on nodes without a meter
	device   *Device        // the meter; nil on nodes without one
	forecast forecaster
	host     *p2p.Host
	csTopic  *p2p.Topic
	api      net.Listener

	isAuthority bool // configured as one; it votes while in the chain's authority set

	// mu orders reads of the chain from gossip validators and HTTP handlers against
	// commits by the loop, which is the only writer.
	mu     sync.RWMutex
	status atomic.Pointer[Status]

	txIn      chan chain.Tx
	txOut     chan outTx  // checked txs waiting for runBatcher
	pool      *chain.Pool // the mempool; written by the loop, read by serveBook
	voteIn    chan consensus.Message
	votesIn   chan votesQuery // peers' missing-vote requests, for the loop
	timeoutIn chan consensus.Timeout
	// The head push (follow.go): the height to tell followers and its
	// wake-up, and the upstream's word that the chain moved on.
	headOut  atomic.Uint64
	headWake chan struct{}
	headIn   chan struct{}
	bestSeen atomic.Uint64 // the height to catch up to (seen)
	heardMu  sync.Mutex
	heard    map[chain.Account]uint64 // the highest height each authority claimed (seen)
	rejected atomic.Int64             // payloads from peers refused as malformed or forged
	ignored  atomic.Int64             // gossip payloads dropped as not acceptable now (late, duplicate, unknown signer)
	evidence atomic.Int64             // conflicting signed messages seen from authorities
	// votesFetched counts consensus messages obtained by asking a peer (votes.go).
	votesFetched atomic.Int64
	// proposalsFetched counts proposals that came as tx hashes with some
	// transaction not in the pool, fetched whole (fetchProposal).
	proposalsFetched atomic.Int64
	fetchMu          sync.Mutex
	fetching         map[string]fetchState // by the sender's key
	// lastProposal is the frame of the last proposal this node sent (voteFrame).
	lastProposal struct {
		sig   string
		frame []byte
	}

	followers *followers             // the peers this node serves the chain's head to (follow.go)
	upstream  atomic.Pointer[string] // the peer a home follows, for the status
	depth     atomic.Uint32          // a home's followDepth: its upstream's plus one, noDepth for none

	kernelClock func() bool                  // kernelClockSynced; replaced in tests
	dropVote    func(consensus.Message) bool // tests: gossiped votes to lose; nil in production
	dropTxs     bool                         // tests: lose every batch of transactions peers send
	followEvery time.Duration                // tests: a home's poll interval; 0 = followEvery
	batchTurn   func() int                   // tests: which authority a home's batch goes to; nil = at random
	// repairedFrom is where a corrupt chain store found at Load was moved.
	repairedFrom string
	keepBlocks   uint64
}

// clockOK reports whether the node may do time-dependent work: propose, attest
// and trade (DESIGN.md, Clocks).
func (n *Node) clockOK() bool {
	return n.cfg.Node.Clock == config.ClockTrust || n.kernelClock()
}

// RunConfig runs one node from the config file at path (`gridmesh run -c path`).
func RunConfig(ctx context.Context, path string, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := Load(path, Options{Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "gridmesh %s node %s (%s), status at %s\n", n.cfg.Node.Role, n.cfg.Node.Name, n.host.ID(), n.StatusURL())
	return n.Run(ctx)
}

// Load reads the node config at path, its genesis and its key, and opens the
// node's API listener, chain store, meter journal and libp2p host, in that order,
// so that a port in use fails before any store is opened. On error everything
// opened so far is closed again.
func Load(path string, opts Options) (_ *Node, err error) {
	if strconv.IntSize == 32 {
		return nil, ErrNeed64Bit
	}
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
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		cfg:       cfg,
		gen:       gen,
		key:       key,
		self:      chain.AccountOf(key.Public().(ed25519.PublicKey)),
		log:       log.With("node", cfg.Node.Name),
		onEvent:   opts.OnEvent,
		ready:     opts.Ready,
		heartbeat: opts.Heartbeat,
		txIn:      make(chan chain.Tx, 4096),
		txOut:     make(chan outTx, txQueueSize),
		pool:      chain.NewPool(poolSize),
		voteIn:    make(chan consensus.Message, 4096),
		votesIn:   make(chan votesQuery),
		timeoutIn: make(chan consensus.Timeout, 256),
		headWake:  make(chan struct{}, 1),
		fetching:  make(map[string]fetchState),
		headIn:    make(chan struct{}, 1),

		kernelClock: kernelClockSynced,
		keepBlocks:  keepBlocks,
	}
	if opts.KeepBlocks > 0 {
		n.keepBlocks = opts.KeepBlocks
	}
	n.isAuthority = cfg.Node.Role == config.RoleAuthority
	maxFollowers := followersHome
	if n.isAuthority {
		maxFollowers = followersAuthority
	}
	if cfg.Network.Followers > 0 {
		maxFollowers = cfg.Network.Followers
	}
	n.followers = newFollowers(maxFollowers)
	n.heard = make(map[chain.Account]uint64)
	n.depth.Store(noDepth)
	defer func() {
		if err != nil {
			n.close()
		}
	}()

	n.api, err = net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return nil, fmt.Errorf("%s: api.listen: %w", path, err)
	}
	data := cfg.Path(cfg.Node.Data)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, fmt.Errorf("%s: node.data: %w", path, err)
	}
	chainDir := filepath.Join(data, "chain")
	n.chain, err = chain.Open(chainDir, gen)
	if errors.Is(err, chain.ErrCorrupt) {
		// Never used silently, never deleted: the damaged store is kept for
		// inspection and the chain is fetched again from peers, verified block
		// by block with its certificates. An authority's last-signed record
		// is in consensus.state, outside the store, so it signs nothing
		// conflicting meanwhile (it votes again once it has caught up).
		aside := chainDir + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(chainDir, aside); rerr != nil {
			return nil, fmt.Errorf("%w (moving it aside failed: %v)", err, rerr)
		}
		n.log.Error("the chain store is corrupt: moved aside; the chain is fetched again from peers", "err", err, "moved_to", aside)
		n.repairedFrom = aside
		n.chain, err = chain.Open(chainDir, gen)
	}
	if err != nil {
		return nil, err
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
	if cfg.Node.Role == config.RoleHome {
		n.journal, err = meter.OpenJournal(filepath.Join(data, "meter"))
		if err != nil {
			return nil, err
		}
		n.device, err = OpenMeter(cfg.Meter, data, time.Unix(gen.Epoch, 0), n.log.With("component", "meter"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if s, ok := n.device.Reader.(interface{ AtLeast(imp, exp unit.Wh) }); ok {
			// A pulse counter may have lost its last pulses with the power; the
			// journal's last reading is a floor for it.
			if last, ok := n.journal.Last(); ok {
				s.AtLeast(last.Import, last.Export)
			}
		}
		n.forecast = n.device.forecaster(n.journal)
	}
	authorities := n.currentAuthorityKeys()
	n.host, err = p2p.New(context.Background(), p2p.Config{
		Key:        key,
		Network:    gen.ChainID,
		Listen:     cfg.Network.Listen,
		Bootstrap:  cfg.Network.Bootstrap,
		MDNS:       cfg.Network.MDNS,
		DHT:        cfg.Network.DHT,
		MaxPayload: maxGossipBytes,
		// Authorities relay every order submitted to them and vote several
		// times a block: the per-signer gossip rate limit is for everyone else.
		Unlimited: authorities,
		// NAT traversal (doc.go): an authority is publicly reachable, answers
		// AutoNAT, relays for admitted members (circuit relay v2) and is a
		// DHT server; a home reserves relay slots on the authorities once
		// AutoNAT finds it private, and tries hole punching.
		RelayService: n.isAuthority,
		RelayAllow:   n.relayAllowed,
		NATTraversal: !n.isAuthority,
	}, n.log.With("component", "p2p"))
	if err != nil {
		return nil, fmt.Errorf("%s: network: %w", path, err)
	}
	// Transactions and votes go straight to the authorities (txbatch.go,
	// sendVote); the consensus topic only feeds observers, such as a monitor
	// looking for double signs. A home follows the chain by sync (doc.go).
	if n.isAuthority {
		if n.csTopic, err = n.host.JoinPublishOnly("consensus", n.validateConsensus); err != nil {
			return nil, err
		}
	}
	n.host.Handle(syncProto, 16, n.serveSync)
	n.host.Handle(bookProto, 0, n.serveBook)    // max: the request size (empty)
	n.host.Handle(votesProto, 12, n.serveVotes) // max: the request size
	n.publishStatus()
	return n, nil
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
		Operator:            chain.Account(g.Operator),
		Tariff:              market.Tariff{Floor: g.Tariff.Floor, Ceiling: g.Tariff.Ceiling, Fee: g.Tariff.Fee},
		Params:              market.Params{KPPM: g.KPPM},
		Dev:                 g.Dev,
	}
	for _, a := range g.Authorities {
		out.Authorities = append(out.Authorities, chain.Account(a.Key))
	}
	for _, p := range g.Participants {
		out.Participants = append(out.Participants, chain.Account(p.Key))
	}
	return out, out.Validate()
}

// Addrs returns the node's libp2p addresses, with /p2p/<id>.
func (n *Node) Addrs() []string { return n.host.Addrs() }

// Account returns the node's chain account.
func (n *Node) Account() chain.Account { return n.self }

// StatusURL returns the URL of the node's status page.
func (n *Node) StatusURL() string { return "http://" + n.api.Addr().String() + "/api/v1/status" }

// Run runs the node until ctx ends. It returns nil when ctx is cancelled, and
// closes everything Load opened before returning.
func (n *Node) Run(ctx context.Context) error {
	defer n.close()
	g, ctx := errgroup.WithContext(ctx)
	srv := &http.Server{Handler: n.handler(), ReadHeaderTimeout: 5 * time.Second}
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
	g.Go(func() error { return n.runBatcher(ctx) })
	g.Go(func() error { return n.runBookSync(ctx) })
	g.Go(func() error { return n.runHeadNotifier(ctx) })
	anyone := func(ed25519.PublicKey) bool { return true }
	n.host.HandleMessages(headProto, binary.MaxVarintLen64, headRate, anyone, n.receiveHead)
	if n.isAuthority {
		n.host.HandleMessages(txProto, maxBatchBytes+binary.MaxVarintLen64, txRate, anyone, func(from ed25519.PublicKey, b []byte) p2p.Verdict {
			return n.receiveTxs(ctx, from, b)
		})
		n.host.HandleMessages(voteProto, maxGossipBytes, voteRate, n.allowVotes, func(from ed25519.PublicKey, b []byte) p2p.Verdict {
			return n.receiveVote(ctx, from, b)
		})
	}
	if n.journal != nil {
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
		g.Go(func() error { return s.Run(ctx) })
	}
	g.Go(func() error { return n.loop(ctx) })
	return g.Wait()
}

func (n *Node) close() {
	if n.host != nil {
		n.host.Close()
	}
	if n.api != nil {
		n.api.Close()
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

// sendVote sends a consensus message of ours straight to the other
// authorities in ids (p2p.Send: one copy each, over a stream kept open), and
// publishes it on the consensus topic for observers, if any. Among 4 authorities,
// gossip delivered each vote about three times, in a signed envelope.
func (n *Node) sendVote(ctx context.Context, m consensus.Message, ids []consensus.ID) {
	b := n.voteFrame(m)
	for _, id := range ids {
		if chain.Account(id) == n.self {
			continue
		}
		pid, err := peerIDOf(chain.Account(id))
		if err == nil {
			err = n.host.Send(pid, voteProto, b)
		}
		if err != nil && ctx.Err() == nil {
			n.log.Debug("send vote", "to", id, "err", err)
		}
	}
	if len(n.csTopic.Peers()) == 0 {
		return // no observer: spare the envelope's signature
	}
	if err := n.csTopic.Publish(ctx, encodeVote(m)); err != nil && ctx.Err() == nil {
		n.log.Debug("publish vote", "err", err)
	}
}

// voteFrame is encodeVoteFrame, keeping a proposal's frame: the engine
// re-broadcasts its proposal every few seconds while the height is
// undecided, and encoding one (decoding the block, hashing its
// transactions) is the costly part. Called from the loop only.
func (n *Node) voteFrame(m consensus.Message) []byte {
	if m.Type != consensus.Proposal {
		return encodeVoteFrame(m)
	}
	if c := &n.lastProposal; c.sig != string(m.Sig) {
		c.sig, c.frame = string(m.Sig), encodeVoteFrame(m)
	}
	return n.lastProposal.frame
}

// allowVotes admits the authorities of the next two heights to the vote
// stream; any other peer's stream is reset unread and counted as ignored.
func (n *Node) allowVotes(from ed25519.PublicKey) bool {
	if n.isNearAuthority(from) {
		return true
	}
	n.ignored.Add(1)
	return false
}

// receiveVote takes a consensus message another authority sent straight to
// this one. Only the authorities of the next two heights may open the stream
// (allowVotes).
func (n *Node) receiveVote(ctx context.Context, from ed25519.PublicKey, payload []byte) p2p.Verdict {
	m, missing, err := decodeVoteFrame(payload, n.pool.Get)
	if err != nil {
		n.rejected.Add(1)
		return p2p.Reject
	}
	if missing > 0 {
		n.fetchProposal(ctx, from, m)
		return p2p.Ignore
	}
	v := n.admitVote(m) // counts what it refuses
	if v == p2p.Accept {
		send(ctx, n.voteIn, m)
	}
	return v
}

// fetchProposal asks the sender of a proposal whose transactions this node
// does not all hold (they may still be on their way, or this node did not
// accept one) for the round's messages, whole; they go through voteIn like
// any vote. Only the proposer of that height and round, sending its own
// proposal (the engine re-broadcasts no one else's), for a height this node
// is near, is asked; one fetch per sender at a time, one per height and
// round a second, none once one brought the proposal.
func (n *Node) fetchProposal(ctx context.Context, from ed25519.PublicKey, m consensus.Message) {
	ids := slices.Sorted(slices.Values(consensusIDs(n.authoritiesAt(m.Height))))
	if len(ids) == 0 || m.From != consensus.ID(chain.AccountOf(from)) ||
		consensus.ProposerOf(ids, m.Height, m.Round) != m.From || m.Height > n.status.Load().Height+2 {
		n.ignored.Add(1)
		return
	}
	pid, err := p2p.PeerID(from)
	if err != nil {
		return
	}
	key, now := string(from), time.Now()
	n.fetchMu.Lock()
	f := n.fetching[key]
	if f.inFlight || f.height == m.Height && f.round == m.Round && (f.got || now.Sub(f.at) < time.Second) {
		n.fetchMu.Unlock()
		return
	}
	n.fetching[key] = fetchState{height: m.Height, round: m.Round, at: now, inFlight: true}
	n.fetchMu.Unlock()
	go func() {
		got := n.fetchVotes(ctx, pid, m.Height, m.Round)
		proposal := slices.ContainsFunc(got, func(x consensus.Message) bool {
			return x.Type == consensus.Proposal && x.Height == m.Height && x.Round == m.Round
		})
		n.fetchMu.Lock()
		f := n.fetching[key]
		f.inFlight, f.got = false, proposal
		n.fetching[key] = f
		n.fetchMu.Unlock()
		if proposal {
			n.proposalsFetched.Add(1)
		}
	}()
}

// fetchState is the last proposal fetch from one authority.
type fetchState struct {
	height   uint64
	round    int32
	at       time.Time
	inFlight bool
	got      bool // it brought the proposal: its re-broadcasts need no fetch
}

func send[T any](ctx context.Context, ch chan<- T, v T) {
	select {
	case ch <- v:
	case <-ctx.Done():
	}
}

// checkTxBatch checks a batch of transactions a peer sent (receiveTxs). A
// batch that does not decode, or holds a transaction that does not decode or
// is not signed by its sender, is rejected (an honest node checks what it
// sends). A batch none of whose transactions is acceptable now (late,
// duplicate, unknown sender) is ignored; otherwise it is accepted with its
// acceptable transactions and their encodings (the loop drops the others).
// Rejections and ignored batches are counted in the status.
func (n *Node) checkTxBatch(payload []byte) (p2p.Verdict, []chain.Tx, [][]byte) {
	raws, err := decodeTxBatch(payload)
	if err != nil {
		n.rejected.Add(1)
		return p2p.Reject, nil, nil
	}
	now := time.Now().UnixMilli()
	var txs []chain.Tx
	var ok [][]byte
	for _, raw := range raws {
		tx, err := chain.DecodeTx(raw)
		if err != nil {
			n.rejected.Add(1)
			return p2p.Reject, nil, nil
		}
		// CheckTx verifies the signature first (remembered by hash, so the
		// loop and the block validation do not verify it again).
		n.mu.RLock()
		err = n.chain.CheckTx(tx, now)
		n.mu.RUnlock()
		switch {
		case err == nil:
			txs, ok = append(txs, tx), append(ok, raw)
		case errors.Is(err, chain.ErrSignature), errors.Is(err, chain.ErrTxShape),
			errors.Is(err, chain.ErrAccount), errors.Is(err, chain.ErrTooLarge):
			n.rejected.Add(1)
			return p2p.Reject, nil, nil
		}
	}
	if len(ok) == 0 {
		n.ignored.Add(1)
		return p2p.Ignore, nil, nil
	}
	return p2p.Accept, txs, ok
}

// validateConsensus is the consensus topic's validator (the topic only feeds
// observers): a vote, checked against the authority set of its height. The
// topic carries nothing else: any other payload is rejected.
func (n *Node) validateConsensus(from ed25519.PublicKey, payload []byte) p2p.Verdict {
	if len(payload) == 0 || payload[0] != kindVote {
		n.rejected.Add(1)
		return p2p.Reject
	}
	m, err := consensus.DecodeMessage(payload[1:])
	if err != nil {
		n.rejected.Add(1)
		return p2p.Reject
	}
	return n.admitVote(m)
}

// admitVote checks a decoded consensus message against the authority set of
// its height and its signature, counting what it refuses.
func (n *Node) admitVote(m consensus.Message) p2p.Verdict {
	if n.dropVote != nil && n.dropVote(m) {
		return p2p.Ignore // a test's lossy link
	}
	pub, ok := n.validatorsAt(m.Height)[m.From]
	if !ok {
		// Not an authority in this node's view, which may lag an authority
		// change: not proof that the sending peer misbehaves.
		n.ignored.Add(1)
		return p2p.Ignore
	}
	if m.Verify(n.gen.ChainID, pub) != nil {
		n.rejected.Add(1)
		return p2p.Reject
	}
	n.seen(chain.Account(m.From), m.Height-1)
	return p2p.Accept
}

// seen records that authority a has claimed height h (by a signed vote of
// the height after it, or in a sync answer). bestSeen, the height this node
// tries to catch up to, is the (f+1)-th highest claim among the authorities of
// the next two heights: f lying authorities cannot make it chase a height no
// honest one has.
func (n *Node) seen(a chain.Account, h uint64) {
	set := n.nearAuthorities()
	n.heardMu.Lock()
	if h > n.heard[a] {
		n.heard[a] = h
	}
	claims := make([]uint64, 0, len(set))
	for _, x := range set {
		claims = append(claims, n.heard[x])
	}
	n.heardMu.Unlock()
	slices.SortFunc(claims, func(x, y uint64) int { return cmp.Compare(y, x) })
	f := (len(set) - 1) / 3
	if len(claims) <= f {
		return
	}
	best := claims[f]
	for {
		cur := n.bestSeen.Load()
		if best <= cur || n.bestSeen.CompareAndSwap(cur, best) {
			return
		}
	}
}

// verifyCertified checks that a block carries a valid commit certificate from the
// authority set. It does not execute the block.
func (n *Node) verifyCertified(c certified) error {
	if c.Block.Header.ChainID != n.gen.ChainID {
		return fmt.Errorf("node: block of network %q", c.Block.Header.ChainID)
	}
	h := c.Block.Header.Height
	votes, err := decodeCommit(c.Cert, consensusIDs(n.authoritiesAt(h)))
	if err != nil {
		return err
	}
	return consensus.VerifyCommit(n.gen.ChainID, n.validatorsAt(h), h, consensus.Hash(c.Block.Hash()), votes)
}
