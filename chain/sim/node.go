package sim

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/unit"
)

type role uint8

const (
	roleHonest   role = iota // honest authority
	roleByz                  // one instance of a Byzantine twin pair
	roleFollower             // non-voting node
)

const (
	tickMs         = 100
	rebroadcastAge = 2000
	syncEveryMs    = 2000
	syncGapMs      = 300
	maxBlockTxs    = 2000
	maxSyncBlocks  = 16
)

// node is one simulated process: the production engine and chain, and what the
// node loop keeps beside them.
type node struct {
	idx      int
	name     string
	role     role
	key      ed25519.PrivateKey // nil for followers
	id       ident.Account
	acct     ident.Account
	side     int // which half of the honest nodes a twin links to; an honest node's half
	group    int // partition in a chaos phase (honest nodes and followers)
	chain    *chain.Chain
	engine   *consensus.Engine
	pool     *chain.Pool
	skew     int64
	down     bool
	epoch    int
	lastOut  int64
	lastSync int64
	bestSeen uint64
	ahead    bool // restored State ahead of the chain: sync before the engine starts

	persisted []byte             // the last fsynced consensus State
	settled   map[unit.Slot]bool // slots this node saw settled
}

var timeoutNames = [5]string{"timeout ?", "timeout propose", "timeout prevote", "timeout precommit", "timeout rebroadcast"}

// Crash points (Stats.Crashes counts them).
const (
	crashBeforeFsync  = "crash before fsync (state write lost)"
	crashBeforeSend   = "crash after fsync, before send"
	crashBeforeCommit = "crash after send, before commit"
	crashAfterCommit  = "crash after commit"
	crashBetween      = "crash between inputs"
)

// certified is a block and its commit certificate as they travel.
type certified struct{ block, cert []byte }

func (nd *node) honest() bool { return nd.role != roleByz }

// clock is the node's wall clock in unix ms: simulated time plus its skew.
func (s *Sim) clock(nd *node) int64 { return s.startMs + s.now + nd.skew }

func (s *Sim) height(nd *node) uint64 { return nd.chain.Status().Height }

// startEngine (re)creates the engine for the next height from the persisted
// State, as node/loop.go does.
func (s *Sim) startEngine(nd *node) error {
	var restored *consensus.State
	if nd.persisted != nil {
		st, err := consensus.DecodeState(nd.persisted)
		if err != nil {
			return fmt.Errorf("sim: %s: persisted consensus state is corrupt: %w", nd.name, err)
		}
		restored = &st
	}
	e, err := consensus.New(consensus.Config{
		ChainID: s.gen.ChainID, Self: nd.id, Validators: s.ids,
		Signer: consensus.Ed25519Signer{Key: nd.key}, Timeouts: consensus.DefaultTimeouts(),
	}, s.height(nd)+1, restored)
	if errors.Is(err, consensus.ErrStateAhead) {
		nd.engine, nd.ahead = nil, true
		s.stats.Ahead++
		nd.bestSeen = max(nd.bestSeen, restored.Height-1)
		s.trace(nd.idx, "state ahead of chain: sync first", s.height(nd)+1, 0, 0, ident.Hash{}, int64(restored.Height))
		return nil
	}
	if err != nil {
		return fmt.Errorf("sim: %s: start consensus: %w", nd.name, err)
	}
	nd.engine, nd.ahead = e, false
	return nil
}

func (s *Sim) restartEngine(nd *node) {
	if err := s.startEngine(nd); err != nil {
		s.violate("restart", s.height(nd)+1, "%v", err)
		return
	}
	s.process(nd)
}

// handle carries out one event.
func (s *Sim) handle(ev event) {
	if ev.to < 0 {
		s.handleGlobal(ev)
		return
	}
	nd := s.nodes[ev.to]
	if ev.epoch != nd.epoch {
		return // lost in a crash
	}
	if ev.kind == evRestart {
		if nd.down {
			s.restart(nd)
		}
		return
	}
	if nd.down {
		return
	}
	switch ev.kind {
	case evMsg:
		s.receiveMsg(nd, ev)
	case evTx:
		s.receiveTx(nd, ev.data, false)
	case evBlock:
		for _, c := range ev.blks {
			s.applyCertified(nd, c)
		}
	case evSync:
		for _, c := range ev.blks {
			if s.viol != nil || nd.down {
				return
			}
			if err := s.applyOne(nd, c); err != nil {
				break
			}
		}
	case evTimeout:
		if nd.engine != nil {
			s.trace(nd.idx, timeoutNames[ev.tmo.Kind%5], ev.tmo.Height, ev.tmo.Round, 0, ident.Hash{}, 0)
			_ = nd.engine.Step(ev.tmo)
		}
	case evWork:
		if nd.engine != nil {
			_ = nd.engine.Step(consensus.Work{})
		}
	case evTick:
		s.tick(nd)
		if !nd.down { // a crashed node's restart starts a new tick
			s.push(tickMs, nd.idx, event{kind: evTick})
		}
	}
	s.process(nd)
}

