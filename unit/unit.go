package unit

import (
	"fmt"
	"math"
	"math/bits"
)

// Wh is energy in watt-hours.
type Wh int64

// W is power in watts: positive is import from the grid, negative is export.
type W int64

// Price is micro-units of the network's currency per kWh (1 EUR/kWh = 1_000_000).
type Price int64

// Money is micro-units of the network's currency.
type Money int64

// Slot is a delivery-slot index: (unix seconds − network epoch) / slot length.
type Slot int64

// PriceScale is the number of Price units in one currency unit per kWh.
const PriceScale = 1_000_000

func (e Wh) String() string    { return fmt.Sprintf("%d Wh", int64(e)) }
func (p W) String() string     { return fmt.Sprintf("%d W", int64(p)) }
func (s Slot) String() string  { return fmt.Sprintf("slot %d", int64(s)) }
func (p Price) String() string { return fixed6(int64(p)) + "/kWh" }
func (m Money) String() string { return fixed6(int64(m)) }

// fixed6 prints v/1e6 with six decimals, exactly.
func fixed6(v int64) string {
	sign := ""
	u := uint64(v)
	if v < 0 {
		sign = "-"
		u = uint64(-(v + 1)) + 1 // safe for math.MinInt64
	}
	return fmt.Sprintf("%s%d.%06d", sign, u/PriceScale, u%PriceScale)
}

// Amount is the money for energy e at price p: e × p / 1000, rounded toward zero.
// The product is computed in 128 bits; ok is false if the result does not fit in
// an int64.
func Amount(e Wh, p Price) (m Money, ok bool) {
	neg := (e < 0) != (p < 0)
	hi, lo := bits.Mul64(abs(int64(e)), abs(int64(p)))
	if hi >= 1000 {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, 1000)
	if q > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return Money(-int64(q)), true
	}
	return Money(q), true
}

// MustAmount is Amount for values already bounded by validation; it panics on
// overflow, which validation must make impossible.
func MustAmount(e Wh, p Price) Money {
	m, ok := Amount(e, p)
	if !ok {
		panic(fmt.Sprintf("unit: amount overflow: %d Wh at %d", e, p))
	}
	return m
}

func abs(v int64) uint64 {
	if v < 0 {
		return uint64(-(v + 1)) + 1
	}
	return uint64(v)
}
