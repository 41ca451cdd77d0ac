package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"

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
	keys         *keyList // the entries of the committed state s derives from; shared, never modified
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

// overlay is a map that an execution changes without copying it: reads fall
// through to base, the committed map (shared by every execution of the same
// parent), and writes go to delta, so delta's keys are all those whose value
// may differ from base's. The zero value is an empty map.
type overlay[K comparable, V any] struct {
	base   map[K]V
	delta  map[K]pending[V]
	n      int  // number of keys
	frozen bool // committed: base is shared, writes panic
}

// pending is a write of an overlay: a new value, or a deletion.
type pending[V any] struct {
	v   V
	del bool
}

func (m *overlay[K, V]) get(k K) (V, bool) {
	if p, ok := m.delta[k]; ok {
		return p.v, !p.del
	}
	v, ok := m.base[k]
	return v, ok
}

func (m *overlay[K, V]) has(k K) bool { _, ok := m.get(k); return ok }

func (m *overlay[K, V]) len() int { return m.n }

func (m *overlay[K, V]) writable() {
	if m.frozen {
		panic("chain: write to the committed state")
	}
	if m.delta == nil {
		m.delta = map[K]pending[V]{}
	}
}

func (m *overlay[K, V]) set(k K, v V) {
	m.writable()
	if !m.has(k) {
		m.n++
	}
	m.delta[k] = pending[V]{v: v}
}

func (m *overlay[K, V]) del(k K) {
	m.writable()
	if !m.has(k) {
		return
	}
	m.n--
	if _, committed := m.base[k]; committed {
		m.delta[k] = pending[V]{del: true}
	} else {
		delete(m.delta, k)
	}
}

// all yields every key and value, in no particular order.
func (m *overlay[K, V]) all() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for k, v := range m.base {
			if _, changed := m.delta[k]; !changed && !yield(k, v) {
				return
			}
		}
		for k, p := range m.delta {
			if !p.del && !yield(k, p.v) {
				return
			}
		}
	}
}

// keys yields every key, in no particular order.
func (m *overlay[K, V]) keys() iter.Seq[K] {
	return func(yield func(K) bool) {
		for k := range m.all() {
			if !yield(k) {
				return
			}
		}
	}
}

// derive returns an empty overlay over m's map; m must be committed.
func (m *overlay[K, V]) derive() overlay[K, V] {
	if !m.frozen {
		panic("chain: state derived from an uncommitted state")
	}
	return overlay[K, V]{base: m.base, n: m.n}
}

// fold writes m's changes into its base map, in place, and freezes m. Other
// overlays over the same base see the change: they must be discarded.
func (m *overlay[K, V]) fold() {
	if m.base == nil {
		m.base = make(map[K]V, len(m.delta))
	}
	for k, p := range m.delta {
		if p.del {
			delete(m.base, k)
		} else {
			m.base[k] = p.v
		}
	}
	m.delta = nil
	m.frozen = true
}

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

// keyList is the committed state's entries in key order, as the state hash
// reads them: record i is uvarint(len key), key, SHA-256(value), and the
// records lie back to back in stream, so that hashing a stretch of unchanged
// entries is one Write and merging a block's diff in copies stretches. It is
// shared and never modified; nil is the empty list.
type keyList struct {
	stream []byte
	offs   []int // record i is stream[offs[i]:offs[i+1]]; len(offs) = entries + 1
}

func (l *keyList) len() int {
	if l == nil {
		return 0
	}
	return len(l.offs) - 1
}

func (l *keyList) key(i int) []byte {
	r := l.stream[l.offs[i]:l.offs[i+1]]
	n, w := binary.Uvarint(r)
	return r[w : w+int(n)]
}

func (l *keyList) digest(i int) ident.Hash {
	return ident.Hash(l.stream[l.offs[i+1]-len(ident.Hash{}) : l.offs[i+1]])
}

// search returns the first index from lo on whose key is not below k, and
// whether its key is k.
func (l *keyList) search(lo int, k string) (int, bool) {
	i, j := lo, l.len()
	for i < j {
		h := int(uint(i+j) >> 1)
		if string(l.key(h)) < k {
			i = h + 1
		} else {
			j = h
		}
	}
	return i, i < l.len() && string(l.key(i)) == k
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
type history struct {
	cleared                  map[unit.Slot]clearedRec
	settled                  map[unit.Slot]settledRec
	lastCleared, lastSettled unit.Slot // -1 = none
}

func newHistory() *history {
	return &history{cleared: map[unit.Slot]clearedRec{}, settled: map[unit.Slot]settledRec{}, lastCleared: -1, lastSettled: -1}
}

// absorb moves s's new cleared and settled records into h.
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
}

