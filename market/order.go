package market

import (
	"errors"
	"fmt"

	"github.com/gridmesh/gridmesh/unit"
)

// Bounds that keep every money computation of a slot inside an int64.
const (
	// MaxEnergy is the largest energy of one order: 10 GWh.
	MaxEnergy unit.Wh = 10_000_000_000
	// MaxPrice is the largest price: 1,000 currency units per kWh.
	MaxPrice unit.Price = 1_000_000_000
	// MaxVolume is the most energy one slot clears: 1 TWh. With MaxPrice it
	// bounds any sum of a slot's money by 10^18.
	MaxVolume unit.Wh = 1_000_000_000_000
	// PPM is one million parts per million (k = 1).
	PPM = 1_000_000
)

// Sentinel errors. Check and Validate wrap them with the offending values.
var (
	ErrSide              = errors.New("market: invalid side")
	ErrEnergyNotPositive = errors.New("market: energy not positive")
	ErrEnergyTooLarge    = errors.New("market: energy too large")
	ErrPriceBelowFloor   = errors.New("market: price below floor")
	ErrPriceAboveCeiling = errors.New("market: price above ceiling")
	ErrTariff            = errors.New("market: invalid tariff")
	ErrParams            = errors.New("market: invalid params")
)

// Side is the side of an order.
type Side uint8

// The sides. The zero Side is invalid.
const (
	Buy  Side = 1
	Sell Side = 2
)

// String returns "buy", "sell" or "side(N)" for an invalid side.
func (s Side) String() string {
	switch s {
	case Buy:
		return "buy"
	case Sell:
		return "sell"
	}
	return fmt.Sprintf("side(%d)", uint8(s))
}

// Valid reports whether s is Buy or Sell.
func (s Side) Valid() bool { return s == Buy || s == Sell }

// ParseSide parses "buy" or "sell" (exactly, lower case).
func ParseSide(s string) (Side, error) {
	switch s {
	case "buy":
		return Buy, nil
	case "sell":
		return Sell, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrSide, s)
}

// Order is a limit order for one delivery slot.
type Order struct {
	ID     string     // unique id (the chain uses the tx hash in hex); tie-break key
	Owner  string     // participant account
	Side   Side       // Buy or Sell
	Slot   unit.Slot  // delivery slot
	Energy unit.Wh    // in [1, MaxEnergy]
	Price  unit.Price // limit: max for buy, min for sell (before fee)
	Height uint64     // arrival height on chain (0 = not on chain); tie-break after price
}

// wellFormed reports whether o is within the structural bounds that Clear
// needs (side, energy, price), independently of any tariff.
func (o Order) wellFormed() bool {
	return o.Side.Valid() && o.Energy >= 1 && o.Energy <= MaxEnergy && o.Price >= 0 && o.Price <= MaxPrice
}

// Tariff is the network's tariff policy: the floor (feed-in tariff), the
// ceiling (retail tariff) and the local grid fee, all per kWh. A trade's price
// is what the buyer pays; the seller receives price − Fee; the operator keeps
// Fee per kWh.
type Tariff struct{ Floor, Ceiling, Fee unit.Price }

// Validate checks 0 <= Floor, 0 <= Fee, Floor+Fee <= Ceiling <= MaxPrice.
func (t Tariff) Validate() error {
	switch {
	case t.Floor < 0:
		return fmt.Errorf("%w: floor %d < 0", ErrTariff, t.Floor)
	case t.Fee < 0:
		return fmt.Errorf("%w: fee %d < 0", ErrTariff, t.Fee)
	case t.Ceiling > MaxPrice:
		return fmt.Errorf("%w: ceiling %d > %d", ErrTariff, t.Ceiling, MaxPrice)
	case t.Floor > MaxPrice || t.Fee > MaxPrice || t.Floor+t.Fee > t.Ceiling:
		return fmt.Errorf("%w: floor %d + fee %d > ceiling %d", ErrTariff, t.Floor, t.Fee, t.Ceiling)
	}
	return nil
}

// Check checks an order against the tariff and the package bounds: a valid
// side, Energy in [1, MaxEnergy] and Price in [Floor, Ceiling] for both sides
// (a sell's price is before the fee, a buy's includes it). It does not check
// ID, Owner, Slot or Height. Errors wrap ErrSide, ErrEnergyNotPositive,
// ErrEnergyTooLarge, ErrPriceBelowFloor, ErrPriceAboveCeiling or ErrTariff.
func (t Tariff) Check(o Order) error {
	if err := t.Validate(); err != nil {
		return err
	}
	switch {
	case !o.Side.Valid():
		return fmt.Errorf("%w: %d", ErrSide, uint8(o.Side))
	case o.Energy < 1:
		return fmt.Errorf("%w: %d Wh", ErrEnergyNotPositive, o.Energy)
	case o.Energy > MaxEnergy:
		return fmt.Errorf("%w: %d Wh > %d Wh", ErrEnergyTooLarge, o.Energy, MaxEnergy)
	case o.Price < t.Floor:
		return fmt.Errorf("%w: %d < %d", ErrPriceBelowFloor, o.Price, t.Floor)
	case o.Price > t.Ceiling:
		return fmt.Errorf("%w: %d > %d", ErrPriceAboveCeiling, o.Price, t.Ceiling)
	}
	return nil
}

// Params are the clearing parameters.
type Params struct {
	// KPPM is k in parts per million: the share of the marginal surplus that
	// goes to the seller. 0 prices at the marginal ask + fee, 10^6 at the
	// marginal bid. Clear clamps it to [0, 10^6].
	KPPM int64
}

// DefaultParams returns k = 0.5.
func DefaultParams() Params { return Params{KPPM: 500_000} }

// Validate checks 0 <= KPPM <= 10^6.
func (p Params) Validate() error {
	if p.KPPM < 0 || p.KPPM > PPM {
		return fmt.Errorf("%w: k %d ppm not in [0, %d]", ErrParams, p.KPPM, PPM)
	}
	return nil
}
