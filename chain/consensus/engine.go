package consensus

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"slices"

	"github.com/gridmesh/gridmesh/ident"
)

const (
	// maxRoundsAhead bounds the rounds above round_p whose messages are stored; a
	// message further ahead only counts towards the round skip (line 55).
	maxRoundsAhead = 8
	// keepRoundsBehind bounds the rounds below round_p whose messages stay
	// stored while a height is stuck (see keeps): with maxRoundsAhead and the
	// per-round bounds below, what a height holds does not grow with its
	// rounds.
	keepRoundsBehind = 4
	// maxProposalsPerRound and maxVotesPerValidator bound what an equivocating
	// validator can make us keep per round (and type).
	maxProposalsPerRound = 4
	maxVotesPerValidator = 4
)

type validity uint8

type roundValue struct {
	round int32
	id    ident.Hash
}

const (
	unknown validity = iota
	pending
	valid
	invalid // only as a verdict, never stored in Engine.validity
)

// roundVotes is what this node has seen in one round of the current height.
type roundVotes struct {
	proposals []Message      // from the round's proposer, in arrival order
	votes     [2][][]Message // [prevote, precommit][validator index]: distinct values, arrival order
	evidenced [2][]bool      // conflict already reported
}

// Engine is one node's Tendermint state machine for a sequence of heights. It is not
// safe for concurrent use: one loop owns it (see package doc).
type Engine struct {
	cfg   Config
	vals  []ident.Account // sorted
	index map[ident.Account]int
	pubs  map[ident.Account]ed25519.PublicKey
	self  int // index in vals, -1 = observer

	st    State // the persisted part
	dirty bool  // st changed since the last Ready

	// Per height. validity holds valid(v) by value id (unknown, pending, valid);
	// "not valid" verdicts are kept per (round, id) in invalid, so that a Byzantine
	// proposer's bad value under an honest value's id taints no other round.
	rounds   map[int32]*roundVotes
	high     []int32 // per validator: highest round of any message at this height, -1 none
	validity map[ident.Hash]validity
	invalid  map[roundValue]bool
	next     []Message // messages of height+1, replayed when the height is entered

	// Per round ("for the first time" guards of lines 34, 36, 47).
	prevoteTimerDone   bool
	polkaDone          bool
	precommitTimerDone bool
	awaitingBuild      bool

	out Ready
}

// New returns an engine for height (the next height to decide). restored is the
// last persisted State, or nil on first start:
//   - restored.Height == height: resume exactly there (same round, step, lock, valid
//     value), re-arm the current step's timer and re-send the last signed messages;
//   - restored.Height < height (the application committed further, e.g. by catch-up):
//     start the height afresh but keep the last-signed record;
//   - restored.Height == height+1 with a Decision: the process died before the
//     decided value was committed; the Decision is handed out again by Ready;
//   - restored.Height > height otherwise: ErrStateAhead (this node voted at a height
//     whose value it lacks; fetch it from peers first).
//
// A fresh or caught-up engine waits (StepNewHeight) for Work or a message of height.
func New(cfg Config, height uint64, restored *State) (*Engine, error) {
	if len(cfg.Validators) == 0 {
		return nil, fmt.Errorf("%w: no validators", ErrConfig)
	}
	e := &Engine{
		cfg:   cfg,
		vals:  slices.Clone(cfg.Validators),
		index: make(map[ident.Account]int, len(cfg.Validators)),
		pubs:  make(map[ident.Account]ed25519.PublicKey, len(cfg.Validators)),
		self:  -1,
	}
	slices.Sort(e.vals)
	for i, id := range e.vals {
		pub, err := publicKey(id)
		if err != nil {
			return nil, fmt.Errorf("%w: validator %d: %w", ErrConfig, i, err)
		}
		if _, dup := e.index[id]; dup {
			return nil, fmt.Errorf("%w: duplicate validator %s", ErrConfig, id)
		}
		e.index[id] = i
		e.pubs[id] = pub
	}
	if i, ok := e.index[cfg.Self]; ok {
		if cfg.Signer == nil {
			return nil, fmt.Errorf("%w: validator without signer", ErrConfig)
		}
		e.self = i
	}
	e.st = State{Height: height, LockedRound: -1, ValidRound: -1}
	if restored != nil {
		if err := restored.check(); err != nil {
			return nil, err
		}
		r := restored.clone()
		switch {
		case r.Height == height+1 && r.Decision != nil:
			// Died between persisting the decision and committing it: hand it out again.
			e.st = r
			e.out.Decided = append(e.out.Decided, *r.Decision)
		case r.Height > height:
			return nil, fmt.Errorf("%w: state at %d, asked for %d", ErrStateAhead, r.Height, height)
		case r.Height < height:
			e.st.LastProposal, e.st.LastPrevote, e.st.LastPrecommit = r.LastProposal, r.LastPrevote, r.LastPrecommit
			e.dirty = true
		default:
			e.st = r
		}
	}
	e.resetHeight()
	if e.st.Step != StepNewHeight {
		e.resume()
	}
	return e, nil
}

