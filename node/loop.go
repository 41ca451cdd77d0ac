package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
	"github.com/gridmesh/gridmesh/wire"
)

const (
	tickEvery      = 100 * time.Millisecond
	syncEvery      = 2 * time.Second
	followEvery    = time.Second // how often a home asks for new blocks (Options.FollowEvery)
	rebroadcastAge = 2 * time.Second
	poolSize       = 20_000
	voteRate       = 500   // consensus messages per second one authority may send another
	keepBlocks     = 2_000 // block bodies a home keeps (Options.KeepBlocks)

	// A block that only carries transactions waits until batchGap after the
	// last commit, unless batchTxs are pending: fewer, fuller blocks (node/doc.go).
	batchGap = 500 * time.Millisecond
	batchTxs = 64
)

// loop is the one goroutine that owns the consensus engine, the mempool and every
// write to the chain. Other goroutines reach it through n.txIn, n.voteIn,
// n.votesIn and n.timeoutIn. After every input it carries out the engine's Ready in
// the order the engine requires: persist, send, then build, validate and commit.
// It closes started once it runs.
func (n *Node) loop(ctx context.Context, started chan<- struct{}) error {
	l := newLoop(n)
	if err := l.reconfigure(); err != nil {
		return err
	}
	if err := n.haltForUpgrade(); err != nil {
		return err
	}
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	close(started)
	for {
		select {
		case <-ctx.Done():
			return nil
		case tx := <-n.txIn:
			// Homes keep a mempool too: their own transactions until a
			// block holds them, handed to a peer that asks (book.go).
			l.addTx(ctx, tx)
		case tx := <-n.bookIn:
			l.heard(ctx, tx)
		case m := <-n.voteIn:
			if l.engine != nil && m.Height > n.chain.Status().Height {
				if err := l.engine.Step(m); err != nil {
					n.log.Debug("vote not taken", "err", err)
				}
			}
		case q := <-n.votesIn:
			l.answerVotes(q)
		case <-n.headIn:
			// The upstream committed a block above ours (follow.go), or a
			// home that follows nobody connected to a peer (book.go).
			if l.pacer.head(n.now()) {
				l.sync(ctx)
			}
		case b := <-n.blockIn:
			l.pushed(ctx, b)
		case t := <-n.timeoutIn:
			if l.engine != nil {
				if err := l.engine.Step(t); err != nil {
					n.log.Debug("timeout not taken", "err", err)
				}
			}
		case <-tick.C:
			now := n.now()
			l.tick(ctx, now)
			// An authority that heard of a higher height catches up at once
			// (it must vote there); a home keeps its pace (follow.go).
			behind := n.isAuthority && n.bestSeen.Load() > n.chain.Status().Height
			if l.pacer.tick(now, behind) {
				l.sync(ctx)
			}
			if n.opts.Heartbeat != nil {
				n.opts.Heartbeat()
			}
		}
		if err := l.afterInput(ctx); err != nil {
			return err
		}
	}
}

// haltForUpgrade returns chain.ErrUnknownUpgrade, and logs it, when an
// upgrade the authorities voted and this binary does not know is in force
// in the next block: the node stops there instead of forking (chain:
// upgrade.go), and Run returns the error, which says what to do ("upgrade X
// activates at height H; this binary does not know it: update gridmesh").
func (n *Node) haltForUpgrade() error {
	if err := n.chain.UnknownUpgrade(); err != nil {
		n.log.Error("halted", "height", n.chain.Status().Height, "err", err)
		return err
	}
	return nil
}

// afterInput carries out the engine's Ready and, after a commit, reconfigures
// the engine for the next height's authority set and carries out its Ready.
func (l *loop) afterInput(ctx context.Context) error {
	if err := l.handleReady(ctx); err != nil {
		return err
	}
	if !l.committed {
		return nil
	}
	// The authority set of the next height may differ (authority.go); the
	// engine is replaced only between Readys.
	l.committed = false
	if err := l.n.haltForUpgrade(); err != nil {
		return err
	}
	if err := l.reconfigure(); err != nil {
		return err
	}
	return l.handleReady(ctx)
}

