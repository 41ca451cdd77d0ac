package market

import (
	"errors"
	"fmt"

	"github.com/gridmesh/gridmesh/unit"
)

// MaxSteps is the most steps a Curve may have.
const MaxSteps = 24

// ErrCurve is wrapped by CheckCurve for a curve's shape.
var ErrCurve = errors.New("market: invalid curve")

// Step is one block of a price-quantity curve: up to Energy Wh at Price.
type Step struct {
	Energy unit.Wh
	Price  unit.Price
}

// Curve is an order with several price steps, for batteries and flexible
// loads: a buy curve is willing to pay Steps[0].Price for the first
// Steps[0].Energy Wh, Steps[1].Price for the next block, and so on (prices
// non-increasing); a sell curve asks Steps[0].Price for its first block and
// more for later ones (prices non-decreasing). The fields mean what they mean
// for Order.
type Curve struct {
	ID     string
	Owner  string
	Side   Side
	Slot   unit.Slot
	Height uint64
	Steps  []Step
}

// Energy is the total energy of the curve's steps.
func (c Curve) Energy() unit.Wh {
	var e unit.Wh
	for _, s := range c.Steps {
		e += s.Energy
	}
	return e
}

// wellFormed checks the curve's shape and the package bounds.
func (c Curve) wellFormed() bool { return c.shape() == nil }

func (c Curve) shape() error {
	if !c.Side.Valid() {
		return fmt.Errorf("%w: %d", ErrSide, uint8(c.Side))
	}
	if len(c.Steps) == 0 || len(c.Steps) > MaxSteps {
		return fmt.Errorf("%w: %d steps, want 1 to %d", ErrCurve, len(c.Steps), MaxSteps)
	}
	var total unit.Wh
	for i, s := range c.Steps {
		switch {
		case s.Energy < 1:
			return fmt.Errorf("%w: step %d: %d Wh", ErrEnergyNotPositive, i, s.Energy)
		case s.Energy > MaxEnergy-total:
			return fmt.Errorf("%w: more than %d Wh in all", ErrEnergyTooLarge, MaxEnergy)
		case s.Price < 0 || s.Price > MaxPrice:
			return fmt.Errorf("%w: step %d: price %d not in [0, %d]", ErrCurve, i, s.Price, MaxPrice)
		case i > 0 && c.Side == Buy && s.Price > c.Steps[i-1].Price:
			return fmt.Errorf("%w: buy step %d: price rises to %d", ErrCurve, i, s.Price)
		case i > 0 && c.Side == Sell && s.Price < c.Steps[i-1].Price:
			return fmt.Errorf("%w: sell step %d: price falls to %d", ErrCurve, i, s.Price)
		}
		total += s.Energy
	}
	return nil
}

// CheckCurve checks a curve like Check checks an order: a valid side, 1 to
// MaxSteps steps of at least 1 Wh, at most MaxEnergy in all, every step price
// in [Floor, Ceiling], buy prices non-increasing and sell prices
// non-decreasing from step to step.
func (t Tariff) CheckCurve(c Curve) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if err := c.shape(); err != nil {
		return err
	}
	for i, s := range c.Steps {
		if s.Price < t.Floor {
			return fmt.Errorf("%w: step %d: %d < %d", ErrPriceBelowFloor, i, s.Price, t.Floor)
		}
		if s.Price > t.Ceiling {
			return fmt.Errorf("%w: step %d: %d > %d", ErrPriceAboveCeiling, i, s.Price, t.Ceiling)
		}
	}
	return nil
}