func (s *state) clearedOf(sl unit.Slot) (clearedRec, bool) {
	if r, ok := s.cleared[sl]; ok {
		return r, true
	}
	r, ok := s.hist.cleared[sl]
	return r, ok
}

func (s *state) settledOf(sl unit.Slot) (settledRec, bool) {
	if r, ok := s.settled[sl]; ok {
		return r, true
	}
	r, ok := s.hist.settled[sl]
	return r, ok
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
		tariff:   Tariff{Floor: g.Tariff.Floor, Ceiling: g.Tariff.Ceiling, Fee: g.Tariff.Fee},
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
		keys:         s.keys,
	}
}

// commit makes s committed, given its diff (s.diff()): the diff joins the
// sorted key list, every overlay folds its changes into the committed maps in
// place and freezes, and the new cleared and settled records join the history
// (also in place). Every other state derived from the same parent must be
// discarded.
func (s *state) commit(diff []keyChange) {
	s.keys = mergeKeys(s.keys, diff)
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

// entries serialises all of s into its key/value entries from scratch, the
// committed history included. Blocks use diff instead; entries is the
// reference it is checked against (loadState, tests).
func (s *state) entries() map[string]entry {
	m := make(map[string]entry, s.participants.len()+s.balances.len()+s.txs.len()+len(s.hist.cleared)+len(s.hist.settled)+1)
	put := func(k string, v any) { m[k] = newEntry(recordJSON(v)) }
	for a, r := range s.participants.all() {
		put("a/"+string(a), r)
	}
	for a, v := range s.balances.all() {
		if v != 0 {
			put("b/"+string(a), int64(v))
		}
	}
	for _, cl := range []map[unit.Slot]clearedRec{s.hist.cleared, s.cleared} {
		for sl, r := range cl {
			m["c/"+slotKey(sl)] = r.enc
		}
	}
	for _, st := range []map[unit.Slot]settledRec{s.hist.settled, s.settled} {
		for sl, r := range st {
			m["d/"+slotKey(sl)] = r.enc
		}
	}
	for sl, ss := range s.slots.all() {
		k := slotKey(sl)
		for id, o := range ss.orders.all() {
			put("o/"+k+"/"+id, o)
		}
		for a, r := range ss.attest.all() {
			put("s/"+k+"/"+string(a), r)
		}
	}
	for h, r := range s.txs.all() {
		put("t/"+h.String(), r)
	}
	for _, e := range s.auth {
		put(authKey(e.From), authEntry{Set: e.Set})
	}
	for vk, r := range s.votes.all() {
		put(vk.key(), r)
	}
	for o, r := range s.evidence.all() {
		put(offenceKey(o), r)
	}
	put("y", s.tariff)
	return m
}

// diff returns the entries that s added, changed or deleted since the
// committed state it derives from (s.keys), sorted by key. It encodes only the
// entries under keys its overlays recorded a write for, the tariff, the new
// authority epochs and the new cleared and settled records; an entry whose
// digest did not change is left out.
func (s *state) diff() []keyChange {
	out := map[string]*entry{} // nil: no entry under the key
	put := func(k string, v any, present bool) {
		if !present {
			out[k] = nil
			return
		}
		e := newEntry(recordJSON(v))
		out[k] = &e
	}
	for a := range s.participants.delta {
		r, ok := s.participants.get(a)
		put("a/"+string(a), r, ok)
	}
	for a := range s.balances.delta {
		v, ok := s.balances.get(a)
		put("b/"+string(a), int64(v), ok && v != 0)
	}
	for sl, r := range s.cleared {
		out["c/"+slotKey(sl)] = &r.enc
	}
	for sl, r := range s.settled {
		out["d/"+slotKey(sl)] = &r.enc
	}
	for sl, p := range s.slots.delta {
		old, nw, k := s.slots.base[sl], p.v, slotKey(sl) // nw is nil if deleted
		order := func(id string) {
			var r orderRec
			ok := false
			if nw != nil {
				r, ok = nw.orders.get(id)
			}
			put("o/"+k+"/"+id, r, ok)
		}
		attest := func(a ident.Account) {
			var r attestRec
			ok := false
			if nw != nil {
				r, ok = nw.attest.get(a)
			}
			put("s/"+k+"/"+string(a), r, ok)
		}
		if nw != nil && old != nil && nw.parent == old {
			// Derived from the committed slot: its overlays know what changed.
			for id := range nw.orders.delta {
				order(id)
			}
			for a := range nw.attest.delta {
				attest(a)
			}
			continue
		}
		// Deleted, new, or replaced: every key of the old and the new slot.
		for _, ss := range []*slotState{old, nw} {
			if ss == nil {
				continue
			}
			for id := range ss.orders.keys() {
				order(id)
			}
			for a := range ss.attest.keys() {
				attest(a)
			}
		}
	}
	for h := range s.txs.delta {
		r, ok := s.txs.get(h)
		put("t/"+h.String(), r, ok)
	}
	for _, e := range s.auth[s.authBase:] {
		put(authKey(e.From), authEntry{Set: e.Set}, true)
	}
	for vk := range s.votes.delta {
		r, ok := s.votes.get(vk)
		put(vk.key(), r, ok)
	}
	for o := range s.evidence.delta {
		r, ok := s.evidence.get(o)
		put(offenceKey(o), r, ok)
	}
	put("y", s.tariff, true)

	diff := make([]keyChange, 0, len(out))
	for k, e := range out {
		i, found := s.keys.search(0, k)
		switch {
		case e == nil && found:
			diff = append(diff, keyChange{key: k, del: true})
		case e != nil && (!found || s.keys.digest(i) != e.d):
			diff = append(diff, keyChange{key: k, e: *e})
		}
	}
	slices.SortFunc(diff, func(a, b keyChange) int { return strings.Compare(a.key, b.key) })
	return diff
}

// merge walks the committed entries with diff applied, in key order: run
// gets each stretch [a, b) of unchanged committed entries, one each added or
// changed entry. diff is sorted and deletes only keys that exist. Each diff
// key is found by binary search, so the walk itself costs
// O(len(diff) log l.len()).
func merge(l *keyList, diff []keyChange, run func(a, b int), one func(*keyChange)) {
	i := 0
	for j := range diff {
		ch := &diff[j]
		n, found := l.search(i, ch.key)
		if n > i {
			run(i, n)
		}
		i = n
		if found {
			i++ // changed or deleted
		}
		if !ch.del {
			one(ch)
		}
	}
	if i < l.len() {
		run(i, l.len())
	}
}

// mergeKeys is the key list of l with diff applied.
func mergeKeys(l *keyList, diff []keyChange) *keyList {
	size := 0
	if l != nil {
		size = len(l.stream)
	}
	for _, ch := range diff {
		size += binary.MaxVarintLen64 + len(ch.key) + len(ident.Hash{})
	}
	out := &keyList{stream: make([]byte, 0, size), offs: make([]int, 0, l.len()+len(diff)+1)}
	merge(l, diff,
		func(a, b int) {
			shift := len(out.stream) - l.offs[a]
			out.stream = append(out.stream, l.stream[l.offs[a]:l.offs[b]]...)
			for _, o := range l.offs[a:b] {
				out.offs = append(out.offs, o+shift)
			}
		},
		func(ch *keyChange) {
			out.offs = append(out.offs, len(out.stream))
			out.stream = appendRecord(out.stream, ch.key, &ch.e.d)
		})
	out.offs = append(out.offs, len(out.stream))
	return out
}

// hashDiff is the state hash of the committed entries l with diff applied:
// SHA-256 over all entries in key order, each written as uvarint(len key),
// key, SHA-256(value). Hashing value digests rather than values keeps the
// per-block cost small, and the committed records are hashed as they lie.
func hashDiff(l *keyList, diff []keyChange) ident.Hash {
	d := sha256.New()
	d.Write([]byte("gridmesh/state/v1\n"))
	var rec []byte
	merge(l, diff,
		func(a, b int) { d.Write(l.stream[l.offs[a]:l.offs[b]]) },
		func(ch *keyChange) {
			rec = appendRecord(rec[:0], ch.key, &ch.e.d)
			d.Write(rec)
		})
	var h ident.Hash
	d.Sum(h[:0])
	return h
}

// stateHash is the state hash, from scratch, of the committed keys with all
// of m's entries added (or replacing theirs).
func stateHash(keys *keyList, m map[string]entry) ident.Hash { return hashDiff(keys, changesOf(m)) }

// changesOf is m's entries as additions, sorted by key.
func changesOf(m map[string]entry) []keyChange {
	diff := make([]keyChange, 0, len(m))
	for k, e := range m {
		diff = append(diff, keyChange{key: k, e: e})
	}
	slices.SortFunc(diff, func(a, b keyChange) int { return strings.Compare(a.key, b.key) })
	return diff
}

// hash is the state hash of s given its diff.
func (s *state) hash(diff []keyChange) ident.Hash { return hashDiff(s.keys, diff) }

// loadState rebuilds a state from all its entries and checks that it serialises
// back to exactly the same entries (so no entry was damaged or left over). It
// is uncommitted: all its entries are new (commit it with changesOf(m)).
func loadState(m map[string]entry) (*state, error) {
	s := &state{
		hist:    newHistory(),
		cleared: map[unit.Slot]clearedRec{},
		settled: map[unit.Slot]settledRec{},
	}
	haveTariff := false
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := s.loadEntry(k, m[k], &haveTariff); err != nil {
			return nil, fmt.Errorf("state entry %q: %w", k, err)
		}
	}
	if !haveTariff {
		return nil, fmt.Errorf("state entry \"y\" (tariff) missing")
	}
	if err := checkAuth(s.auth); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	back := s.entries()
	if len(back) != len(m) {
		return nil, fmt.Errorf("state has %d entries, %d after reload", len(m), len(back))
	}
	for k, e := range back {
		if !bytes.Equal(m[k].v, e.v) || m[k].d != e.d {
			return nil, fmt.Errorf("state entry %q does not round-trip", k)
		}
	}
	return s, nil
}