type loop struct {
	n         *Node
	engine    *consensus.Engine
	agent     *agent
	book      *localBook      // the live book of the open slots (localbook.go)
	lastOut   time.Time       // when our votes last left
	engineIDs []ident.Account // the validators the engine runs with, sorted
	committed bool            // a block was committed since the last reconfigure

	// The policies (policy.go, follow.go), which decide; the loop acts.
	work      workPolicy
	asker     voteAsker
	resend    resender
	pacer     syncPacer
	follow    followPolicy
	clockWarn clockWarner
	syncTurn  int // rotates the peers asked first (syncPeers)

	stateSyncAt time.Time // the last state sync attempt (snapshots.go)

	unlimited []ed25519.PublicKey // the authority keys the host exempts from its gossip rate limit
}

func newLoop(n *Node) *loop {
	now := n.now()
	// Authorities hear of blocks by votes and sync only to fill gaps; a
	// home follows by sync alone.
	every := syncEvery
	if !n.isAuthority {
		every = n.opts.FollowEvery
	}
	return &loop{
		n:      n,
		agent:  newAgent(n),
		book:   newLocalBook(&n.gen, n.chain.Tariff().Market()),
		pacer:  syncPacer{every: every},
		follow: newFollowPolicy(n.isAuthority, now),
		// Each node starts its rotation of sync peers at a random place, so
		// that homes spread over the authorities' follower slots rather than
		// all asking the same authority first.
		syncTurn: n.opts.Choose(1 << 16),
	}
}

func (l *loop) statePath() string {
	return filepath.Join(l.n.cfg.Path(l.n.cfg.Node.Data), "consensus.state")
}

// startEngine (re)creates the consensus engine for the next height, restoring the
// persisted consensus state so that nothing conflicting is ever signed.
func (l *loop) startEngine() error {
	var restored *consensus.State
	b, err := os.ReadFile(l.statePath())
	switch {
	case err == nil:
		st, err := consensus.DecodeState(b)
		if err != nil {
			return fmt.Errorf("consensus state %s is corrupt: %w", l.statePath(), err)
		}
		restored = &st
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("read consensus state: %w", err)
	}
	ids := consensusIDs(l.n.authoritiesAt(l.n.chain.Status().Height + 1))
	e, err := consensus.New(consensus.Config{
		ChainID:    l.n.gen.ChainID,
		Self:       ident.Account(l.n.self),
		Validators: ids,
		Signer:     consensus.Ed25519Signer{Key: l.n.key},
		Timeouts:   consensus.DefaultTimeouts(),
	}, l.n.chain.Status().Height+1, restored)
	if err != nil {
		return fmt.Errorf("start consensus: %w", err)
	}
	l.engine, l.engineIDs = e, ids
	return nil
}

// addTx takes a transaction for the mempool: checked, pooled, held in the
// live book if an order or cancel, and, if it is one of this node's own
// orders or cancels new to the pool, gossiped on the orders topic.
func (l *loop) addTx(ctx context.Context, tx chain.Tx) {
	now := l.n.now().UnixMilli()
	l.n.mu.RLock()
	err := l.n.chain.CheckTx(tx, now)
	l.n.mu.RUnlock()
	if err != nil {
		l.n.log.Debug("tx not pooled", "tx", tx.Hash().String(), "err", err)
		return
	}
	l.book.pending(tx, now)
	if l.n.pool.Add(tx) == nil { // a full pool or a duplicate is not an error of this node
		l.n.gossipOrder(ctx, tx)
	}
}

// heard takes an order or cancel heard on the orders topic. An authority
// pools it as if sent to it (a second path beside txs/1); a home keeps its
// pool for its own transactions and holds the order in its book only.
func (l *loop) heard(ctx context.Context, tx chain.Tx) {
	if l.n.isAuthority {
		l.addTx(ctx, tx)
		return
	}
	now := l.n.now().UnixMilli()
	l.n.mu.RLock()
	err := l.n.chain.CheckTx(tx, now)
	l.n.mu.RUnlock()
	if err == nil {
		l.book.pending(tx, now)
	}
}