// resume re-enters the restored round: own signed messages count again, the step's
// timer is re-armed (a timeout only ever moves towards nil votes or the next round,
// so arming one early is safe), and the last signed messages are re-sent.
func (e *Engine) resume() {
	e.validity[e.st.LockedID] = valid
	e.validity[e.st.ValidID] = valid
	delete(e.validity, ident.Hash{})
	for _, m := range e.st.ValidPolka {
		_ = e.store(m)
	}
	for _, m := range []*Message{e.st.LastProposal, e.st.LastPrevote, e.st.LastPrecommit} {
		if m != nil && m.Height == e.st.Height {
			if m.Type == Proposal {
				e.validity[m.ValueID] = valid
			}
			_ = e.store(*m)
		}
	}
	switch e.st.Step {
	case StepPropose:
		if e.isProposer(e.st.Round) && !e.signedAt(e.st.LastProposal, e.st.Round) {
			e.propose()
		}
		e.schedule(TimeoutPropose)
	}
	// At StepPrevote and StepPrecommit no timer is re-armed: Algorithm 1 arms
	// timeoutPrevote and timeoutPrecommit only once 2f+1 votes of the round are
	// in (lines 34 and 47), and run() below, fed by the peers' re-broadcast
	// votes, arms them again when that holds. Arming timeoutPrecommit on restore
	// sent a restarted node alone into the next round, where it re-broadcast only
	// that round's votes and its lost prevote of this round was never sent again:
	// a deadlock the chain simulator found (chain/sim, TestRestartedPrecommitTimerDeadlock).
	e.Rebroadcast()
	e.run()
}

func (e *Engine) resetHeight() {
	e.rounds = make(map[int32]*roundVotes)
	e.high = make([]int32, len(e.vals))
	for i := range e.high {
		e.high[i] = -1
	}
	e.validity = make(map[ident.Hash]validity)
	e.invalid = make(map[roundValue]bool)
	e.resetRound()
}

func (e *Engine) resetRound() {
	e.prevoteTimerDone, e.polkaDone, e.precommitTimerDone, e.awaitingBuild = false, false, false, false
}

// Height returns h_p, the height being decided.
func (e *Engine) Height() uint64 { return e.st.Height }

// Round returns round_p and step_p.
func (e *Engine) Round() (int32, RoundStep) { return e.st.Round, e.st.Step }

// Proposer returns proposer(height, round) = sorted validators[(height+round) mod n].
func (e *Engine) Proposer(height uint64, round int32) ident.Account {
	return ProposerOf(e.vals, height, round)
}

// ProposerOf is the proposer of (height, round) among vals, sorted: what
// Engine.Proposer answers, for a caller without the engine.
func ProposerOf(vals []ident.Account, height uint64, round int32) ident.Account {
	return vals[(height+uint64(round))%uint64(len(vals))]
}

