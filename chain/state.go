package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// state is the replicated state machine's state. It is serialised into a sorted
// set of key/value entries (see entries) that is hashed and stored in badger; the
// typed form is rebuilt from those entries on Open.
//
// Keys (values are compact JSON):
//
//	a/<account>          participant: admission record
//	b/<account>          balance (decimal integer, micro-units); zero balances are dropped
//	c/<slot>             cleared slot: market.Result and the tariff it was cleared with
//	d/<slot>             settled slot: market.Settlement
//	e/<height>/<offender>/<round>/<type>
//	                     recorded offence (evidence.go): reporter, tx, block
//	o/<slot>/<order id>  order (with its cancelled flag), until pruned after settlement
//	s/<slot>/<account>   attestation, until pruned after settlement
//	u/<from>             authority set in force from block <from> (authority.go);
//	                     u/0000000000000000 is the genesis set
//	v/<a|r>/<key>/<voter> a vote to add or remove key (authority.go)
//	w/<name>/<height>/<voter> an upgrade vote (upgrade.go)
//	x/<name>             a scheduled upgrade (upgrade.go)
//	q/<a|k>/<voter>      an open release announcement or key vote (release.go)
//	r/<a|k>              the announced release, the voted release keys (release.go)
//	t/<tx hash>          processed tx (replay protection); order, cancel and attest
//	                     records are pruned after their slot settles, at most
//	                     maxPrunePerBlock entries per block (timing rules make a
//	                     replay impossible after settlement)
//	y                    current tariff policy (with Seq)
//
// <slot> is 16 hex digits of the slot with its sign bit flipped, so keys sort by slot.
type state struct {
	participants overlay[ident.Account, admission]
	tariff       Tariff
	slots        overlay[unit.Slot, *slotState] // slots with orders, not yet settled or not yet pruned
	hist         *history                       // committed cleared and settled records, shared read-only
	cleared      map[unit.Slot]clearedRec       // cleared by this execution, not yet in hist
	settled      map[unit.Slot]settledRec       // settled by this execution, not yet in hist
	balances     overlay[ident.Account, unit.Money]
	txs          overlay[ident.Hash, txRec]
	auth         []authEpoch // by From; entries are never modified, only appended
	authBase     int         // auth[:authBase] are the committed state's epochs
	votes        overlay[voteKey, voteRec]
	evidence     overlay[Offence, evidenceRec]
	upVotes      overlay[upVoteKey, voteRec]     // upgrade.go
	upgrades     overlay[string, upgradeRec]     // scheduled upgrades, by name
	relVotes     overlay[relVoteKey, releaseRec] // release.go
	released     overlay[bool, releaseRec]       // decided release votes: true keys, false the announcement
	keys         *keyList                        // the entries of the committed state s derives from; shared, never modified
	// merged is s.keys with merged's diff applied, as hash built it; commit
	// takes it rather than merging again.
	merged struct {
		keys *keyList
		diff []keyChange
	}
}

// Incremental state.
//
// A block's execution derives its state from the committed one without copying
// it (clone): every map is an overlay whose reads fall through to the committed
// map and whose writes are kept apart, per key. The overlays record every
// change, because they can be changed in no other way (they have no index
// operator), so after the block diff encodes only the entries under the keys an
// overlay recorded, plus the few that are not maps (tariff, new authority
// epochs, new cleared and settled records), and compares their digests with the
// committed ones (keys) to find the entries added, changed and deleted. The
// state hash merges that sorted diff into the committed sorted key list, Commit
// writes only the diff, and commit folds the winning execution's changes into
// the committed maps in place: every other execution of the same parent is
// discarded at that moment (Chain.install). Committed overlays are frozen, so a
// stray write to them panics rather than forking the chain silently. entries is
// the full, from-scratch serialisation, kept for loadState's cross-check and for
// the tests that compare the two after every block.

type admission struct {
	Name   string `json:"name"`
	Height uint64 `json:"height"` // 0 = genesis
}