// publishBook closes the book of the slots whose gate closed and publishes
// the book's view, with the agent's orders, for the status.
func (l *loop) publishBook(now time.Time) {
	l.book.gate(now.UnixMilli())
	open, gates := l.book.status()
	mine := l.agent.myOrders()
	for i := range open {
		open[i].MyOrder = mine[open[i].Slot]
	}
	l.n.book.Store(&bookStatus{open: open, gates: gates, drops: l.book.drops})
}

// bookStatus is the loop's view of its local book for the status.
type bookStatus struct {
	open  []OpenSlot
	gates []GateCheck
	drops int64
}

// tick does the periodic work: signal work to the engine, run the home's agent,
// and re-broadcast our latest votes while a height is undecided.
func (l *loop) tick(ctx context.Context, now time.Time) {
	l.warnClock(now)
	if l.engine != nil {
		l.n.mu.RLock()
		due := l.n.chain.Due(now.UnixMilli())
		l.n.mu.RUnlock()
		if l.work.work(now, due, l.n.pool.Len()) {
			if err := l.engine.Step(consensus.Work{}); err != nil {
				l.n.log.Debug("work not taken", "err", err)
			}
		}
		if len(l.engineIDs) > 1 {
			l.maybeAskVotes(ctx, now)
		}
		if len(l.engineIDs) > 1 && now.Sub(l.lastOut) > rebroadcastAge {
			l.lastOut = now
			l.engine.Rebroadcast()
		}
	}
	if !l.n.isAuthority && l.resend.due(now) {
		l.resendPool(ctx)
	}
	for _, tx := range l.agent.tick(now) {
		l.addTx(ctx, tx)
		if err := l.n.publishTx(tx.Encode()); err != nil {
			l.n.log.Warn("order not sent", "err", err)
		}
	}
	l.publishBook(now)
}

// resendPool re-sends a home's pooled transactions. A home's pool holds only
// its own transactions (POST /api/v1/tx and the agent's), and each went to
// one authority, which may have lost or ignored it. Send again those the
// agent does not re-send itself, in one batch to the next authority each
// round, until a block holds them or the chain could never take them (the
// pool's recheck after each commit drops those).
func (l *loop) resendPool(ctx context.Context) {
	var raws [][]byte
	for _, tx := range l.n.pool.Pending(wire.MaxBatchTxs) {
		if !l.agent.tracks(tx.Hash()) {
			raws = append(raws, tx.Encode())
		}
	}
	if len(raws) > 0 {
		l.n.sendTxBatchTurn(ctx, wire.EncodeTxBatch(raws), nil, l.resend.next())
	}
}

// warnClock warns, at most once a minute, that a node that would trade,
// attest or propose will not until its clock is synchronised.
func (l *loop) warnClock(now time.Time) {
	if !l.agent.active() && l.engine == nil || l.n.clockOK() || !l.clockWarn.due(now) {
		return
	}
	what := "trade or attest"
	if l.engine != nil {
		what = "propose"
	}
	l.n.log.Warn("the clock is not synchronised (node.clock = \"kernel\"): this node will not "+what+" until it is", "role", l.n.cfg.Node.Role)
}