func (e *Engine) isProposer(round int32) bool {
	return e.self >= 0 && e.Proposer(e.st.Height, round) == e.vals[e.self]
}

// Quorums over n validators of equal power: 2f+1 is "more than 2n/3", f+1 is "more
// than n/3" (n = 3f+1 gives exactly 2f+1 and f+1).
func (e *Engine) twoThirds(count int) bool { return 3*count > 2*len(e.vals) }
func (e *Engine) oneThird(count int) bool  { return 3*count > len(e.vals) }

// Step feeds one input into the engine and runs every upon-rule it enables. A
// Message must already have its signature checked by the caller. Inputs of no use
// return an error wrapping ErrIgnored (see the sentinels); malformed ones ErrMalformed.
func (e *Engine) Step(in Input) error {
	switch in := in.(type) {
	case Message:
		return e.stepMessage(in)
	case *Message:
		return e.stepMessage(*in)
	case Timeout:
		return e.stepTimeout(in)
	case Proposed:
		return e.stepProposed(in)
	case Validated:
		return e.stepValidated(in)
	case Work:
		if e.st.Step == StepNewHeight {
			e.startRound(0)
			e.run()
		}
		return nil
	case Commit:
		return e.stepCommit(in)
	}
	return fmt.Errorf("%w: input %T", ErrMalformed, in)
}

func (e *Engine) stepMessage(m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	if err := e.store(m); err != nil {
		return err
	}
	if m.Height == e.st.Height && e.st.Step == StepNewHeight {
		e.startRound(0) // a message of this height is work (contract: blocks only when there is work)
	}
	e.run()
	return nil
}

func (e *Engine) stepTimeout(t Timeout) error {
	if t.Kind == TimeoutRebroadcast {
		e.Rebroadcast()
		return nil
	}
	if t.Height != e.st.Height || t.Round != e.st.Round || e.st.Step == StepNewHeight {
		return ErrStale
	}
	switch t.Kind {
	case TimeoutPropose:
		e.onTimeoutPropose()
	case TimeoutPrevote:
		e.onTimeoutPrevote()
	case TimeoutPrecommit:
		e.onTimeoutPrecommit()
	default:
		return fmt.Errorf("%w: timeout kind %d", ErrMalformed, t.Kind)
	}
	e.run()
	return nil
}

// stepProposed is getValue() returning (line 18): broadcast the proposal (line 19).
func (e *Engine) stepProposed(p Proposed) error {
	if !e.awaitingBuild || p.Height != e.st.Height || p.Round != e.st.Round || e.st.Step != StepPropose {
		return ErrStale
	}
	if p.ID.IsZero() || len(p.Value) > MaxValueSize {
		return fmt.Errorf("%w: proposed value id zero or value too large", ErrMalformed)
	}
	e.awaitingBuild = false
	e.validity[p.ID] = valid
	e.broadcast(Message{Type: Proposal, Height: e.st.Height, Round: e.st.Round, ValueID: p.ID,
		ValidRound: e.st.ValidRound, Value: bytes.Clone(p.Value)})
	e.run()
	return nil
}

func (e *Engine) stepValidated(v Validated) error {
	if v.Height != e.st.Height || e.validity[v.ID] != pending {
		return ErrStale
	}
	if v.Valid {
		e.validity[v.ID] = valid
	} else {
		e.validity[v.ID] = unknown
		e.invalid[roundValue{v.Round, v.ID}] = true
		e.requestValidation() // proposals of other rounds under this id get their own verdict
	}
	e.run()
	return nil
}

