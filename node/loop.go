package node

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/p2p"
)

const (
	tickEvery      = 100 * time.Millisecond
	syncEvery      = 2 * time.Second
	followEvery    = time.Second // how often a home asks an authority for new blocks
	rebroadcastAge = 2 * time.Second
	poolSize       = 20_000
	maxBlockTxs    = 2_000
	syncProto      = "sync/2"
	voteProto      = "vote/2" // consensus messages, authority to authority (sendVote, kindVoteFrame)
	voteRate       = 500      // consensus messages per second one authority may send another
	keepBlocks     = 2_000    // block bodies a home keeps (Options.KeepBlocks)

	// A block that only carries transactions waits until batchGap after the
	// last commit, unless batchTxs are pending: fewer, fuller blocks (node/doc.go).
	batchGap = 500 * time.Millisecond
	batchTxs = 64

	// maxGossipBytes is the largest gossip payload: a proposal carries its whole
	// block. maxProposalTxBytes leaves room in it for the header and the vote's
	// fields, and keeps the block with its commit certificate (as a sync answer
	// carries it) within maxGossipBytes too, which sync relies on.
	maxGossipBytes     = 1 << 20
	maxProposalTxBytes = maxGossipBytes - 128<<10
)

// loop is the one goroutine that owns the consensus engine, the mempool and every
// write to the chain. Other goroutines reach it through n.txIn, n.voteIn,
// n.votesIn and n.timeoutIn. After every input it carries out the engine's Ready in
// the order the engine requires: persist, send, then build, validate and commit.
func (n *Node) loop(ctx context.Context) error {
	// Each node starts its rotation of sync peers at a random place, so that
	// homes spread over the authorities' follower slots rather than all
	// asking the same authority first.
	l := &loop{n: n, agent: newAgent(n), lastUseful: time.Now(), syncTurn: rand.IntN(1 << 16)}
	if err := l.reconfigure(); err != nil {
		return err
	}
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	var lastSync time.Time
	// Authorities hear of blocks by gossip and sync only to fill gaps; a
	// home follows by sync alone.
	every := syncEvery
	if !n.isAuthority {
		every = cmp.Or(n.followEvery, followEvery)
	}
	if n.ready != nil {
		n.ready() // Options.Ready: chain loaded, host up, and this loop started
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case tx := <-n.txIn:
			// Homes keep a mempool too: their own transactions until a
			// block holds them, handed to a peer that asks (book.go).
			l.addTx(tx)
		case m := <-n.voteIn:
			if l.engine != nil && m.Height > n.chain.Status().Height {
				if err := l.engine.Step(m); err != nil {
					n.log.Debug("vote not taken", "err", err)
				}
			}
		case q := <-n.votesIn:
			l.answerVotes(q)
		case <-n.headIn:
			// The upstream committed a block above ours (follow.go): sync
			// now, or, if we synced within 50 ms, at the first tick 300 ms
			// after that sync (syncMore, the tick's rule below).
			if now := time.Now(); now.Sub(lastSync) >= 50*time.Millisecond {
				lastSync = now
				l.sync(ctx)
			} else {
				l.syncMore = true
			}
		case t := <-n.timeoutIn:
			if l.engine != nil {
				if err := l.engine.Step(t); err != nil {
					n.log.Debug("timeout not taken", "err", err)
				}
			}
		case now := <-tick.C:
			if n.heartbeat != nil {
				n.heartbeat() // Options.Heartbeat: from this goroutine, so a stuck loop stops it
			}
			l.tick(ctx, now)
			// An authority that heard of a higher height catches up at once
			// (it must vote there); a home keeps its pace (follow.go).
			behind := n.isAuthority && n.bestSeen.Load() > n.chain.Status().Height
			if now.Sub(lastSync) >= every || l.syncMore || behind {
				if now.Sub(lastSync) >= 300*time.Millisecond {
					lastSync = now
					l.sync(ctx)
				}
			}
		}
		if err := l.handleReady(ctx); err != nil {
			return err
		}
		if l.committed {
			// The authority set of the next height may differ (authority.go);
			// the engine is replaced only between Readys.
			l.committed = false
			if err := l.reconfigure(); err != nil {
				return err
			}
			if err := l.handleReady(ctx); err != nil {
				return err
			}
		}
	}
}