// handleReady carries out what the engine asks for, in its order.
func (l *loop) handleReady(ctx context.Context) error {
	for l.engine != nil && l.engine.HasReady() {
		rd := l.engine.Ready()
		// 1. Persist before any signature leaves the process.
		if rd.State != nil {
			if err := writeFileSync(l.statePath(), rd.State.Encode()); err != nil {
				return fmt.Errorf("persist consensus state: %w", err)
			}
		}
		// 2. Send.
		for _, m := range rd.Messages {
			l.lastOut = l.n.now()
			l.n.sendVote(ctx, m, l.engineIDs)
		}
		for _, t := range rd.Timers {
			to := consensus.Timeout{Kind: t.Kind, Height: t.Height, Round: t.Round}
			// Timers are not tracked: one that fires after the engine moved on
			// is ignored by it, and one that fires after ctx ends exits at once.
			time.AfterFunc(t.Duration, func() {
				select {
				case l.n.timeoutIn <- to:
				case <-ctx.Done():
				}
			})
		}
		for _, ev := range rd.Evidence {
			// Counted and logged for the operator, and recorded on chain
			// (votes only: a proposal pair carries two whole blocks).
			l.n.stats.evidence.Add(1)
			l.n.log.Error("authority signed conflicting messages", "from", ev.A.From, "height", ev.A.Height, "round", ev.A.Round, "type", ev.A.Type)
			if tx, ok := l.n.evidenceTx(ev); ok {
				l.addTx(ctx, tx)
				if err := l.n.publishTx(tx.Encode()); err != nil {
					l.n.log.Warn("evidence not gossiped", "err", err)
				}
			}
		}
		// 3. Apply decided blocks.
		for _, d := range rd.Decided {
			if err := l.commitDecided(d); err != nil {
				return err
			}
		}
		l.engine.Advance()
		// 4. Answer build and validate requests; the answers are new inputs.
		if b := rd.Build; b != nil {
			l.build(b.Height, b.Round)
		}
		for _, v := range rd.Validate {
			l.validate(v)
		}
	}
	return nil
}

func (l *loop) build(height uint64, round int32) {
	if !l.n.clockOK() {
		// Without a synchronised clock the block time could be anything: let the
		// round time out and another authority propose (warnClock says so).
		l.n.log.Debug("not proposing: the clock is not synchronised (node.clock)", "height", height, "round", round)
		return
	}
	now := l.n.now().UnixMilli()
	txs := fitProposal(l.n.pool.Pending(wire.MaxBlockTxs), wire.MaxProposalTxBytes)
	l.n.mu.RLock()
	blk, errs := l.n.chain.Propose(now, l.n.self, txs)
	l.n.mu.RUnlock()
	// Propose answers every tx: nil = included, ErrBlockFull = try the next block,
	// anything else = it can never be included: drop it from the pool.
	var dead []chain.Tx
	for i, err := range errs {
		if err != nil && !errors.Is(err, chain.ErrBlockFull) {
			dead = append(dead, txs[i])
		}
	}
	if len(dead) > 0 {
		l.n.pool.Remove(dead)
		l.n.log.Debug("txs dropped from the pool", "count", len(dead))
	}
	if err := l.engine.Step(consensus.Proposed{Height: height, Round: round, Value: blk.Encode(), ID: ident.Hash(blk.Hash())}); err != nil {
		l.n.log.Warn("proposal not taken", "err", err)
	}
}

// fitProposal returns the longest prefix of txs whose encodings add up to at
// most maxBytes: a proposal travels whole in one gossip message, so the rest
// wait for the next block.
func fitProposal(txs []chain.Tx, maxBytes int) []chain.Tx {
	size := 0
	for i, tx := range txs {
		if size += len(tx.Encode()); size > maxBytes {
			return txs[:i]
		}
	}
	return txs
}

func (l *loop) validate(v consensus.ValidateRequest) {
	valid := false
	if blk, err := chain.DecodeBlock(v.Value); err == nil && ident.Hash(blk.Hash()) == v.ID {
		l.n.mu.RLock()
		err = l.n.chain.Validate(blk, l.n.now().UnixMilli())
		l.n.mu.RUnlock()
		valid = err == nil
		if err != nil {
			l.n.log.Warn("invalid proposal", "height", v.Height, "round", v.Round, "err", err)
		}
	}
	if err := l.engine.Step(consensus.Validated{Height: v.Height, Round: v.Round, ID: v.ID, Valid: valid}); err != nil {
		l.n.log.Debug("validation not taken", "err", err)
	}
}