// stepCommit decides the current height from a peer's certificate (catch-up).
func (e *Engine) stepCommit(c Commit) error {
	switch {
	case c.Height < e.st.Height:
		return ErrOldHeight
	case c.Height > e.st.Height:
		return ErrFutureHeight
	}
	if err := VerifyCommit(e.cfg.ChainID, e.pubs, c.Height, c.ID, c.Commit); err != nil {
		return err
	}
	commit := slices.Clone(c.Commit)
	slices.SortFunc(commit, func(a, b Message) int { return cmpID(a.From, b.From) })
	e.decide(commit[0].Round, c.ID, bytes.Clone(c.Value), commit)
	e.run()
	return nil
}

func cmpID(a, b ident.Account) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// store records a message of the current height (or buffers one of the next). It
// reports conflicts as Evidence and requests validation of new proposals.
func (e *Engine) store(m Message) error {
	idx, ok := e.index[m.From]
	if !ok {
		return ErrNotValidator
	}
	switch {
	case m.Height < e.st.Height:
		return ErrOldHeight
	case m.Height == e.st.Height+1:
		if len(e.next) >= 4*len(e.vals)*(maxRoundsAhead+1) {
			return ErrFutureHeight
		}
		e.next = append(e.next, m)
		return nil
	case m.Height > e.st.Height:
		return ErrFutureHeight
	}
	if m.Type == Proposal && e.Proposer(m.Height, m.Round) != m.From {
		return ErrNotProposer
	}
	if m.Round > e.high[idx] {
		e.high[idx] = m.Round
	}
	if m.Round > e.st.Round+maxRoundsAhead {
		return nil // counts for the round skip only
	}
	if !e.keeps(m.Round) {
		return nil // an old round no rule can use any more: counts for nothing
	}
	rv := e.rounds[m.Round]
	if rv == nil {
		rv = &roundVotes{}
		for i := range rv.votes {
			rv.votes[i] = make([][]Message, len(e.vals))
			rv.evidenced[i] = make([]bool, len(e.vals))
		}
		e.rounds[m.Round] = rv
	}
	if m.Type == Proposal {
		for _, p := range rv.proposals {
			if p.ValueID == m.ValueID && p.ValidRound == m.ValidRound {
				return ErrDuplicate
			}
		}
		if len(rv.proposals) > 0 && len(rv.proposals) < maxProposalsPerRound {
			e.out.Evidence = append(e.out.Evidence, Evidence{A: rv.proposals[0], B: m})
		}
		if len(rv.proposals) >= maxProposalsPerRound {
			return nil
		}
		rv.proposals = append(rv.proposals, m)
		e.requestValidation()
		return nil
	}
	// Algorithm 1 counts messages from distinct senders per value, so an
	// equivocator's conflicting votes each count for their own value (otherwise a
	// lock formed with its help could never be seen by others: a liveness bug).
	t := int(m.Type - Prevote)
	have := rv.votes[t][idx]
	for _, v := range have {
		if v.ValueID == m.ValueID {
			return ErrDuplicate
		}
	}
	if len(have) > 0 && !rv.evidenced[t][idx] {
		rv.evidenced[t][idx] = true
		e.out.Evidence = append(e.out.Evidence, Evidence{A: have[0], B: m})
	}
	if len(have) < maxVotesPerValidator {
		rv.votes[t][idx] = append(have, m)
	}
	return nil
}

// requestValidation asks the application for valid(v) of every stored proposal
// whose value has no verdict and no pending request (rounds in increasing order).
func (e *Engine) requestValidation() {
	for _, r := range e.sortedRounds() {
		for _, p := range e.rounds[r].proposals {
			if e.validity[p.ValueID] == unknown && !e.invalid[roundValue{r, p.ValueID}] {
				e.validity[p.ValueID] = pending
				e.out.Validate = append(e.out.Validate, ValidateRequest{Height: p.Height, Round: p.Round, ID: p.ValueID, Value: p.Value})
			}
		}
	}
}

