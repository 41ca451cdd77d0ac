package chain

import (
	"math"

	"github.com/gridmesh/gridmesh/unit"
)

// A joining home is a pruned home from its first block.
//
// A home keeps the cleared and settled records of the slots of the blocks it
// keeps, and stubs older ones (PruneHome: below the slot of its oldest kept
// block, and never the slots above the history floor or those the state
// still holds). A home that joins from the snapshot of block h keeps no
// block below h, so by the same rule it keeps the records of no slot below
// min(slot of block h, history floor + 1, least held slot): the history cut
// (stubCut). Those records are most of a long chain's state (a year at 100
// homes: 70,681 entries, of which all but a few hundred), and the home does
// not download them: Fetch leaves them out, and InstallSnapshot writes each
// one's stub from its digest in the manifest (which the certified state
// hash verified), sets keyHistPruned to the cut and builds the account
// index from the records it has. The state hash, Open and execution see the
// same store as on a home that pruned (prune.go); Result and Settlement of
// a slot below the cut report none, as on a pruned home; the explorer of
// old slots is an authority's (the archive).
//
// Statement lines. A new home has none below the cut: it took part in no
// earlier slot. A returning long-offline home keeps the index lines it has
// below the cut (its own, and those of other accounts if it never pruned):
// they were derived from records of the same certified chain, so they stay
// true. It has no lines of the slots below the cut that settled while it was
// away: it sent no orders then, so it took part in none of them but the few
// slots whose orders it had sent before it went (their lines stay on the
// authorities; its balance, which the state holds, is exact either way).

// stubCut is the history cut of m for the snapshot of a block at time
// blockMs (see above): the least of that block's slot, the slot after the
// history floor (the last settled slot − histWindow) and every slot that
// still has orders or attestations (o/, s/).
func (c *Chain) stubCut(m *Manifest, blockMs int64) unit.Slot {
	cut := c.g.SlotAt(blockMs)
	lastSettled := unit.Slot(math.MinInt64)
	for i := range m.Len() {
		k := m.keys.key(i)
		if len(k) < 18 || k[1] != '/' {
			continue
		}
		sl, err := parseSlotKey(string(k[2:18]))
		if err != nil {
			continue
		}
		switch {
		case k[0] == 'd' && len(k) == 18:
			lastSettled = max(lastSettled, sl)
		case (k[0] == 'o' || k[0] == 's') && len(k) > 19:
			cut = min(cut, sl)
		}
	}
	if lastSettled == math.MinInt64 {
		return unit.Slot(math.MinInt64) // nothing settled: nothing to stub
	}
	return min(cut, lastSettled-histWindow+1)
}

// stubbed reports whether entry i of m is a record its home stubs: the
// settled record of a slot below the cut, and that slot's cleared record (as
// PruneHome, which stubs settled slots only).
func (m *Manifest) stubbed(i int) bool {
	k := m.keys.key(i)
	if len(k) != 18 || (k[0] != 'c' && k[0] != 'd') || k[1] != '/' {
		return false
	}
	sl, err := parseSlotKey(string(k[2:]))
	if err != nil || sl >= m.cut {
		return false
	}
	if k[0] == 'c' {
		_, settled := m.keys.search(i, "d/"+string(k[2:]))
		return settled
	}
	return true
}

// Fetch fixes which of m's entries a home joining from the snapshot of blk
// downloads, and returns them as spans [from, end) of entry indices in
// order: every entry but the records below the history cut, whose stubs
// InstallSnapshot writes itself; none when there is nothing to fetch.
func (c *Chain) Fetch(m *Manifest, blk Block) [][2]int {
	m.cut = c.stubCut(m, blk.Header.Time)
	var out [][2]int
	for i := 0; i < m.Len(); {
		for i < m.Len() && m.stubbed(i) {
			i++
		}
		from := i
		for i < m.Len() && !m.stubbed(i) {
			i++
		}
		if i > from {
			out = append(out, [2]int{from, i})
		}
	}
	return out
}

// Stubbed is how many entries of m its home stubs (Fetch decided).
func (m *Manifest) Stubbed() int {
	n := 0
	for i := range m.Len() {
		if m.stubbed(i) {
			n++
		}
	}
	return n
}

// stubFor is the stub of entry i of m: stubMagic and its digest.
func (m *Manifest) stubFor(i int) []byte {
	d := m.keys.digest(i)
	return append(append(make([]byte, 0, len(stubMagic)+len(d)), stubMagic...), d[:]...)
}
