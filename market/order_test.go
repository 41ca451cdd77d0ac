package market

import (
	"errors"
	"testing"

	"github.com/gridmesh/gridmesh/unit"
)

func TestSide(t *testing.T) {
	tests := []struct {
		s    Side
		want string
	}{{Buy, "buy"}, {Sell, "sell"}, {0, "side(0)"}, {3, "side(3)"}}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("Side(%d).String() = %q, want %q", uint8(tt.s), got, tt.want)
		}
		got, err := ParseSide(tt.want)
		if tt.s.Valid() {
			if err != nil || got != tt.s {
				t.Errorf("ParseSide(%q) = %v, %v; want %v, nil", tt.want, got, err, tt.s)
			}
		} else if !errors.Is(err, ErrSide) {
			t.Errorf("ParseSide(%q) error = %v, want ErrSide", tt.want, err)
		}
	}
	for _, s := range []string{"", "Buy", "SELL", " buy", "bid"} {
		if _, err := ParseSide(s); !errors.Is(err, ErrSide) {
			t.Errorf("ParseSide(%q) error = %v, want ErrSide", s, err)
		}
	}
}

func TestTariffValidate(t *testing.T) {
	tests := []struct {
		t  Tariff
		ok bool
	}{
		{Tariff{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}, true},
		{Tariff{}, true},
		{Tariff{Floor: 100, Ceiling: 100}, true},
		{Tariff{Floor: 0, Ceiling: MaxPrice, Fee: MaxPrice}, true},
		{Tariff{Floor: -1, Ceiling: 100}, false},
		{Tariff{Floor: 0, Ceiling: 100, Fee: -1}, false},
		{Tariff{Floor: 60, Ceiling: 100, Fee: 41}, false},
		{Tariff{Floor: 0, Ceiling: MaxPrice + 1}, false},
		{Tariff{Floor: 1 << 62, Ceiling: 100, Fee: 1 << 62}, false}, // no overflow to a negative sum
	}
	for _, tt := range tests {
		err := tt.t.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%+v.Validate() = %v, want ok=%v", tt.t, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrTariff) {
			t.Errorf("%+v.Validate() = %v, want ErrTariff", tt.t, err)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	for _, k := range []int64{0, 1, 500_000, PPM} {
		if err := (Params{KPPM: k}).Validate(); err != nil {
			t.Errorf("k=%d: got %v, want nil", k, err)
		}
	}
	for _, k := range []int64{-1, PPM + 1} {
		if err := (Params{KPPM: k}).Validate(); !errors.Is(err, ErrParams) {
			t.Errorf("k=%d: got %v, want ErrParams", k, err)
		}
	}
	if got := DefaultParams().KPPM; got != 500_000 {
		t.Errorf("DefaultParams().KPPM = %d, want 500000", got)
	}
}

func TestTariffCheck(t *testing.T) {
	tf := Tariff{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}
	ok := Order{ID: "a", Side: Sell, Slot: 1, Energy: 500, Price: 120_000}
	with := func(f func(*Order)) Order { o := ok; f(&o); return o }
	tests := []struct {
		name string
		t    Tariff
		o    Order
		want error
	}{
		{"ok", tf, ok, nil},
		{"buy at floor", tf, with(func(o *Order) { o.Side = Buy; o.Price = 80_000 }), nil},
		{"sell at ceiling", tf, with(func(o *Order) { o.Price = 300_000 }), nil},
		{"1 Wh", tf, with(func(o *Order) { o.Energy = 1 }), nil},
		{"max energy", tf, with(func(o *Order) { o.Energy = MaxEnergy }), nil},
		{"side 0", tf, with(func(o *Order) { o.Side = 0 }), ErrSide},
		{"side 3", tf, with(func(o *Order) { o.Side = 3 }), ErrSide},
		{"0 Wh", tf, with(func(o *Order) { o.Energy = 0 }), ErrEnergyNotPositive},
		{"negative Wh", tf, with(func(o *Order) { o.Energy = -5 }), ErrEnergyNotPositive},
		{"too much", tf, with(func(o *Order) { o.Energy = MaxEnergy + 1 }), ErrEnergyTooLarge},
		{"below floor", tf, with(func(o *Order) { o.Price = 79_999 }), ErrPriceBelowFloor},
		{"buy below floor", tf, with(func(o *Order) { o.Side = Buy; o.Price = -1 }), ErrPriceBelowFloor},
		{"above ceiling", tf, with(func(o *Order) { o.Price = 300_001 }), ErrPriceAboveCeiling},
		{"bad tariff", Tariff{Floor: 10, Ceiling: 5}, ok, ErrTariff},
	}
	for _, tt := range tests {
		err := tt.t.Check(tt.o)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: Check = %v, want %v", tt.name, err, tt.want)
		}
	}
	// Every order that passes Check has money that fits in an int64.
	if _, ok := unit.Amount(MaxEnergy, MaxPrice); !ok {
		t.Errorf("Amount(MaxEnergy, MaxPrice) overflows")
	}
	if _, ok := unit.Amount(MaxVolume, MaxPrice); !ok {
		t.Errorf("Amount(MaxVolume, MaxPrice) overflows")
	}
}