type loop struct {
	n         *Node
	engine    *consensus.Engine
	agent     *agent
	lastOut   time.Time      // when our votes last left
	engineIDs []consensus.ID // the validators the engine runs with, sorted
	committed bool           // a block was committed since the last reconfigure

	// The round whose progress maybeAskVotes watches, since when, and the last ask.
	roundHeight   uint64
	roundNumber   int32
	roundSince    time.Time
	lastAsk       time.Time
	askTurn       int
	syncTurn      int       // rotates the peers asked first (sync)
	syncMore      bool      // the last sync answer was full: ask again at the next tick
	upstream      string    // the peer a home follows (follow.go); "" for none
	upstreamGot   time.Time // when the upstream last gave a useful answer
	upstreamFlags byte      // syncLastResort when an authority serves us as the last resort
	lastProbe     time.Time // when a home last asked an authority besides its upstream
	lastUseful    time.Time // when a sync answer last brought blocks or confirmed the head
	lastResend    time.Time // when a home last re-sent its pending transactions
	resendTurn    int       // which authority gets the next re-send
	lastCommit    time.Time // when the last block was committed (batchGap)

	unlimited []ed25519.PublicKey // the authority keys the host exempts from its gossip rate limit
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
		Self:       consensus.ID(l.n.self),
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

func (l *loop) addTx(tx chain.Tx) {
	l.n.mu.RLock()
	err := l.n.chain.CheckTx(tx, time.Now().UnixMilli())
	l.n.mu.RUnlock()
	if err != nil {
		return
	}
	_ = l.n.pool.Add(tx) // a full pool or a duplicate is not an error of this node
}

// tick does the periodic work: signal work to the engine, run the home's agent,
// and re-broadcast our latest votes while a height is undecided.
func (l *loop) tick(ctx context.Context, now time.Time) {
	ms := now.UnixMilli()
	if l.engine != nil {
		l.n.mu.RLock()
		due := l.n.chain.Due(ms)
		l.n.mu.RUnlock()
		pending := l.n.pool.Len()
		if due || pending >= batchTxs || pending > 0 && now.Sub(l.lastCommit) >= batchGap {
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
	if !l.n.isAuthority && now.Sub(l.lastResend) >= republishEvery {
		// A home's pool holds only its own transactions (POST /api/v1/tx
		// and the agent's), and each went to one authority, which may have
		// lost or ignored it. Send again those the agent does not re-send
		// itself, in one batch to the next authority each round, until a
		// block holds them or the chain could never take them (the pool's
		// recheck after each commit drops those).
		l.lastResend = now
		var raws [][]byte
		for _, tx := range l.n.pool.Pending(maxBatchTxs) {
			if !l.agent.tracks(tx.Hash()) {
				raws = append(raws, tx.Encode())
			}
		}
		if len(raws) > 0 {
			l.resendTurn++
			l.n.sendTxBatchTurn(ctx, encodeTxBatch(raws), nil, l.resendTurn)
		}
	}
	for _, tx := range l.agent.tick(now) {
		l.addTx(tx)
		if err := l.n.publishTx(tx.Encode()); err != nil {
			l.n.log.Warn("order not gossiped", "err", err)
		}
	}
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
			l.lastOut = time.Now()
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
			l.n.evidence.Add(1)
			l.n.log.Error("authority signed conflicting messages", "from", ev.A.From, "height", ev.A.Height, "round", ev.A.Round, "type", ev.A.Type)
			if tx, ok := l.n.evidenceTx(ev); ok {
				l.addTx(tx)
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
		// round time out and another authority propose.
		l.n.log.Warn("not proposing: the clock is not synchronised (node.clock)", "height", height, "round", round)
		return
	}
	now := time.Now().UnixMilli()
	txs := fitProposal(l.n.pool.Pending(maxBlockTxs), maxProposalTxBytes)
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
	if err := l.engine.Step(consensus.Proposed{Height: height, Round: round, Value: blk.Encode(), ID: consensus.Hash(blk.Hash())}); err != nil {
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
	if blk, err := chain.DecodeBlock(v.Value); err == nil && consensus.Hash(blk.Hash()) == v.ID {
		l.n.mu.RLock()
		err = l.n.chain.Validate(blk, time.Now().UnixMilli())
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
	cert := encodeCommit(d.Commit, consensusIDs(l.n.authoritiesAt(d.Height)))
	// The decision is not announced: the other authorities decide it from the
	// same votes, one that missed them syncs when it hears the next height's
	// votes (or every syncEvery), and homes follow by sync. Announcing it was
	// half an authority's traffic (node/doc.go).
	return l.commit(blk, d.Value, cert)
}

// commit writes a verified block (raw is its encoding) and reports its events.
func (l *loop) commit(blk chain.Block, raw, cert []byte) error {
	l.n.mu.Lock()
	events, err := l.n.chain.Commit(blk, cert)
	l.n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("commit block %d: %w", blk.Header.Height, err)
	}
	l.n.pool.Remove(blk.Txs)
	if l.n.pool.Len() > 0 {
		// Orders whose gate closed and attestations whose window ended can never
		// be included; a pool that keeps them would ask for blocks forever.
		now := time.Now().UnixMilli()
		l.n.mu.RLock()
		l.n.pool.Recheck(func(tx chain.Tx) error { return l.n.chain.CheckTx(tx, now) })
		l.n.mu.RUnlock()
	}
	l.agent.committed(blk)
	l.committed = true
	l.lastCommit = time.Now()
	if keep := l.n.keepBlocks; !l.n.isAuthority && blk.Header.Height > keep && blk.Header.Height%max(keep/20, 1) == 0 {
		// Homes follow without archiving: they keep the state and the last
		// keep bodies (enough to serve a neighbour's catch-up).
		l.n.mu.Lock()
		_, err := l.n.chain.PruneBlocks(blk.Header.Height - keep)
		l.n.mu.Unlock()
		if err != nil {
			l.n.log.Warn("prune old blocks", "err", err)
		}
	}
	l.n.publishStatus()
	l.n.notifyHead(blk.Header.Height)
	l.n.log.Debug("committed", "height", blk.Header.Height, "txs", len(blk.Txs))
	if l.n.onEvent != nil {
		for _, ev := range events {
			l.n.onEvent(ev)
		}
	}
	return nil
}

func (l *loop) applyOne(c certified) error {
	if err := l.n.verifyCertified(c); err != nil {
		return err
	}
	l.n.mu.RLock()
	err := l.n.chain.Validate(c.Block, time.Now().UnixMilli())
	l.n.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := l.commit(c.Block, c.Raw, c.Cert); err != nil {
		return err
	}
	if l.engine != nil {
		// A block decided without us: continue consensus at the next height.
		return l.startEngine()
	}
	return l.reconfigure()
}

// sync asks peers for blocks after our height and applies those that verify.
// An authority asks the authorities first, starting with a different one each
// time (they hold the chain's head), then the other peers. A home asks its
// upstream first and other peers only when it has none or it fell behind
// (follow.go); it keeps the first peer that serves it as its upstream. Either
// stops at the first useful answer (askSync). A full answer
// makes it ask again soon (syncMore), not a follow interval later.
func (l *loop) sync(ctx context.Context) {
	l.syncMore = false
	now := time.Now()
	peers := l.syncPeers(l.n.chain.Status().Height + 1)
	if len(peers) > 1 && peers[0].id == l.upstream && !peers[0].authority && now.Sub(l.lastProbe) >= probeEvery {
		// Ask an authority too: its height (busy or not) tells whether the
		// upstream keeps up.
		l.lastProbe = now
		if peers[1].authority {
			l.askSync(ctx, peers[1], 0)
		}
	}
	if l.upstreamFlags != 0 && now.Sub(l.lastProbe) >= probeEvery {
		// An authority served us as a last resort: look for a home again,
		// and if none serves us, go back to the last resort at once.
		l.setUpstream("", 0, noDepth)
		l.lastUseful = time.Time{}
		peers = l.syncPeers(l.n.chain.Status().Height + 1)
	}
	for _, p := range peers {
		var flags byte
		if p.id == l.upstream {
			flags = l.upstreamFlags
		}
		useful, ok, depth := l.askSync(ctx, p, flags)
		if !l.n.isAuthority && !p.authority && depth >= maxFollowDepth {
			// Not connected to the authorities (or in a loop of homes):
			// its blocks are welcome, but it is nobody's upstream.
			useful, ok = false, false
		}
		if useful {
			l.lastUseful = now
		}
		switch {
		case useful && l.n.isAuthority:
			return
		case useful:
			l.setUpstream(p.id, flags, depth)
			l.upstreamGot = now
			return
		case p.id != l.upstream:
			continue
		case ok && now.Sub(l.upstreamGot) < upstreamStale:
			return // it served recently: it is a step behind, not lost
		default:
			l.setUpstream("", 0, noDepth) // busy, gone, stuck or too deep
		}
	}
	if l.n.isAuthority || l.n.bestSeen.Load() <= l.n.chain.Status().Height || now.Sub(l.lastUseful) < upstreamStale {
		return
	}
	// Nobody else has served us for a while and the chain is ahead: an
	// authority must, until the next probe looks for a home again.
	for _, p := range peers {
		if p.authority {
			if useful, _, depth := l.askSync(ctx, p, syncLastResort); useful {
				l.setUpstream(p.id, syncLastResort, depth)
				l.upstreamGot, l.lastProbe, l.lastUseful = now, now, now
				return
			}
		}
	}
}

// askSync asks p for the blocks after our height and applies those that
// verify. useful reports an answer that was not busy and brought blocks, or
// left us at the highest height an authority told of; ok reports that p
// answered and was not busy; depth is p's (follow.go).
func (l *loop) askSync(ctx context.Context, p syncPeer, flags byte) (useful, ok bool, depth byte) {
	from := l.n.chain.Status().Height + 1
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	resp, err := l.n.host.Request(rctx, p.id, syncProto, encodeSyncRequest(from, flags), maxSyncBlocks*(maxBlockBytes/16))
	cancel()
	if err != nil {
		return false, false, noDepth
	}
	a, err := decodeSyncResponse(resp)
	if err != nil {
		l.n.rejected.Add(1)
		l.n.log.Debug("bad sync response", "peer", p.id, "err", err)
		return false, false, noDepth
	}
	if p.authority {
		if pub, err := p2p.PublicKey(p.id); err == nil {
			l.n.seen(chain.AccountOf(pub), a.head) // a home's word for its height is not taken
		}
	}
	if a.busy {
		return false, false, a.depth
	}
	applied := 0
	for _, c := range a.blocks {
		if c.Block.Header.Height != l.n.chain.Status().Height+1 {
			break
		}
		if err := l.applyOne(c); err != nil {
			l.n.log.Warn("synced block not applied", "height", c.Block.Header.Height, "peer", p.id, "err", err)
			break
		}
		applied++
	}
	// An answer is full when it holds maxSyncBlocks blocks or the server
	// stopped filling it at maxBlockBytes (no block is larger than a
	// gossip payload, so a cut answer is within one of the limit).
	if applied > 0 && applied == len(a.blocks) && (applied == maxSyncBlocks || len(resp) > maxBlockBytes-maxGossipBytes) {
		l.syncMore = true
	}
	return applied > 0 || l.n.chain.Status().Height >= l.n.bestSeen.Load(), true, a.depth
}

// setUpstream makes id (or none) the peer a home follows, asked with flags,
// and sets this home's depth from the upstream's.
func (l *loop) setUpstream(id string, flags byte, depth byte) {
	l.upstreamFlags = flags
	l.n.depth.Store(uint32(min(int(depth)+1, noDepth)))
	if id != l.upstream {
		l.upstream = id
		l.n.upstream.Store(&id)
	}
}

type syncPeer struct {
	id        string
	authority bool
}

// syncPeers lists the connected peers: a home's upstream first, then the
// authorities deciding height h (rotated by one on every call), then the
// others (rotated too, so that homes refused by the authorities spread over
// the other homes).
func (l *loop) syncPeers(h uint64) []syncPeer {
	auth := make(map[string]bool)
	for _, a := range l.n.authoritiesAt(h) {
		if id, err := peerIDOf(a); err == nil {
			auth[id] = true
		}
	}
	var up, first, rest []syncPeer
	for _, id := range l.n.host.Peers() { // sorted
		switch {
		case id == l.upstream:
			up = append(up, syncPeer{id, auth[id]})
		case auth[id]:
			first = append(first, syncPeer{id, true})
		default:
			rest = append(rest, syncPeer{id, false})
		}
	}
	l.syncTurn++
	return slices.Concat(up, rotate(first, l.syncTurn), rotate(rest, l.syncTurn))
}

func rotate[T any](s []T, k int) []T {
	if len(s) == 0 {
		return s
	}
	k %= len(s)
	return append(s[k:], s[:k]...)
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
