package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

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
	participants map[Account]admission
	tariff       Tariff
	slots        map[unit.Slot]*slotState // slots with orders, not yet settled or not yet pruned
	hist         *history                 // committed cleared and settled records, shared read-only
	cleared      map[unit.Slot]clearedRec // cleared by this execution, not yet in hist
	settled      map[unit.Slot]settledRec // settled by this execution, not yet in hist
	balances     map[Account]unit.Money
	txs          map[Hash]txRec
	auth         []authEpoch // by From; entries are never modified, only appended
	votes        map[voteKey]voteRec
	evidence     map[Offence]evidenceRec
}

type admission struct {
	Name   string `json:"name"`
	Height uint64 `json:"height"` // 0 = genesis
}

type slotState struct {
	orders map[string]orderRec // by order id
	attest map[Account]attestRec
}

type orderRec struct {
	Order     market.Order `json:"order"`
	Cancelled bool         `json:"cancelled"`
	CancelTx  *Hash        `json:"cancel_tx,omitempty"` // the cancel's tx hash, pruned with the order
}

type attestRec struct {
	Import  unit.Wh `json:"import"`
	Export  unit.Wh `json:"export"`
	Journal Hash    `json:"journal"`
	Tx      Hash    `json:"tx"`
	Height  uint64  `json:"height"`
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
	d Hash
}

func newEntry(v []byte) entry { return entry{v: v, d: sha256.Sum256(v)} }

func newCleared(r market.Result, t market.Tariff) clearedRec {
	c := clearedRec{Result: r, Tariff: t}
	c.enc = newEntry(mustJSON(c))
	return c
}

func newSettled(st market.Settlement) settledRec {
	return settledRec{st: st, enc: newEntry(mustJSON(st))}
}

// history holds the cleared and settled records of committed blocks. They never
// change once written, so every execution shares the committed history
// read-only and keeps its own new records in state.cleared and state.settled;
// Chain.install absorbs them when the block commits. keys lists the history's
// entries sorted, so the state hash merges them with the other entries without
// rebuilding or re-sorting them every block.
type history struct {
	cleared                  map[unit.Slot]clearedRec
	settled                  map[unit.Slot]settledRec
	keys                     []histKey
	lastCleared, lastSettled unit.Slot // -1 = none
}

type histKey struct {
	key string
	d   Hash
}

func newHistory() *history {
	return &history{cleared: map[unit.Slot]clearedRec{}, settled: map[unit.Slot]settledRec{}, lastCleared: -1, lastSettled: -1}
}

