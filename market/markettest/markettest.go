package markettest

import (
	"fmt"
	"slices"

	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// maxBookWh bounds the energy of a book MaxGains expands Wh by Wh.
const maxBookWh = 10_000_000

// MaxGains returns the largest gains from trade of a slot's book and the
// largest volume that reaches them, by brute force: every Wh of every order
// and curve step becomes one value (a buy's price; a sell's price plus the
// fee), bids sorted from the highest, asks from the lowest, and the gains of
// volume q, the sum of the q best bids less the q best asks, is tried for
// every q. Gains are in micro-units × Wh per kWh (price × energy; / 1000 is
// micro-units of money). Malformed orders count as given; a book of more
// than 10 GWh panics (this is a test helper).
func MaxGains(orders []market.Order, curves []market.Curve, fee unit.Price) (gains int64, volume unit.Wh) {
	var bids, asks []int64
	add := func(side market.Side, e unit.Wh, p unit.Price) {
		if len(bids)+len(asks)+int(e) > maxBookWh {
			panic("markettest: book too large to expand Wh by Wh")
		}
		for range e {
			if side == market.Buy {
				bids = append(bids, int64(p))
			} else {
				asks = append(asks, int64(p+fee))
			}
		}
	}
	for _, o := range orders {
		add(o.Side, o.Energy, o.Price)
	}
	for _, c := range curves {
		for _, st := range c.Steps {
			add(c.Side, st.Energy, st.Price)
		}
	}
	slices.SortFunc(bids, func(a, b int64) int { return int(b - a) })
	slices.Sort(asks)
	var g int64
	for q := range min(len(bids), len(asks)) {
		g += bids[q] - asks[q]
		if g >= gains {
			gains, volume = g, unit.Wh(q+1)
		}
	}
	return gains, volume
}

// Gains returns the gains from trade the trades of r realise on the book
// (orders and curves by ID): what each buy's filled energy was worth to it
// (a curve's fill taken from its first step on) less what each sell's cost
// it, less the fee on every Wh, in MaxGains's unit. A trade that names an ID
// the book lacks or fills an order beyond its energy is an error.
func Gains(r market.Result, orders []market.Order, curves []market.Curve, fee unit.Price) (int64, error) {
	steps := make(map[string][]market.Step, len(orders)+len(curves))
	sides := make(map[string]market.Side, len(orders)+len(curves))
	for _, o := range orders {
		steps[o.ID], sides[o.ID] = []market.Step{{Energy: o.Energy, Price: o.Price}}, o.Side
	}
	for _, c := range curves {
		steps[c.ID], sides[c.ID] = c.Steps, c.Side
	}
	fill := map[string]unit.Wh{}
	var vol unit.Wh
	for _, t := range r.Trades {
		if sides[t.Buy] != market.Buy || sides[t.Sell] != market.Sell {
			return 0, fmt.Errorf("trade %+v names orders not in the book on those sides", t)
		}
		fill[t.Buy] += t.Energy
		fill[t.Sell] += t.Energy
		vol += t.Energy
	}
	var gains int64
	for id, f := range fill {
		var worth int64
		for _, st := range steps[id] {
			take := min(f, st.Energy)
			worth += int64(take) * int64(st.Price)
			f -= take
		}
		if f > 0 {
			return 0, fmt.Errorf("order %s filled %d Wh beyond its energy", id, f)
		}
		if sides[id] == market.Buy {
			gains += worth
		} else {
			gains -= worth
		}
	}
	return gains - int64(vol)*int64(fee), nil
}
