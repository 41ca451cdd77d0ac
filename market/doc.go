// Package market owns gridmesh's trading rules: orders, curves and their
// bounds, the uniform-price call auction that clears one delivery slot at gate
// closure (Clear, ClearCurves), the indicative clearing of an open slot
// (Indicative), the optional continuous double auction (Book), settlement of a
// cleared slot against metered delivery (Settle), the trading agents that turn
// a home's forecast into orders (Quote, Battery.Quote, Flex.Quote) and the order-line
// format of `gridmesh market clear` (DecodeOrderLines). PRICES.md explains
// the price rules to homeowners.
//
// The package is a pure core: no I/O, no clock, no goroutines, no randomness,
// no floating point, and nothing that depends on map iteration order. Every
// function is a deterministic function of its arguments, so every node of the
// chain computes bit-identical results on every platform (amd64, arm64, armv7).
//
// # Units and bounds
//
// Energy is unit.Wh, prices are unit.Price (micro-units per kWh), money is
// unit.Money (micro-units). An order's energy lies in [1, MaxEnergy] and its
// price in [0, MaxPrice]; a slot never clears more than MaxVolume. These bounds
// make every unit.Amount in this package fit in an int64, and so do the sums of
// a whole slot's money (MaxVolume × MaxPrice / 1000 = 10^18 < 2^63).
//
// # Clearing (Clear)
//
//  1. Orders of other slots and malformed orders (bad side, energy or price
//     outside the bounds above) are ignored. Tariff floor and ceiling are NOT
//     re-checked: the chain checks them when an order is admitted (Tariff.Check).
//  2. Buys are sorted by price descending, sells by price ascending; ties by
//     Height ascending, then ID, then Owner, then Energy (a total order on the
//     order's fields, so the result depends only on the set of orders).
//  3. The two curves are walked unit of energy by unit of energy (in blocks):
//     a buy at b and a sell at a match while b >= a + fee. This volume Q
//     maximises the gains from trade, the sum over matched Wh of (b − a − fee);
//     units with zero gain are included (maximal volume), up to MaxVolume.
//  4. Price (k-pricing): b* is the lowest matched bid, a* the highest matched
//     ask (the marginal pair, i.e. the last orders reached by the walk).
//     price = a* + fee + floor(k × (b* − a* − fee) / 10^6), with k = Params.KPPM
//     clamped to [0, 10^6]. Rounding is toward the ask (down). Every matched
//     buy therefore pays at most its limit and every matched sell receives
//     price − fee >= its limit.
//  5. Rationing at the margin: on each side, price levels better than the
//     marginal level are filled completely; the marginal level (all orders of
//     that side at the marginal price) shares what remains pro rata to energy:
//     order i gets floor(e_i × R / L) (128-bit product), and the remaining
//     r < (orders in the level) Wh go 1 Wh each to the first r orders of the
//     level in canonical order (Height, then ID). Arrival time therefore
//     decides at most 1 Wh.
//  6. Trades pair the filled buys and sells in canonical order, two pointers
//     over the two lists (like merging): each trade is the smaller remaining
//     fill of the current buy and sell. There are at most (buys + sells − 1)
//     trades, all at the one slot price.
//
// If nothing crosses, Result.Volume and Result.Price are 0 and Trades is nil.
// An invalid tariff (Tariff.Validate) clears nothing.
//
// Price-quantity curves (ClearCurves) take part step by step, each step like
// an order of the curve's ID; a curve's trades with one counterparty are
// merged. Indicative keeps an open slot sorted so that its Result is Clear's
// without a sort, and its price and volume follow each order in microseconds.
//
// # Continuous mode (Book)
//
// Price-time priority by arrival, trades at the resting order's price (a
// resting sell at a trades at a + fee, a resting buy at b trades at b), partial
// fills, cancels. Nothing is allocated per operation in steady state.
//
// # Settlement (Settle)
//
// See Settle. Remainders are allocated 1 Wh at a time in the order of the
// trades as given (Clear's order), the buyer pays unit.Amount(settled, price),
// the seller receives unit.Amount(settled, price − fee) and the operator the
// difference, so each settlement sums to exactly zero.
//
// Imports: unit only (enforced by the repository's import test).
package market