// slotState is a slot's orders and attestations. A committed slot is frozen;
// an execution that changes it derives its own (see state.slot), whose
// overlays lie over the committed slot's maps.
type slotState struct {
	orders overlay[string, orderRec] // by order id
	attest overlay[ident.Account, attestRec]
	parent *slotState // the committed slot this one derives from; nil if new
}

func (ss *slotState) committed() bool { return ss.orders.frozen }

type orderRec struct {
	Order     market.Order `json:"order"`
	Cancelled bool         `json:"cancelled"`
	CancelTx  *ident.Hash  `json:"cancel_tx,omitempty"` // the cancel's tx hash, pruned with the order
	// Curve is a curve order's steps (Order then holds its total energy and
	// first price); omitted for a plain order, whose record is unchanged.
	Curve []market.Step `json:"curve,omitempty"`
}

// curve returns the record's order as a market.Curve; ok is false for a
// plain order.
func (r *orderRec) curve() (market.Curve, bool) {
	if len(r.Curve) == 0 {
		return market.Curve{}, false
	}
	o := &r.Order
	return market.Curve{ID: o.ID, Owner: o.Owner, Side: o.Side, Slot: o.Slot, Height: o.Height, Steps: r.Curve}, true
}

// book returns the slot's open (not cancelled) orders, by id: the plain ones
// and the curves (nil when there is none).
func (ss *slotState) book() (orders []market.Order, curves []market.Curve) {
	orders = make([]market.Order, 0, ss.orders.len())
	for _, id := range slices.Sorted(ss.orders.keys()) {
		r, _ := ss.orders.get(id)
		if r.Cancelled {
			continue
		}
		if c, ok := r.curve(); ok {
			curves = append(curves, c)
		} else {
			orders = append(orders, r.Order)
		}
	}
	return orders, curves
}

type attestRec struct {
	Import  unit.Wh    `json:"import"`
	Export  unit.Wh    `json:"export"`
	Journal ident.Hash `json:"journal"`
	Tx      ident.Hash `json:"tx"`
	Height  uint64     `json:"height"`
}

type clearedRec struct {
	Result market.Result `json:"result"`
	Tariff market.Tariff `json:"tariff"`
	enc    entry         // its entry, made once: the record never changes
}

type settledRec struct {
	st  market.Settlement
	enc entry // its entry, made once: the record never changes
}

// entry is a state value and its SHA-256 digest.
type entry struct {
	v []byte
	d ident.Hash
}

func newEntry(v []byte) entry { return entry{v: v, d: sha256.Sum256(v)} }

func newCleared(r market.Result, t market.Tariff) clearedRec {
	c := clearedRec{Result: r, Tariff: t}
	c.enc = newEntry(recordJSON(c))
	return c
}

func newSettled(st market.Settlement) settledRec {
	return settledRec{st: st, enc: newEntry(recordJSON(st))}
}

// appendRecord appends the state hash's record of an entry to b.
func appendRecord(b []byte, k string, d *ident.Hash) []byte {
	b = binary.AppendUvarint(b, uint64(len(k)))
	b = append(b, k...)
	return append(b, d[:]...)
}

// keyChange is a state entry a block added or changed (del false), or deleted.
type keyChange struct {
	key string
	e   entry
	del bool
}

// history holds the cleared and settled records of committed blocks. They never
// change once written, so every execution shares the committed history
// read-only and keeps its own new records in state.cleared and state.settled;
// state.commit absorbs them.
//
// Without a store (src nil: tests that drive a bare state) every record stays
// in memory. With one, memory holds only the records execution can ask for —
// those of slots still in state.slots (not yet pruned) and those above floor,
// the last histWindow slots up to lastSettled — so its size does not grow with
// the chain's age; every other record is read from the store (src), where it
// was written with its block. Invariant: every record of a slot above floor is
// in memory, so a lookup above floor never touches the store (execution asks
// only about open and recent slots).
type history struct {
	cleared                  map[unit.Slot]clearedRec
	settled                  map[unit.Slot]settledRec
	lastCleared, lastSettled unit.Slot // -1 = none
	src                      histSource
	floor                    unit.Slot // with src: records of slots <= floor may be in the store only
}

