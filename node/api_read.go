package node

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// Home is the body of GET /api/v1/home: what this node's home did today.
// "Today" is the local calendar day of the node (time.Local) up to now.
//
// Earned is the money the home's trades moved today: received as a seller
// minus paid as a buyer, over the slots settled today (the sum of the
// statement's net). Saved is what trading with neighbours saved against the
// grid for the same energy: for energy bought, the retail tariff (the
// tariff's ceiling) times the energy minus what was paid; for energy sold,
// what was received minus the feed-in tariff (the floor) times the energy.
// Both count settled energy only and may be negative (a price above the
// grid's can never clear, so Saved is not negative unless the tariff
// changed during the day).
type Home struct {
	Account     string   `json:"account"`
	Name        string   `json:"name"`
	Role        string   `json:"role"`
	Now         string   `json:"now"` // RFC 3339 UTC
	Slot        int64    `json:"slot"`
	Meter       *HomeMtr `json:"meter,omitempty"` // nil on a node without a meter
	Orders      []Ord    `json:"orders"`          // this node's orders for this slot and the open ones
	LastCleared *SlotRow `json:"last_cleared,omitempty"`
	Today       HomeDay  `json:"today"`
	Height      uint64   `json:"height"`
	ClockSynced bool     `json:"clock_synced"`
	Peers       int      `json:"peers"`
	Participant bool     `json:"participant"` // admitted on chain
}

// HomeMtr is the meter part of Home.
type HomeMtr struct {
	PowerW   unit.W  `json:"power_w"` // now, import positive
	ReadAt   string  `json:"read_at"`
	ImportWh unit.Wh `json:"import_today_wh"`
	ExportWh unit.Wh `json:"export_today_wh"`
	Covered  bool    `json:"covered"` // the journal covers the whole day so far; else the figures start at its first reading today
}

// HomeDay is the money part of Home, over the slots settled today.
type HomeDay struct {
	Slots  int        `json:"settled_slots"`
	Bought unit.Wh    `json:"bought_wh"`
	Sold   unit.Wh    `json:"sold_wh"`
	Earned unit.Money `json:"earned"`
	Saved  unit.Money `json:"saved"`
	Fees   unit.Money `json:"fees"` // received as the operator
}

// Ord is an order in the API.
type Ord struct {
	ID     string     `json:"id"`
	Slot   int64      `json:"slot"`
	Side   string     `json:"side"`
	Energy unit.Wh    `json:"energy_wh"`
	Price  unit.Price `json:"price"`
}

func (n *Node) serveHome(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, n.home())
}

func (n *Node) home() Home {
	now := n.now()
	st := n.status.Load()
	h := Home{Account: string(n.self), Name: n.cfg.Node.Name, Role: string(n.cfg.Node.Role), Now: now.UTC().Format(time.RFC3339),
		Height: st.Height, ClockSynced: n.clockOK(), Peers: len(n.host.Peers()), Orders: []Ord{}}
	cur := n.gen.SlotAt(now.UnixMilli())
	h.Slot = int64(cur)
	y, m, d := now.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, now.Location())
	if n.journal != nil {
		if rd, ok := n.journal.Last(); ok {
			mt := &HomeMtr{PowerW: rd.Power, ReadAt: rd.Time.UTC().Format(time.RFC3339)}
			if imp, exp, ok := n.journal.Energy(day, rd.Time); ok {
				mt.ImportWh, mt.ExportWh, mt.Covered = imp, exp, true
			} else {
				mt.ImportWh, mt.ExportWh = n.energySince(day, rd)
			}
			h.Meter = mt
		}
	}
	n.mu.RLock()
	h.Participant = n.chain.IsParticipant(n.self)
	slots := append([]unit.Slot{cur}, n.chain.OpenSlots(now.UnixMilli())...)
	for _, s := range slots {
		for _, o := range n.chain.Orders(s) {
			if o.Owner == string(n.self) {
				h.Orders = append(h.Orders, ord(o))
			}
		}
	}
	if st.LastCleared >= 0 {
		row := n.slotRow(st.LastCleared)
		h.LastCleared = &row
	}
	tariff := n.chain.Tariff()
	lines := n.statementLines(n.self, n.slotFrom(day), min(cur+1, n.chain.Status().LastSettled+1))
	for _, l := range lines {
		h.Today.Slots++
		h.Today.Bought += l.Bought
		h.Today.Sold += l.Sold
		h.Today.Earned += l.Received - l.Paid
		h.Today.Fees += l.Fees
		h.Today.Saved += unit.MustAmount(l.Bought, tariff.Ceiling) - l.Paid + l.Received - unit.MustAmount(l.Sold, tariff.Floor)
	}
	n.mu.RUnlock()
	return h
}