// absorb moves s's new cleared and settled records into h and removes their
// entries from entries (which may be nil).
func (h *history) absorb(s *state, entries map[string]entry) {
	if len(s.cleared)+len(s.settled) == 0 {
		return
	}
	adds := make([]histKey, 0, len(s.cleared)+len(s.settled))
	for sl, r := range s.cleared {
		k := "c/" + slotKey(sl)
		h.cleared[sl] = r
		adds = append(adds, histKey{k, r.enc.d})
		delete(entries, k)
		if h.lastCleared == -1 || sl > h.lastCleared {
			h.lastCleared = sl
		}
	}
	for sl, r := range s.settled {
		k := "d/" + slotKey(sl)
		h.settled[sl] = r
		adds = append(adds, histKey{k, r.enc.d})
		delete(entries, k)
		if h.lastSettled == -1 || sl > h.lastSettled {
			h.lastSettled = sl
		}
	}
	slices.SortFunc(adds, func(a, b histKey) int { return strings.Compare(a.key, b.key) })
	merged := make([]histKey, 0, len(h.keys)+len(adds))
	i, j := 0, 0
	for i < len(h.keys) || j < len(adds) {
		if j == len(adds) || i < len(h.keys) && h.keys[i].key < adds[j].key {
			merged = append(merged, h.keys[i])
			i++
		} else {
			merged = append(merged, adds[j])
			j++
		}
	}
	h.keys = merged
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

func newState(g Genesis) *state {
	s := &state{
		participants: map[Account]admission{},
		tariff:       Tariff{Floor: g.Tariff.Floor, Ceiling: g.Tariff.Ceiling, Fee: g.Tariff.Fee},
		slots:        map[unit.Slot]*slotState{},
		hist:         newHistory(),
		cleared:      map[unit.Slot]clearedRec{},
		settled:      map[unit.Slot]settledRec{},
		balances:     map[Account]unit.Money{},
		txs:          map[Hash]txRec{},
		auth:         []authEpoch{{From: 0, Set: slices.Sorted(slices.Values(g.Authorities))}},
		votes:        map[voteKey]voteRec{},
		evidence:     map[Offence]evidenceRec{},
	}
	for _, p := range g.Participants {
		s.participants[p] = admission{}
	}
	return s
}

// clone returns a copy that shares nothing mutable with s but the history, which
// executions only read. Results and settlements are never mutated after they
// are stored, so they are shared.
func (s *state) clone() *state {
	c := &state{
		participants: maps.Clone(s.participants),
		tariff:       s.tariff,
		hist:         s.hist,
		slots:        make(map[unit.Slot]*slotState, len(s.slots)),
		cleared:      maps.Clone(s.cleared),
		settled:      maps.Clone(s.settled),
		balances:     maps.Clone(s.balances),
		txs:          maps.Clone(s.txs),
		auth:         slices.Clip(s.auth), // an append copies
		votes:        maps.Clone(s.votes),
		evidence:     maps.Clone(s.evidence),
	}
	for k, v := range s.slots {
		c.slots[k] = &slotState{orders: maps.Clone(v.orders), attest: maps.Clone(v.attest)}
	}
	return c
}

func (s *state) slot(sl unit.Slot) *slotState {
	ss := s.slots[sl]
	if ss == nil {
		ss = &slotState{orders: map[string]orderRec{}, attest: map[Account]attestRec{}}
		s.slots[sl] = ss
	}
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

// entries serialises s into its key/value entries, except the committed history
// (see history; stateHash merges it in). New cleared and settled records reuse
// the entry made when they were created.
func (s *state) entries() map[string]entry {
	m := make(map[string]entry, len(s.participants)+len(s.balances)+len(s.txs)+2*len(s.cleared)+1)
	put := func(k string, v any) { m[k] = newEntry(mustJSON(v)) }
	for a, r := range s.participants {
		put("a/"+string(a), r)
	}
	for a, v := range s.balances {
		if v != 0 {
			put("b/"+string(a), int64(v))
		}
	}
	for sl, r := range s.cleared {
		m["c/"+slotKey(sl)] = r.enc
	}
	for sl, r := range s.settled {
		m["d/"+slotKey(sl)] = r.enc
	}
	for sl, ss := range s.slots {
		k := slotKey(sl)
		for id, o := range ss.orders {
			put("o/"+k+"/"+id, o)
		}
		for a, r := range ss.attest {
			put("s/"+k+"/"+string(a), r)
		}
	}
	for h, r := range s.txs {
		put("t/"+h.String(), r)
	}
	for _, e := range s.auth {
		put(authKey(e.From), authEntry{Set: e.Set})
	}
	for vk, r := range s.votes {
		put(vk.key(), r)
	}
	for o, r := range s.evidence {
		put(offenceKey(o), r)
	}
	put("y", s.tariff)
	return m
}

// stateHash is SHA-256 over all entries (the history's and m's) in key order,
// each written as uvarint(len key), key, SHA-256(value). Hashing value digests
// rather than values keeps the per-block cost small as settled history grows:
// the history's digests and order are kept, only m is sorted.
func stateHash(hist []histKey, m map[string]entry) Hash {
	keys := slices.Sorted(maps.Keys(m))
	d := sha256.New()
	d.Write([]byte("gridmesh/state/v1\n"))
	var n [binary.MaxVarintLen64]byte
	write := func(k string, digest *Hash) {
		d.Write(n[:binary.PutUvarint(n[:], uint64(len(k)))])
		d.Write([]byte(k))
		d.Write(digest[:])
	}
	i, j := 0, 0
	for i < len(hist) || j < len(keys) {
		switch {
		case j == len(keys) || i < len(hist) && hist[i].key < keys[j]:
			write(hist[i].key, &hist[i].d)
			i++
		case i < len(hist) && hist[i].key == keys[j]:
			i++ // cannot happen (history records are never re-added); m wins
		default:
			e := m[keys[j]]
			write(keys[j], &e.d)
			j++
		}
	}
	var h Hash
	d.Sum(h[:0])
	return h
}

// hash is the state hash of s given its entries.
func (s *state) hash(entries map[string]entry) Hash { return stateHash(s.hist.keys, entries) }

// loadState rebuilds a state from all its entries and checks that it serialises
// back to exactly the same entries (so no entry was damaged or left over). Its
// cleared and settled records are new (not yet in its history).
func loadState(m map[string]entry) (*state, error) {
	s := &state{
		participants: map[Account]admission{},
		hist:         newHistory(),
		slots:        map[unit.Slot]*slotState{},
		cleared:      map[unit.Slot]clearedRec{},
		settled:      map[unit.Slot]settledRec{},
		balances:     map[Account]unit.Money{},
		txs:          map[Hash]txRec{},
		votes:        map[voteKey]voteRec{},
		evidence:     map[Offence]evidenceRec{},
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
		s.participants[Account(rest)] = r
	case "b":
		var x int64
		if err := dec(&x); err != nil {
			return err
		}
		s.balances[Account(rest)] = unit.Money(x)
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
			if !bytes.Equal(mustJSON(r), e.v) {
				return fmt.Errorf("does not round-trip")
			}
			r.enc = e
			s.cleared[sl] = r
		} else {
			var r market.Settlement
			if err := dec(&r); err != nil {
				return err
			}
			if !bytes.Equal(mustJSON(r), e.v) {
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
			s.slot(sl).orders[id] = r
		} else {
			var r attestRec
			if err := dec(&r); err != nil {
				return err
			}
			s.slot(sl).attest[Account(id)] = r
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
		s.txs[h] = r
	case "e":
		o, err := parseOffenceKey(rest)
		if err != nil {
			return err
		}
		var r evidenceRec
		if err := dec(&r); err != nil {
			return err
		}
		s.evidence[o] = r
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
		s.votes[vk] = r
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