// histWindow is how many slots below the last settled one keep their records
// in memory (besides the slots not yet pruned): queries of recent results
// (Result, Settlement) are answered without reading the store.
const histWindow = 8

// histSource reads committed history records (state values under "c/<slot>"
// and "d/<slot>") from the store.
type histSource interface {
	// record returns the committed value of state key k, if any.
	record(k string) ([]byte, bool, error)
	// scan calls fn for every committed state entry whose key starts with prefix, in key order.
	scan(prefix string, fn func(k string, v []byte) error) error
}

func newHistory() *history {
	return &history{cleared: map[unit.Slot]clearedRec{}, settled: map[unit.Slot]settledRec{}, lastCleared: -1, lastSettled: -1, floor: -1 << 62}
}

// absorb moves s's new cleared and settled records into h, then (with a
// store) forgets the records that are in the store and no longer needed in
// memory: those of slots at or below lastSettled - histWindow that s.slots no
// longer holds.
func (h *history) absorb(s *state) {
	for sl, r := range s.cleared {
		h.cleared[sl] = r
		if h.lastCleared == -1 || sl > h.lastCleared {
			h.lastCleared = sl
		}
	}
	for sl, r := range s.settled {
		h.settled[sl] = r
		if h.lastSettled == -1 || sl > h.lastSettled {
			h.lastSettled = sl
		}
	}
	s.cleared = map[unit.Slot]clearedRec{}
	s.settled = map[unit.Slot]settledRec{}
	if h.src == nil || h.lastSettled < 0 {
		return
	}
	h.floor = max(h.floor, h.lastSettled-histWindow)
	for sl := range h.cleared {
		if sl <= h.floor && !s.slots.has(sl) {
			delete(h.cleared, sl)
		}
	}
	for sl := range h.settled {
		if sl <= h.floor && !s.slots.has(sl) {
			delete(h.settled, sl)
		}
	}
}

// held is how many records h keeps in memory.
func (h *history) held() int { return len(h.cleared) + len(h.settled) }

// stored reads the committed record under state key k from the store. A
// committed record that cannot be read or does not decode means a damaged
// store, on which execution must not go on (it could diverge from the chain),
// so it panics; Open checked every value's digest against the state hash.
func (h *history) stored(k string, out any) bool {
	v, ok, err := h.src.record(k)
	if err == nil && ok {
		if err = strictDecode(v, out); err == nil {
			switch r := out.(type) {
			case *clearedRec:
				r.enc = newEntry(v)
				if !bytes.Equal(recordJSON(*r), v) {
					err = fmt.Errorf("does not round-trip")
				}
			case *market.Settlement:
				if !bytes.Equal(recordJSON(*r), v) {
					err = fmt.Errorf("does not round-trip")
				}
			}
		}
	}
	if err != nil {
		panic(fmt.Sprintf("chain: state entry %q in the store: %v", k, err))
	}
	return ok
}

func (s *state) clearedOf(sl unit.Slot) (clearedRec, bool) {
	if r, ok := s.cleared[sl]; ok {
		return r, true
	}
	if r, ok := s.hist.cleared[sl]; ok {
		return r, true
	}
	var r clearedRec
	if s.hist.src == nil || sl > s.hist.floor || !s.hist.stored("c/"+slotKey(sl), &r) {
		return clearedRec{}, false
	}
	return r, true
}

func (s *state) settledOf(sl unit.Slot) (settledRec, bool) {
	if r, ok := s.settled[sl]; ok {
		return r, true
	}
	if r, ok := s.hist.settled[sl]; ok {
		return r, true
	}
	var st market.Settlement
	if s.hist.src == nil || sl > s.hist.floor || !s.hist.stored("d/"+slotKey(sl), &st) {
		return settledRec{}, false
	}
	return newSettled(st), true
}

func (s *state) isCleared(sl unit.Slot) bool { _, ok := s.clearedOf(sl); return ok }
func (s *state) isSettled(sl unit.Slot) bool { _, ok := s.settledOf(sl); return ok }