func (s *state) loadEntry(k string, e entry, haveTariff *bool) error {
	dec := func(out any) error { return strictDecode(e.v, out) }
	prefix, rest, _ := strings.Cut(k, "/")
	switch prefix {
	case "a":
		var r admission
		if err := dec(&r); err != nil {
			return err
		}
		s.participants.set(ident.Account(rest), r)
	case "b":
		var x int64
		if err := dec(&x); err != nil {
			return err
		}
		s.balances.set(ident.Account(rest), unit.Money(x))
	case "c", "d":
		sl, err := parseSlotKey(rest)
		if err != nil {
			return err
		}
		if prefix == "c" {
			var r clearedRec
			if err := dec(&r); err != nil {
				return err
			}
			if !bytes.Equal(recordJSON(r), e.v) {
				return fmt.Errorf("does not round-trip")
			}
			r.enc = e
			s.cleared[sl] = r
		} else {
			var r market.Settlement
			if err := dec(&r); err != nil {
				return err
			}
			if !bytes.Equal(recordJSON(r), e.v) {
				return fmt.Errorf("does not round-trip")
			}
			s.settled[sl] = settledRec{st: r, enc: e}
		}
	case "o", "s":
		sk, id, ok := strings.Cut(rest, "/")
		if !ok {
			return fmt.Errorf("malformed key")
		}
		sl, err := parseSlotKey(sk)
		if err != nil {
			return err
		}
		if prefix == "o" {
			var r orderRec
			if err := dec(&r); err != nil {
				return err
			}
			s.slot(sl).orders.set(id, r)
		} else {
			var r attestRec
			if err := dec(&r); err != nil {
				return err
			}
			s.slot(sl).attest.set(ident.Account(id), r)
		}
	case "t":
		h, err := ParseHash(rest)
		if err != nil {
			return err
		}
		var r txRec
		if err := dec(&r); err != nil {
			return err
		}
		s.txs.set(h, r)
	case "e":
		o, err := parseOffenceKey(rest)
		if err != nil {
			return err
		}
		var r evidenceRec
		if err := dec(&r); err != nil {
			return err
		}
		s.evidence.set(o, r)
	case "u":
		from, err := parseHex(rest, 8)
		if err != nil {
			return err
		}
		var r authEntry
		if err := dec(&r); err != nil {
			return err
		}
		// Keys are visited in order, so the epochs come sorted by From.
		s.auth = append(s.auth, authEpoch{From: from, Set: r.Set})
	case "v":
		vk, err := parseVoteKey(rest)
		if err != nil {
			return err
		}
		var r voteRec
		if err := dec(&r); err != nil {
			return err
		}
		s.votes.set(vk, r)
	case "y":
		if rest != "" {
			return fmt.Errorf("unknown key")
		}
		if err := dec(&s.tariff); err != nil {
			return err
		}
		*haveTariff = true
	default:
		return fmt.Errorf("unknown key")
	}
	return nil
}