func (s *Sim) receiveMsg(nd *node, ev event) {
	m, err := consensus.DecodeMessage(ev.data)
	if err != nil {
		s.stats.Rejected++
		return
	}
	if !s.verifyMsg(m, ev.data) {
		s.stats.Rejected++
		s.trace(nd.idx, "refused message", m.Height, m.Round, m.Type, m.ValueID, int64(ev.from))
		return
	}
	if m.Height > 0 && m.Height-1 > nd.bestSeen {
		nd.bestSeen = m.Height - 1
	}
	if nd.engine != nil && m.Height == s.height(nd)+1 {
		err := nd.engine.Step(m)
		if err == nil {
			s.trace(nd.idx, "step", m.Height, m.Round, m.Type, m.ValueID, int64(ev.from))
		}
	}
}

// verifyMsg is the consensus topic validator: the sender must be an authority and
// the signature valid for this network. Results are cached by the bytes' digest
// (verification is a pure function of them), which keeps the simulator fast.
func (s *Sim) verifyMsg(m consensus.Message, data []byte) bool {
	d := sha256.Sum256(data)
	if ok, seen := s.verified[d]; seen {
		return ok
	}
	pub, ok := s.pubs[m.From]
	ok = ok && m.Verify(s.gen.ChainID, pub) == nil
	if len(s.verified) > 1<<16 {
		clear(s.verified)
	}
	s.verified[d] = ok
	return ok
}

// receiveTx is the tx topic validator plus loop.addTx; local means the node's own
// agent submitted it, so the node also publishes it.
func (s *Sim) receiveTx(nd *node, data []byte, local bool) {
	tx, err := chain.DecodeTx(data)
	if err != nil {
		s.stats.Rejected++
		return
	}
	if err := nd.chain.CheckTx(tx, s.clock(nd)); err != nil {
		return
	}
	if nd.role != roleFollower && nd.pool != nil {
		_ = nd.pool.Add(tx)
	}
	if local {
		s.broadcast(nd, event{kind: evTx, data: data})
	}
}

// tick is loop.tick: signal work, re-broadcast, sync when behind.
func (s *Sim) tick(nd *node) {
	if nd.engine != nil {
		if nd.chain.Due(s.clock(nd)) || nd.pool.Len() > 0 {
			_ = nd.engine.Step(consensus.Work{})
		}
		if len(s.ids) > 1 && s.now-nd.lastOut > rebroadcastAge {
			nd.lastOut = s.now
			nd.engine.Rebroadcast()
		}
	}
	if (nd.bestSeen > s.height(nd) || s.now-nd.lastSync >= syncEveryMs) && s.now-nd.lastSync >= syncGapMs {
		nd.lastSync = s.now
		s.sync(nd)
	}
	if !s.heal && nd.role != roleByz && s.rng.Float64() < s.cfg.CrashEvent {
		s.crash(nd, crashBetween)
	}
}

// process is loop.handleReady, with crash points.
func (s *Sim) process(nd *node) {
	for !nd.down && nd.engine != nil && nd.engine.HasReady() && s.viol == nil {
		rd := nd.engine.Ready()
		point := -1
		if !s.heal && nd.role != roleByz && s.rng.Float64() < s.cfg.Crash {
			point = s.rng.IntN(4)
		}
		// 1. Persist (fsync) before anything leaves the process.
		if rd.State != nil {
			if point == 0 {
				s.crash(nd, crashBeforeFsync)
				return
			}
			nd.persisted = rd.State.Encode()
		}
		if point == 1 {
			s.crash(nd, crashBeforeSend)
			return
		}
		// 2. Send.
		for _, m := range rd.Messages {
			nd.lastOut = s.now
			s.sendMsg(nd, m)
		}
		for _, t := range rd.Timers {
			s.push(t.Duration.Milliseconds(), nd.idx, event{kind: evTimeout, tmo: t.Timeout})
		}
		if point == 2 {
			s.crash(nd, crashBeforeCommit)
			return
		}
		for _, e := range rd.Evidence {
			s.stats.Evidence++
			s.chk.evidence(nd, e)
		}
		// 3. Apply decided blocks.
		for _, d := range rd.Decided {
			if !s.commitDecided(nd, d) {
				return
			}
		}
		nd.engine.Advance()
		if point == 3 {
			s.crash(nd, crashAfterCommit)
			return
		}
		// 4. Build and validate.
		if b := rd.Build; b != nil {
			s.build(nd, b.Height, b.Round)
		}
		for _, v := range rd.Validate {
			s.validate(nd, v)
		}
	}
}