type txRec struct {
	Height uint64    `json:"height"`
	Kind   TxKind    `json:"kind"`
	Slot   unit.Slot `json:"slot"` // order, cancel, attest: the slot it is pruned with
}

// newState is the genesis state, uncommitted: all its entries are new.
func newState(g Genesis) *state {
	s := &state{
		tariff:   Tariff{Floor: g.Tariff.Floor, Ceiling: g.Tariff.Ceiling, Fee: g.Tariff.Fee, LateSeconds: g.LateSeconds},
		hist:     newHistory(),
		cleared:  map[unit.Slot]clearedRec{},
		settled:  map[unit.Slot]settledRec{},
		auth:     []authEpoch{{From: 0, Set: slices.Sorted(slices.Values(g.Authorities))}},
		authBase: 0,
	}
	for _, p := range g.Participants {
		s.participants.set(p, admission{})
	}
	return s
}

// clone derives the state of a new execution from the committed state s,
// sharing all of it: the overlays keep the execution's changes apart (see
// overlay). It costs nothing in the size of the state.
func (s *state) clone() *state {
	if len(s.cleared)+len(s.settled) != 0 {
		panic("chain: state derived from an uncommitted state")
	}
	return &state{
		participants: s.participants.derive(),
		tariff:       s.tariff,
		slots:        s.slots.derive(),
		hist:         s.hist,
		cleared:      map[unit.Slot]clearedRec{},
		settled:      map[unit.Slot]settledRec{},
		balances:     s.balances.derive(),
		txs:          s.txs.derive(),
		auth:         slices.Clip(s.auth), // an append copies
		authBase:     len(s.auth),
		votes:        s.votes.derive(),
		evidence:     s.evidence.derive(),
		upVotes:      s.upVotes.derive(),
		upgrades:     s.upgrades.derive(),
		relVotes:     s.relVotes.derive(),
		released:     s.released.derive(),
		keys:         s.keys,
	}
}

// commit makes s committed, given its diff (s.diff()): the diff joins the
// sorted key list, every overlay folds its changes into the committed maps in
// place and freezes, and the new cleared and settled records join the history
// (also in place). Every other state derived from the same parent must be
// discarded.
func (s *state) commit(diff []keyChange) {
	if m := s.merged; m.keys != nil && len(m.diff) == len(diff) && (len(diff) == 0 || &m.diff[0] == &diff[0]) {
		s.keys = m.keys
	} else {
		s.keys = mergeKeys(s.keys, diff)
	}
	s.merged.keys, s.merged.diff = nil, nil
	for _, p := range s.slots.delta {
		if !p.del {
			p.v.orders.fold()
			p.v.attest.fold()
			p.v.parent = nil
		}
	}
	s.slots.fold()
	s.participants.fold()
	s.balances.fold()
	s.txs.fold()
	s.votes.fold()
	s.evidence.fold()
	s.upVotes.fold()
	s.upgrades.fold()
	s.relVotes.fold()
	s.released.fold()
	s.hist.absorb(s)
	s.authBase = len(s.auth)
}

// slot returns slot sl for writing, creating it if absent. A committed slot is
// never written: the first write of an execution derives one of its own.
// Readers use s.slots.get.
func (s *state) slot(sl unit.Slot) *slotState {
	old, ok := s.slots.get(sl)
	if ok && !old.committed() {
		return old
	}
	ss := &slotState{}
	if ok {
		ss = &slotState{orders: old.orders.derive(), attest: old.attest.derive(), parent: old}
	}
	s.slots.set(sl, ss)
	return ss
}

func slotKey(s unit.Slot) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(s)^(1<<63))
	return hex.EncodeToString(b[:])
}

func parseSlotKey(k string) (unit.Slot, error) {
	if len(k) != 16 {
		return 0, fmt.Errorf("slot key %q", k)
	}
	b, err := hex.DecodeString(k)
	if err != nil || hex.EncodeToString(b) != k {
		return 0, fmt.Errorf("slot key %q", k)
	}
	return unit.Slot(binary.BigEndian.Uint64(b) ^ (1 << 63)), nil
}