// keeps reports whether messages of round r (at most round_p +
// maxRoundsAhead) are stored. A round below round_p − keepRoundsBehind is
// kept only if a rule may still count its messages: it is the locked or the
// valid round (their values and the polka proving the valid value are
// re-proposed and re-sent from it), or the valid round of a proposal of a
// recent round (line 28 counts that round's prevotes; the proposer re-sends
// them after its proposal, see propose and Rebroadcast). Dropping the rest is
// what message loss does, which Tendermint's safety allows; what it costs is
// only old rounds deciding late (line 49 for a round no longer kept), which a
// node gets by syncing the certified block instead. Rounds at or above round_p
// − keepRoundsBehind are all kept, so no rule of a current or later round
// loses a message it counts.
func (e *Engine) keeps(r int32) bool {
	if r >= e.st.Round-keepRoundsBehind || r == e.st.LockedRound || r == e.st.ValidRound {
		return true
	}
	for rr := e.st.Round - keepRoundsBehind; rr <= e.st.Round+maxRoundsAhead; rr++ {
		if rv := e.rounds[rr]; rv != nil {
			for _, p := range rv.proposals {
				if p.ValidRound == r {
					return true
				}
			}
		}
	}
	return false
}

// pruneRounds forgets the rounds keeps no longer keeps, and the validity
// verdicts of values no kept round proposes (a value proposed again is
// validated again). startRound calls it as round_p moves on.
func (e *Engine) pruneRounds() {
	for r := range e.rounds {
		if !e.keeps(r) {
			delete(e.rounds, r)
		}
	}
	ids := map[ident.Hash]bool{e.st.LockedID: true, e.st.ValidID: true}
	for _, rv := range e.rounds {
		for _, p := range rv.proposals {
			ids[p.ValueID] = true
		}
	}
	for id := range e.validity {
		if !ids[id] {
			delete(e.validity, id)
		}
	}
	for rv := range e.invalid {
		if e.rounds[rv.round] == nil {
			delete(e.invalid, rv)
		}
	}
}

// roundsHeld is how many rounds of the current height have messages stored.
func (e *Engine) roundsHeld() int { return len(e.rounds) }

func (e *Engine) sortedRounds() []int32 {
	rounds := make([]int32, 0, len(e.rounds))
	for r := range e.rounds {
		rounds = append(rounds, r)
	}
	slices.Sort(rounds)
	return rounds
}

// verdict returns valid(v) for a proposal: valid, invalid, or unknown (pending).
func (e *Engine) verdict(p Message) validity {
	switch {
	case e.validity[p.ValueID] == valid:
		return valid
	case e.invalid[roundValue{p.Round, p.ValueID}]:
		return invalid
	}
	return unknown
}

// count returns how many validators voted id (typ) in round r, and how many voted at all.
func (e *Engine) count(r int32, typ MsgType, id ident.Hash) (forID, any int) {
	rv := e.rounds[r]
	if rv == nil {
		return 0, 0
	}
	for _, vs := range rv.votes[typ-Prevote] {
		if len(vs) > 0 {
			any++
		}
		for _, v := range vs {
			if v.ValueID == id {
				forID++
				break
			}
		}
	}
	return forID, any
}

func (e *Engine) proposals(r int32) []Message {
	if rv := e.rounds[r]; rv != nil {
		return rv.proposals
	}
	return nil
}

func (e *Engine) schedule(k TimeoutKind) {
	e.out.Timers = append(e.out.Timers, Timer{
		Timeout:  Timeout{Kind: k, Height: e.st.Height, Round: e.st.Round},
		Duration: e.cfg.Timeouts.duration(k, e.st.Round),
	})
}

func (e *Engine) vote(t MsgType, id ident.Hash) {
	e.broadcast(Message{Type: t, Height: e.st.Height, Round: e.st.Round, ValueID: id, ValidRound: -1})
}

// broadcast signs m (through the last-signed guard), counts it and sends it.
// Observers sign nothing.
func (e *Engine) broadcast(m Message) {
	e.dirty = true
	if e.self < 0 {
		return
	}
	sm, ok := e.sign(m)
	if !ok {
		return
	}
	_ = e.store(sm)
	e.out.Messages = append(e.out.Messages, sm)
}