// energySince is the import and export between the journal's first reading
// at or after from and last, for a journal that begins during the day.
func (n *Node) energySince(from time.Time, last meter.Reading) (imp, exp unit.Wh) {
	var first *meter.Reading
	_ = n.journal.Scan(from, last.Time, func(e meter.Entry) bool {
		r := e.Reading
		first = &r
		return false
	})
	if first == nil {
		return 0, 0
	}
	return last.Import - first.Import, last.Export - first.Export
}

func ord(o market.Order) Ord {
	return Ord{ID: o.ID, Slot: int64(o.Slot), Side: o.Side.String(), Energy: o.Energy, Price: o.Price}
}

// SlotRow is one slot in GET /api/v1/slots.
type SlotRow struct {
	Slot      int64      `json:"slot"`
	Start     string     `json:"start"` // RFC 3339 UTC
	Price     unit.Price `json:"price"` // the uniform clearing price per kWh; 0 if nothing cleared
	Volume    unit.Wh    `json:"volume_wh"`
	Trades    int        `json:"trades"`
	Settled   bool       `json:"settled"`
	Energy    unit.Wh    `json:"settled_wh"`   // delivered, once settled
	Imbalance unit.Wh    `json:"imbalance_wh"` // traded − settled, once settled
	Fees      unit.Money `json:"fees"`         // to the operator, once settled
}

// slotRow describes cleared slot s; the caller holds n.mu.
func (n *Node) slotRow(s unit.Slot) SlotRow {
	row := SlotRow{Slot: int64(s), Start: utc(n.gen.SlotStart(s))}
	if res, ok := n.chain.Result(s); ok {
		row.Price, row.Volume, row.Trades = res.Price, res.Volume, len(res.Trades)
	}
	if st, ok := n.chain.Settlement(s); ok {
		row.Settled, row.Energy, row.Imbalance = true, st.Energy, row.Volume-st.Energy
		for _, t := range st.Trades {
			row.Fees += t.Fee
		}
	}
	return row
}

// Page is a list and where the next page starts: pass Next as ?from (slots,
// trades) or ?before (blocks); absent on the last page.
type Page[T any] struct {
	Items []T  `json:"items"`
	Next  *int `json:"next,omitempty"`
}

func (n *Node) serveSlots(w http.ResponseWriter, r *http.Request) {
	from, to, err := n.slotRange(r, 96)
	if err == nil {
		var limit int
		if limit, err = queryLimit(r, defaultPage, maxPage); err == nil {
			writeJSON(w, http.StatusOK, n.slots(from, to, limit))
			return
		}
	}
	httpError(w, http.StatusBadRequest, err)
}

func (n *Node) slots(from, to unit.Slot, limit int) Page[SlotRow] {
	p := Page[SlotRow]{Items: []SlotRow{}}
	n.mu.RLock()
	defer n.mu.RUnlock()
	for s := from; s < to; s++ {
		if _, ok := n.chain.Result(s); !ok {
			continue
		}
		if len(p.Items) == limit {
			next := int(s)
			p.Next = &next
			break
		}
		p.Items = append(p.Items, n.slotRow(s))
	}
	return p
}

// TradeRow is one trade in GET /api/v1/trades; the settled fields are set
// once its slot has settled.
type TradeRow struct {
	Slot     int64      `json:"slot"`
	Buy      string     `json:"buy"` // order ids (the tx hashes)
	Sell     string     `json:"sell"`
	Buyer    string     `json:"buyer"`
	Seller   string     `json:"seller"`
	Energy   unit.Wh    `json:"energy_wh"`
	Price    unit.Price `json:"price"`
	Settled  *unit.Wh   `json:"settled_wh,omitempty"`
	Paid     unit.Money `json:"paid"`
	Received unit.Money `json:"received"`
	Fee      unit.Money `json:"fee"`
}

func (n *Node) serveTrades(w http.ResponseWriter, r *http.Request) {
	var who ident.Account
	from, to, err := n.slotRange(r, 96)
	limit := 0
	if err == nil {
		limit, err = queryLimit(r, defaultPage, maxPage)
	}
	if s := r.URL.Query().Get("account"); err == nil && s != "" {
		who, err = parseAccount("account", s)
	}
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, n.trades(who, from, to, limit))
}

