package chain

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// loadState rebuilds a state from its entries and checks that it serialises
// back to exactly the same entries (so no entry was damaged or left over). m
// holds every entry, or (Open, loadStore) every entry but the history records
// that memory does not keep. The state is uncommitted: all its entries are new
// (commit it with changesOf(m)).
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
	back := s.memEntries()
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

// loadInto sets m[k] to the entry's value decoded by dec, unless parsing the
// entry's key failed with err.
func loadInto[K comparable, V any](m *overlay[K, V], k K, err error, dec func(any) error) error {
	if err != nil {
		return err
	}
	var r V
	if err := dec(&r); err != nil {
		return err
	}
	m.set(k, r)
	return nil
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
		return s.loadSlotResult(prefix, rest, e)
	case "o", "s":
		return s.loadSlotEntry(prefix, rest, e, dec)
	case "t":
		h, err := ident.ParseHash(rest)
		return loadInto(&s.txs, h, err, dec)
	case "e":
		o, err := parseOffenceKey(rest)
		return loadInto(&s.evidence, o, err, dec)
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
		return loadInto(&s.votes, vk, err, dec)
	case "w":
		k, err := parseUpVoteKey(rest)
		return loadInto(&s.upVotes, k, err, dec)
	case "x":
		var err error
		if !checkUpgradeName(rest) {
			err = fmt.Errorf("malformed upgrade key")
		}
		return loadInto(&s.upgrades, rest, err, dec)
	case "q":
		k, err := parseRelVoteKey(rest)
		return loadInto(&s.relVotes, k, err, dec)
	case "r":
		var err error
		if rest != "a" && rest != "k" {
			err = fmt.Errorf("malformed release key")
		}
		return loadInto(&s.released, rest == "k", err, dec)
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

// loadSlotResult loads a cleared (c/<slot>) or settled (d/<slot>) record, which
// must re-encode exactly (they are kept with their encoding).
func (s *state) loadSlotResult(prefix, rest string, e entry) error {
	sl, err := parseSlotKey(rest)
	if err != nil {
		return err
	}
	if prefix == "c" {
		var r clearedRec
		if err := strictDecode(e.v, &r); err != nil {
			return err
		}
		if !bytes.Equal(recordJSON(r), e.v) {
			return fmt.Errorf("does not round-trip")
		}
		r.enc = e
		s.cleared[sl] = r
		return nil
	}
	var r market.Settlement
	if err := strictDecode(e.v, &r); err != nil {
		return err
	}
	if !bytes.Equal(recordJSON(r), e.v) {
		return fmt.Errorf("does not round-trip")
	}
	s.settled[sl] = settledRec{st: r, enc: e}
	return nil
}

// loadSlotEntry loads an order (o/<slot>/<id>) or an attestation
// (s/<slot>/<account>).
func (s *state) loadSlotEntry(prefix, rest string, e entry, dec func(any) error) error {
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
		return nil
	}
	var r attestRec
	if err := dec(&r); err != nil {
		return err
	}
	s.slot(sl).attest.set(ident.Account(id), r)
	return nil
}
