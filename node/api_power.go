package node

import (
	"net/http"
	"time"

	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// PowerRow is one slot of GET /api/v1/home/power: what the home's meter
// journal holds for it. ImportWh and ExportWh are the energy over the part
// of the slot the journal covers (CoveredMs milliseconds of it, the slot's
// length but for the slot in progress or one the journal only partly
// covers), PowerW the mean net power over that part ((import − export) ×
// 3,600,000 / covered_ms, rounded toward zero; + import, − export).
type PowerRow struct {
	Slot      int64   `json:"slot"`
	Start     string  `json:"start"` // RFC 3339 UTC
	CoveredMs int64   `json:"covered_ms"`
	ImportWh  unit.Wh `json:"import_wh"`
	ExportWh  unit.Wh `json:"export_wh"`
	PowerW    unit.W  `json:"power_w"`
}

// Bounds of GET /api/v1/home/power.
const (
	defaultPowerSlots = 96 // a day of 15-minute slots
	maxPowerSlots     = 1000
)

// serveHomePower lists the home's metered energy and mean power per slot of
// [?from, ?to) (slot indices, dates or RFC 3339 times as for /slots; default
// the 96 slots up to and including the one in progress), read from the
// meter journal, which persists across restarts, so nothing is kept in
// memory for it. Slots the journal does not cover are left out; a node
// without a meter lists none.
func (n *Node) serveHomePower(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// Before the network's first slot there is nothing yet: an empty list.
	to := max(n.gen.SlotAt(n.now().UnixMilli())+1, 0)
	var err error
	if s := q.Get("to"); s != "" {
		if to, err = n.parseSlotBound("to", s); err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
	}
	from := max(to-defaultPowerSlots, 0)
	if s := q.Get("from"); s != "" {
		if from, err = n.parseSlotBound("from", s); err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
	}
	if from > to {
		httpError(w, http.StatusBadRequest, badParam("from", "from (slot %d) is after to (slot %d)", from, to))
		return
	}
	if to-from > maxPowerSlots {
		httpError(w, http.StatusBadRequest, badParam("to", "the range spans %d slots; at most %d", to-from, maxPowerSlots))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"slot_seconds": n.gen.SlotSeconds, "items": n.powerRows(from, to)})
}

func (n *Node) powerRows(from, to unit.Slot) []PowerRow {
	rows := []PowerRow{}
	if n.journal == nil {
		return rows
	}
	last, ok := n.journal.Last()
	if !ok {
		return rows
	}
	for s := from; s < to; s++ {
		start, end := time.UnixMilli(n.gen.SlotStart(s)), time.UnixMilli(n.gen.SlotEnd(s))
		if !start.Before(last.Time) {
			break
		}
		end = minTime(end, last.Time)
		imp, exp, ok := n.journal.Energy(start, end)
		if !ok {
			// The journal may begin inside the slot: count from its
			// first reading there.
			var first time.Time
			_ = n.journal.Scan(start, end, func(e meter.Entry) bool { first = e.Reading.Time; return false })
			if first.IsZero() || !first.Before(end) {
				continue
			}
			start = first
			if imp, exp, ok = n.journal.Energy(start, end); !ok {
				continue
			}
		}
		ms := end.Sub(start).Milliseconds()
		if ms <= 0 {
			continue
		}
		rows = append(rows, PowerRow{Slot: int64(s), Start: utc(n.gen.SlotStart(s)), CoveredMs: ms, ImportWh: imp, ExportWh: exp,
			PowerW: unit.W(int64(imp-exp) * 3_600_000 / ms)})
	}
	return rows
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