// trades lists the trades of [from, to), of who only unless it is empty. A
// page holds whole slots: it ends before the slot that would take it past
// limit, unless that is its first.
func (n *Node) trades(who ident.Account, from, to unit.Slot, limit int) Page[TradeRow] {
	p := Page[TradeRow]{Items: []TradeRow{}}
	n.mu.RLock()
	defer n.mu.RUnlock()
	for s := from; s < to; s++ {
		res, ok := n.chain.Result(s)
		if !ok || len(res.Trades) == 0 {
			continue
		}
		var rows []TradeRow
		st, settled := n.chain.Settlement(s)
		for i, t := range res.Trades {
			if who != "" && t.Buyer != string(who) && t.Seller != string(who) {
				continue
			}
			row := TradeRow{Slot: int64(s), Buy: t.Buy, Sell: t.Sell, Buyer: t.Buyer, Seller: t.Seller, Energy: t.Energy, Price: t.Price}
			if settled && i < len(st.Trades) {
				e := st.Trades[i].Settled
				row.Settled, row.Paid, row.Received, row.Fee = &e, st.Trades[i].Paid, st.Trades[i].Received, st.Trades[i].Fee
			}
			rows = append(rows, row)
		}
		if len(rows) == 0 {
			continue
		}
		if len(p.Items) > 0 && len(p.Items)+len(rows) > limit {
			next := int(s)
			p.Next = &next
			break
		}
		p.Items = append(p.Items, rows...)
	}
	return p
}

// AccountInfo is the body of GET /api/v1/accounts/{key}.
type AccountInfo struct {
	Key   string   `json:"key"`
	Name  string   `json:"name,omitempty"`
	Roles []string `json:"roles"` // of "participant", "authority", "operator"
	// AdmittedHeight and AdmittedAt say when the chain admitted the
	// participant (0 and genesis time for one in the genesis); absent when
	// this node's stored blocks do not reach back to its admission.
	AdmittedHeight *uint64    `json:"admitted_height,omitempty"`
	AdmittedAt     string     `json:"admitted_at,omitempty"`
	Balance        unit.Money `json:"balance"`
}

func (n *Node) serveAccount(w http.ResponseWriter, r *http.Request) {
	a, err := pathAccount(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	info, ok := n.account(a)
	if !ok {
		httpError(w, http.StatusNotFound, fmt.Errorf("account %s is not known on this chain", a))
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (n *Node) account(a ident.Account) (AccountInfo, bool) {
	idx := n.apiIndex()
	info := AccountInfo{Key: string(a), Roles: []string{}}
	n.mu.RLock()
	participant := n.chain.IsParticipant(a)
	bal, hasBal := n.chain.Balances()[a]
	n.mu.RUnlock()
	if participant {
		info.Roles = append(info.Roles, "participant")
	}
	if slices.Contains(n.authoritiesAt(n.status.Load().Height+1), a) {
		info.Roles = append(info.Roles, "authority")
	}
	if a == n.gen.Operator {
		info.Roles = append(info.Roles, "operator")
	}
	if adm, ok := idx.admission(a); ok {
		info.Name = adm.name
		if adm.known {
			h := adm.height
			info.AdmittedHeight, info.AdmittedAt = &h, utc(adm.timeMs)
		}
	}
	info.Balance = bal
	return info, len(info.Roles) > 0 || hasBal
}

// serveBlocks lists blocks below ?before (default: above the head), newest
// first, at most ?limit (default 20, at most 100); pruned bodies end the list.
func (n *Node) serveBlocks(w http.ResponseWriter, r *http.Request) {
	limit, err := queryLimit(r, defaultBlocks, maxBlocks)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	head := n.status.Load().Height
	before := head + 1
	if s := r.URL.Query().Get("before"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v == 0 {
			httpError(w, http.StatusBadRequest, badParam("before", "want a height ≥ 1, got %q", s))
			return
		}
		before = min(v, head+1)
	}
	p := Page[BlockInfo]{Items: []BlockInfo{}}
	n.mu.RLock()
	for h := before; h > 1 && len(p.Items) < limit; h-- {
		b, _, err := n.chain.Block(h - 1)
		if err != nil {
			break
		}
		p.Items = append(p.Items, blockInfo(b))
	}
	n.mu.RUnlock()
	if k := len(p.Items); k == limit && p.Items[k-1].Height > 0 {
		next := int(p.Items[k-1].Height)
		p.Next = &next
	}
	writeJSON(w, http.StatusOK, p)
}

// PeerInfo is one connected peer in GET /api/v1/peers.
type PeerInfo struct {
	ID  string `json:"id"`
	Via string `json:"via"` // "direct" or "relay"
}

const maxPeersListed = 1000

func (n *Node) servePeers(w http.ResponseWriter, r *http.Request) {
	ids := n.host.Peers()
	slices.Sort(ids)
	out := make([]PeerInfo, 0, min(len(ids), maxPeersListed))
	for _, id := range ids[:min(len(ids), maxPeersListed)] {
		out = append(out, PeerInfo{ID: id, Via: n.host.Via(id)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(ids), "items": out})
}