func (s *Sim) build(nd *node, height uint64, round int32) {
	blk, _ := nd.chain.Propose(s.clock(nd), nd.acct, nd.pool.Pending(maxBlockTxs))
	id := ident.Hash(blk.Hash())
	s.trace(nd.idx, "build", height, round, 0, id, int64(len(blk.Txs)))
	_ = nd.engine.Step(consensus.Proposed{Height: height, Round: round, Value: blk.Encode(), ID: id})
}

func (s *Sim) validate(nd *node, v consensus.ValidateRequest) {
	valid := false
	if blk, err := chain.DecodeBlock(v.Value); err == nil && ident.Hash(blk.Hash()) == v.ID {
		valid = nd.chain.Validate(blk, s.clock(nd)) == nil
	}
	what := "validate: valid"
	if !valid {
		what = "validate: invalid"
		if nd.role == roleHonest {
			s.stats.Invalid++
		}
	}
	s.trace(nd.idx, what, v.Height, v.Round, 0, v.ID, 0)
	_ = nd.engine.Step(consensus.Validated{Height: v.Height, Round: v.Round, ID: v.ID, Valid: valid})
}

// commitDecided is loop.commitDecided. It reports whether the node may go on.
func (s *Sim) commitDecided(nd *node, d consensus.Decision) bool {
	blk, err := chain.DecodeBlock(d.Value)
	if err != nil {
		if nd.honest() {
			s.violate("commit", d.Height, "%s decided a block that does not decode: %v", nd.name, err)
		}
		return false
	}
	cert := encodeCert(d.Commit)
	s.trace(nd.idx, "decided", d.Height, d.Round, 0, d.ValueID, 0)
	if err := s.commit(nd, blk, cert); err != nil {
		return false
	}
	s.broadcast(nd, event{kind: evBlock, blks: []certified{{block: d.Value, cert: cert}}})
	return true
}

// commit writes a decided or verified block and checks the invariants.
func (s *Sim) commit(nd *node, blk chain.Block, cert []byte) error {
	events, err := nd.chain.Commit(blk, cert)
	if err != nil {
		if nd.honest() {
			s.violate("commit", blk.Header.Height, "%s could not commit a decided block: %v", nd.name, err)
		}
		return err
	}
	if nd.pool != nil {
		nd.pool.Remove(blk.Txs)
		now := s.clock(nd)
		nd.pool.Recheck(func(tx chain.Tx) error { return nd.chain.CheckTx(tx, now) })
	}
	s.trace(nd.idx, "commit", blk.Header.Height, 0, 0, ident.Hash(blk.Hash()), int64(len(blk.Txs)))
	if nd.honest() {
		s.chk.committed(nd, blk, cert, events)
	}
	// Home nodes follow without voting and prune old block bodies.
	if h := blk.Header.Height; nd.role == roleFollower && s.cfg.PruneEvery > 0 && h%uint64(s.cfg.PruneEvery) == 0 {
		n, err := nd.chain.PruneBlocks(h - uint64(s.cfg.PruneEvery))
		if err != nil {
			s.violate("commit", h, "%s could not prune blocks: %v", nd.name, err)
		}
		s.stats.Pruned += n
	}
	return nil
}

// applyCertified is loop.applyCertified.
func (s *Sim) applyCertified(nd *node, c certified) {
	h := s.height(nd)
	blk, err := chain.DecodeBlock(c.block)
	if err != nil {
		s.stats.Rejected++
		return
	}
	s.trace(nd.idx, "recv certified block", blk.Header.Height, 0, 0, ident.Hash(blk.Hash()), 0)
	switch bh := blk.Header.Height; {
	case bh <= h:
		return
	case bh > h+1:
		nd.bestSeen = max(nd.bestSeen, bh)
		s.sync(nd)
		return
	}
	_ = s.applyOne(nd, c)
}