// signedAt reports whether last is a message of the current height and round r.
func (e *Engine) signedAt(last *Message, r int32) bool {
	return last != nil && last.Height == e.st.Height && last.Round == r
}

// sign is the last-signed guard: per type, it signs only messages after the last
// signed one (greater height, or same height and greater round). For the same
// (height, round) it returns the message already signed if it says the same thing
// and refuses otherwise, so that a node restored from any persisted State never
// signs two conflicting messages.
func (e *Engine) sign(m Message) (Message, bool) {
	last := &e.st.LastProposal
	switch m.Type {
	case Prevote:
		last = &e.st.LastPrevote
	case Precommit:
		last = &e.st.LastPrecommit
	}
	if l := *last; l != nil {
		if l.Height > m.Height || l.Height == m.Height && l.Round > m.Round {
			return Message{}, false
		}
		if l.Height == m.Height && l.Round == m.Round {
			if l.ValueID == m.ValueID && l.ValidRound == m.ValidRound {
				return *l, true
			}
			return Message{}, false
		}
	}
	m.From = e.vals[e.self]
	m.Sig = e.cfg.Signer.Sign(m.SignBytes(e.cfg.ChainID))
	sm := m
	*last = &sm
	e.dirty = true
	return m, true
}

// Rebroadcast re-emits this node's latest signed messages for the current height
// (its proposal of round_p, last prevote, last precommit), the prevotes proving its
// valid value (ValidPolka: peers that lost them cannot apply line 28 without them)
// and its last precommit of the previous height (peers still deciding it need it). Gossip is best-effort;
// the caller calls this periodically (or steps Timeout{Kind: TimeoutRebroadcast}).
func (e *Engine) Rebroadcast() {
	if e.self < 0 {
		return
	}
	if m := e.st.LastProposal; e.signedAt(m, e.st.Round) {
		e.out.Messages = append(e.out.Messages, *m)
	}
	if m := e.st.LastPrevote; m != nil && m.Height == e.st.Height {
		e.out.Messages = append(e.out.Messages, *m)
	}
	if m := e.st.LastPrecommit; m != nil && (m.Height == e.st.Height || m.Height+1 == e.st.Height) {
		e.out.Messages = append(e.out.Messages, *m)
	}
	for _, m := range e.st.ValidPolka {
		if l := e.st.LastPrevote; l != nil && m.From == l.From && m.Height == l.Height && m.Round == l.Round {
			continue // sent just above
		}
		e.out.Messages = append(e.out.Messages, m)
	}
}

// HasReady reports whether Ready has anything.
func (e *Engine) HasReady() bool {
	o := &e.out
	return e.dirty || len(o.Messages) > 0 || len(o.Timers) > 0 || o.Build != nil ||
		len(o.Validate) > 0 || len(o.Decided) > 0 || len(o.Evidence) > 0
}

// Ready hands out the accumulated work (see Ready for the order). Each item is
// handed out once; inputs stepped while carrying it out go into the next Ready.
func (e *Engine) Ready() Ready {
	rd := e.out
	e.out = Ready{}
	if e.st.Decision != nil && len(rd.Decided) == 0 && e.st.Step != StepNewHeight {
		// Handed out by an earlier Ready, which the caller carried out; the height's
		// rounds have begun, so the next persisted State need not carry it.
		e.st.Decision = nil
	}
	if e.dirty {
		s := e.st.clone()
		rd.State = &s
		e.dirty = false
	}
	return rd
}

// Advance acknowledges that the last Ready was carried out. Ready already handed
// its items over, so this only marks the end of the cycle (etcd-io/raft style).
func (e *Engine) Advance() {}

// State returns a copy of the current persisted-state view.
func (e *Engine) State() State { return e.st.clone() }