func (l *loop) commitDecided(d consensus.Decision) error {
	blk, err := chain.DecodeBlock(d.Value)
	if err != nil {
		return fmt.Errorf("decided block %d does not decode: %w", d.Height, err)
	}
	cert := wire.EncodeCommit(d.Commit, consensusIDs(l.n.authoritiesAt(d.Height)))
	// The decision is not announced: the other authorities decide it from the
	// same votes, one that missed them syncs when it hears the next height's
	// votes (or every syncEvery), and homes follow by sync. Announcing it was
	// half an authority's traffic (node/doc.go).
	if err := l.commit(blk, d.Value, cert); err != nil {
		return err
	}
	l.n.metrics.decided(blk.Header.Time, l.n.now())
	return nil
}

// commit writes a verified block (raw is its encoding) and reports its events.
func (l *loop) commit(blk chain.Block, raw, cert []byte) error {
	// The orders of the slots this block may clear, for the book's check of
	// its indicative price (a slot without trades is settled, and its orders
	// pruned, in the same block).
	closing := make(map[unit.Slot][]market.Order)
	l.n.mu.RLock()
	for _, s := range l.book.closing(blk.Header.Time) {
		closing[s] = chainBook(l.n.chain)(s)
	}
	l.n.mu.RUnlock()
	l.n.mu.Lock()
	parentTime, began := l.n.chain.Status().Time, time.Now()
	events, err := l.n.chain.Commit(blk, cert)
	took := time.Since(began)
	l.n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("commit block %d: %w", blk.Header.Height, err)
	}
	l.n.metrics.committed(blk, cert, parentTime, took, l.n.authoritiesAt(blk.Header.Height), events)
	l.n.pool.Remove(blk.Txs)
	if l.n.pool.Len() > 0 {
		// Orders whose gate closed and attestations whose window ended can never
		// be included; a pool that keeps them would ask for blocks forever.
		now := l.n.now().UnixMilli()
		l.n.mu.RLock()
		l.n.pool.Recheck(func(tx chain.Tx) error { return l.n.chain.CheckTx(tx, now) })
		l.n.mu.RUnlock()
	}
	l.agent.committed(blk)
	l.n.mu.RLock()
	l.book.confirm(l.n.chain.OpenSlots(l.n.now().UnixMilli()), chainBook(l.n.chain), l.n.chain.Tariff().Market())
	l.n.mu.RUnlock()
	for _, ev := range events {
		if c, ok := ev.(chain.SlotCleared); ok {
			l.book.cleared(c.Slot, c.Result, closing[c.Slot])
		}
	}
	l.committed = true
	l.work.committed(l.n.now())
	if keep := l.n.keepBlocks; !l.n.isAuthority && blk.Header.Height > keep && blk.Header.Height%max(keep/20, 1) == 0 {
		// Homes follow without archiving: they keep the state, the last
		// keep bodies (enough to serve a neighbour's catch-up), the cleared
		// and settled records of those blocks' slots and their own statement
		// lines (chain.PruneHome; gridmesh sim year --keep-days measures it).
		// The value-log collection that frees the disk runs in the
		// background, holding no lock: the loop does not wait for it.
		l.n.mu.Lock()
		_, _, err := l.n.chain.PruneHome(blk.Header.Height-keep, l.n.self)
		l.n.mu.Unlock()
		if err != nil {
			l.n.log.Warn("prune old blocks", "err", err)
		}
	}
	l.n.snapshotAfter(blk.Header.Height)
	l.n.publishStatus()
	l.n.apiCommit(blk, events)
	l.n.notifyHead(blk.Header.Height, wire.EncodeCertified(raw, cert))
	l.n.log.Debug("committed", "height", blk.Header.Height, "txs", len(blk.Txs))
	if l.n.opts.OnEvent != nil {
		for _, ev := range events {
			l.n.opts.OnEvent(ev)
		}
	}
	return nil
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
