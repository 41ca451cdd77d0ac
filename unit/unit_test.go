package unit

import (
	"math"
	"testing"
)

func TestAmount(t *testing.T) {
	tests := []struct {
		e    Wh
		p    Price
		want Money
		ok   bool
	}{
		{1000, 150000, 150000, true},
		{1, 150000, 150, true},
		{1, 999, 0, true},      // 0.999 rounds toward zero
		{-1, 1999, -1, true},   // toward zero, not down
		{3, 333333, 999, true}, // 999.999
		{1_000_000_000, 1_000_000_000, 1_000_000_000_000_000, true},
		{math.MaxInt64, 1000, math.MaxInt64, true},
		{math.MaxInt64, 1001, 0, false},
	}
	for _, tt := range tests {
		got, ok := Amount(tt.e, tt.p)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Amount(%d, %d) = %d, %v; want %d, %v", tt.e, tt.p, got, ok, tt.want, tt.ok)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct{ got, want string }{
		{Price(150000).String(), "0.150000/kWh"},
		{Money(-1).String(), "-0.000001"},
		{Money(math.MinInt64).String(), "-9223372036854.775808"},
		{Wh(12).String(), "12 Wh"},
		{W(-300).String(), "-300 W"},
		{Slot(7).String(), "slot 7"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
