package market

import "github.com/gridmesh/gridmesh/unit"

// NOTE: API skeleton written from /work/contracts.md so that other packages can
// compile against it; the market engineer owns this file and replaces the bodies.

// Side is the side of an order.
type Side uint8

const (
	Buy  Side = 1
	Sell Side = 2
)

// Order is a limit order for one delivery slot.
type Order struct {
	ID     string
	Owner  string
	Side   Side
	Slot   unit.Slot
	Energy unit.Wh
	Price  unit.Price
	Height uint64
}

// Tariff is the network's tariff policy.
type Tariff struct{ Floor, Ceiling, Fee unit.Price }

// Params are the clearing parameters.
type Params struct{ KPPM int64 }

// DefaultParams returns k = 0.5.
func DefaultParams() Params { return Params{KPPM: 500_000} }

// Trade is a matched quantity between one buy and one sell order.
type Trade struct {
	Slot          unit.Slot
	Buy, Sell     string
	Buyer, Seller string
	Energy        unit.Wh
	Price         unit.Price
}

// Result is the clearing of one slot.
type Result struct {
	Slot   unit.Slot
	Price  unit.Price
	Volume unit.Wh
	Trades []Trade
}

// Metered is one participant's attested import and export for a slot.
type Metered struct{ Import, Export unit.Wh }

// SettledTrade is a trade with its settled energy and money.
type SettledTrade struct {
	Trade
	Settled             unit.Wh
	Paid, Received, Fee unit.Money
}

// Transfer is a net balance change of one account.
type Transfer struct {
	Account string
	Amount  unit.Money
}

// Settlement is the settlement of one slot.
type Settlement struct {
	Slot      unit.Slot
	Trades    []SettledTrade
	Energy    unit.Wh
	Transfers []Transfer
}

// Strategy holds a homeowner's price limits.
type Strategy struct{ SellMin, BuyMax unit.Price }