// applyOne is loop.applyOne: verify the certificate, validate, commit, and
// continue consensus at the next height.
func (s *Sim) applyOne(nd *node, c certified) error {
	blk, err := chain.DecodeBlock(c.block)
	if err != nil {
		return err
	}
	if blk.Header.Height != s.height(nd)+1 {
		return fmt.Errorf("not the next block")
	}
	if err := s.verifyCertified(blk, c.cert); err != nil {
		s.stats.Rejected++
		return err
	}
	if err := nd.chain.Validate(blk, s.clock(nd)); err != nil {
		s.trace(nd.idx, "certified block invalid here", blk.Header.Height, 0, 0, ident.Hash(blk.Hash()), 0)
		return err
	}
	if err := s.commit(nd, blk, c.cert); err != nil {
		return err
	}
	if nd.role != roleFollower {
		s.restartEngine(nd)
	}
	return nil
}

func (s *Sim) verifyCertified(blk chain.Block, cert []byte) error {
	if blk.Header.ChainID != s.gen.ChainID {
		return fmt.Errorf("block of network %q", blk.Header.ChainID)
	}
	return s.verifyCert(blk.Header.Height, blk.Hash(), cert)
}

// verifyCert checks a certificate for the block hash at height h. Results are
// cached by (hash, certificate digest): verification is a pure function of them
// and every node checks the same certificates.
func (s *Sim) verifyCert(h uint64, hash ident.Hash, cert []byte) error {
	d := sha256.New()
	d.Write(hash[:])
	d.Write(cert)
	var k [32]byte
	d.Sum(k[:0])
	if err, ok := s.certOK[k]; ok {
		return err
	}
	votes, err := decodeCert(cert)
	if err == nil {
		err = consensus.VerifyCommit(s.gen.ChainID, s.pubs, h, ident.Hash(hash), votes)
	}
	if len(s.certOK) > 1<<14 {
		clear(s.certOK)
	}
	s.certOK[k] = err
	return err
}

// sync asks one linked peer for the blocks after this node's head; the answer
// arrives after a network round trip.
func (s *Sim) sync(nd *node) {
	peers := s.linkedPeers(nd)
	if len(peers) == 0 {
		return
	}
	p := s.nodes[peers[s.rng.IntN(len(peers))]]
	blocks, certs, err := p.chain.Blocks(s.height(nd)+1, maxSyncBlocks)
	if err != nil || len(blocks) == 0 {
		return
	}
	out := make([]certified, len(blocks))
	for i := range blocks {
		out[i] = certified{block: blocks[i].Encode(), cert: certs[i]}
	}
	s.stats.Syncs++
	s.trace(nd.idx, "sync request", s.height(nd)+1, 0, 0, ident.Hash{}, int64(len(out)))
	s.push(s.delay()+s.delay(), nd.idx, event{kind: evSync, blks: out, from: p.idx})
}

// crash stops a node: its engine, mempool, timers and messages in flight to it
// are lost; its persisted State and chain store survive.
func (s *Sim) crash(nd *node, why string) {
	s.stats.Crashes[why]++
	nd.down = true
	nd.epoch++
	nd.engine = nil
	nd.pool = nil
	s.trace(nd.idx, why, s.height(nd)+1, 0, 0, ident.Hash{}, 0)
	s.push(200+s.rng.Int64N(2800), nd.idx, event{kind: evRestart})
}

func (s *Sim) restart(nd *node) {
	nd.down = false
	nd.epoch++ // anything still queued for the old process is lost
	nd.pool = chain.NewPool(20_000)
	nd.lastOut, nd.lastSync = s.now, s.now-syncEveryMs
	s.stats.Restarts++
	s.trace(nd.idx, "restart", s.height(nd)+1, 0, 0, ident.Hash{}, 0)
	s.push(0, nd.idx, event{kind: evTick})
	if s.cfg.ForgetState {
		nd.persisted = nil
	}
	if nd.role != roleFollower {
		s.restartEngine(nd)
	}
}

// The certificate encoding (opaque to chain): count, then each precommit
// length-prefixed.
func encodeCert(votes []consensus.Message) []byte {
	b := binary.AppendUvarint(nil, uint64(len(votes)))
	for _, v := range votes {
		e := v.Encode()
		b = binary.AppendUvarint(b, uint64(len(e)))
		b = append(b, e...)
	}
	return b
}

var errCert = errors.New("sim: malformed certificate")

func decodeCert(b []byte) ([]consensus.Message, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > consensus.MaxCommitSize {
		return nil, errCert
	}
	b = b[k:]
	out := make([]consensus.Message, 0, n)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, errCert
		}
		m, err := consensus.DecodeMessage(b[k : k+int(l)])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errCert, err)
		}
		out = append(out, m)
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, errCert
	}
	return out, nil
}
