package market

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gridmesh/gridmesh/unit"
)

func TestBookExample(t *testing.T) {
	tf := Tariff{Floor: 50_000, Ceiling: 300_000, Fee: 10_000}
	b := NewBook(1, tf)
	add := func(o Order) []Trade {
		t.Helper()
		o.Slot = 1
		o.Owner = "o" + o.ID
		trades, err := b.Add(nil, o)
		if err != nil {
			t.Fatalf("Add(%+v): %v", o, err)
		}
		return trades
	}
	for _, o := range []Order{
		{ID: "s1", Side: Sell, Energy: 100, Price: 120_000},
		{ID: "s2", Side: Sell, Energy: 100, Price: 100_000},
		{ID: "s3", Side: Sell, Energy: 100, Price: 100_000},
		{ID: "b1", Side: Buy, Energy: 100, Price: 90_000},
	} {
		if tr := add(o); tr != nil {
			t.Fatalf("resting order %s traded: %v", o.ID, tr)
		}
	}
	wantDepth := []Level{{100_000, 200, 2}, {120_000, 100, 1}}
	if diff := cmp.Diff(wantDepth, b.Depth(nil, Sell, 0)); diff != "" {
		t.Errorf("ask depth (-want +got):\n%s", diff)
	}
	// A buy at 0.125 takes s2 then s3 (time priority) at 0.10 + fee, not s1 (0.12 + fee > 0.125).
	got := add(Order{ID: "b2", Side: Buy, Energy: 250, Price: 125_000})
	tr := func(buy, sell string, e unit.Wh, p unit.Price) Trade {
		return Trade{Slot: 1, Buy: buy, Sell: sell, Buyer: "o" + buy, Seller: "o" + sell, Energy: e, Price: p}
	}
	want := []Trade{tr("b2", "s2", 100, 110_000), tr("b2", "s3", 100, 110_000)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sweep (-want +got):\n%s", diff)
	}
	// b2's rest (50 Wh at 0.125) now rests; a sell at 0.10 hits it at the maker's price 0.125.
	got = add(Order{ID: "s4", Side: Sell, Energy: 80, Price: 100_000})
	want = []Trade{tr("b2", "s4", 50, 125_000)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sell into resting bid (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Level{{100_000, 30, 1}, {120_000, 100, 1}}, b.Depth(nil, Sell, 5)); diff != "" {
		t.Errorf("ask depth after (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Level{{90_000, 100, 1}}, b.Depth(nil, Buy, 1)); diff != "" {
		t.Errorf("bid depth (-want +got):\n%s", diff)
	}
	if rem, ok := b.Cancel("s1"); !ok || rem != 100 {
		t.Errorf("Cancel(s1) = %d, %v; want 100, true", rem, ok)
	}
	if _, ok := b.Cancel("s1"); ok {
		t.Errorf("Cancel(s1) twice succeeded")
	}
	if _, ok := b.Cancel("b2"); ok {
		t.Errorf("Cancel of a filled order succeeded")
	}
	if _, err := b.Add(nil, Order{ID: "b1", Side: Buy, Slot: 1, Energy: 1, Price: 90_000}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate resting id: %v, want ErrDuplicate", err)
	}
	if _, err := b.Add(nil, Order{ID: "x", Side: Buy, Slot: 1, Energy: 1, Price: 1}); !errors.Is(err, ErrPriceBelowFloor) {
		t.Errorf("below floor: %v, want ErrPriceBelowFloor", err)
	}
	if _, err := b.Add(nil, Order{ID: "x", Side: Buy, Slot: 2, Energy: 1, Price: 90_000}); err == nil {
		t.Errorf("order of another slot accepted")
	}
	if b.Len() != 2 {
		t.Errorf("Len = %d, want 2", b.Len())
	}
}

// refBook is the deliberately simple continuous double auction: a list of
// resting orders in arrival order, scanned in full for the best match.
type refBook struct {
	fee     unit.Price
	resting []Order // Energy is the unfilled rest
}

func (r *refBook) add(o Order) []Trade {
	var trades []Trade
	for o.Energy > 0 {
		best := -1
		for i, x := range r.resting {
			if x.Side == o.Side {
				continue
			}
			if o.Side == Buy && o.Price < x.Price+r.fee || o.Side == Sell && x.Price < o.Price+r.fee {
				continue
			}
			if best < 0 || o.Side == Buy && x.Price < r.resting[best].Price || o.Side == Sell && x.Price > r.resting[best].Price {
				best = i // strictly better price; ties keep the earlier arrival
			}
		}
		if best < 0 {
			break
		}
		x := &r.resting[best]
		q := min(o.Energy, x.Energy)
		tr := Trade{Slot: o.Slot, Energy: q, Buy: o.ID, Buyer: o.Owner, Sell: x.ID, Seller: x.Owner, Price: x.Price + r.fee}
		if o.Side == Sell {
			tr = Trade{Slot: o.Slot, Energy: q, Buy: x.ID, Buyer: x.Owner, Sell: o.ID, Seller: o.Owner, Price: x.Price}
		}
		trades = append(trades, tr)
		o.Energy -= q
		x.Energy -= q
		if x.Energy == 0 {
			r.resting = append(r.resting[:best], r.resting[best+1:]...)
		}
	}
	if o.Energy > 0 {
		r.resting = append(r.resting, o)
	}
	return trades
}

func TestBookAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for stream := range 100 {
		tf := Tariff{Floor: 50_000, Ceiling: 300_000, Fee: unit.Price(rng.IntN(3)) * 5_000}
		b := NewBook(1, tf)
		ref := &refBook{fee: tf.Fee}
		var dst []Trade
		for op := range 300 {
			if rng.IntN(4) == 0 && len(ref.resting) > 0 {
				x := ref.resting[rng.IntN(len(ref.resting))]
				rem, ok := b.Cancel(x.ID)
				if !ok || rem != x.Energy {
					t.Fatalf("stream %d op %d: Cancel(%s) = %d, %v; want %d, true", stream, op, x.ID, rem, ok, x.Energy)
				}
				for i := range ref.resting {
					if ref.resting[i].ID == x.ID {
						ref.resting = append(ref.resting[:i], ref.resting[i+1:]...)
						break
					}
				}
				continue
			}
			o := Order{ID: fmt.Sprintf("o%d", op), Owner: fmt.Sprintf("h%d", rng.IntN(5)), Side: Side(1 + rng.IntN(2)), Slot: 1,
				Energy: 1 + unit.Wh(rng.IntN(500)), Price: 100_000 + unit.Price(rng.IntN(20))*2_500}
			var err error
			dst, err = b.Add(dst[:0], o)
			if err != nil {
				t.Fatalf("stream %d: Add: %v", stream, err)
			}
			want := ref.add(o)
			if len(want) == 0 && len(dst) == 0 {
				continue
			}
			if diff := cmp.Diff(want, dst); diff != "" {
				t.Fatalf("stream %d op %d: trades differ from the reference (-ref +book):\n%s", stream, op, diff)
			}
		}
		// Depth agrees and the book is not crossed.
		for _, side := range []Side{Buy, Sell} {
			levels := map[unit.Price]Level{}
			for _, x := range ref.resting {
				if x.Side == side {
					l := levels[x.Price]
					levels[x.Price] = Level{x.Price, l.Energy + x.Energy, l.Orders + 1}
				}
			}
			got := b.Depth(nil, side, 0)
			if len(got) != len(levels) {
				t.Fatalf("stream %d: %v depth has %d levels, want %d", stream, side, len(got), len(levels))
			}
			for i, l := range got {
				if levels[l.Price] != l || i > 0 && (side == Buy) != (l.Price < got[i-1].Price) {
					t.Fatalf("stream %d: %v depth %v, reference %v", stream, side, got, levels)
				}
			}
		}
		bids, asks := b.Depth(nil, Buy, 1), b.Depth(nil, Sell, 1)
		if len(bids) > 0 && len(asks) > 0 && bids[0].Price >= asks[0].Price+tf.Fee {
			t.Fatalf("stream %d: book crossed: bid %d, ask %d, fee %d", stream, bids[0].Price, asks[0].Price, tf.Fee)
		}
		if b.Len() != len(ref.resting) {
			t.Fatalf("stream %d: Len %d, want %d", stream, b.Len(), len(ref.resting))
		}
	}
}

func TestBookReplace(t *testing.T) {
	tf := Tariff{Floor: 50_000, Ceiling: 300_000}
	b := NewBook(1, tf)
	for _, o := range []Order{
		{ID: "s1", Side: Sell, Slot: 1, Energy: 100, Price: 120_000},
		{ID: "s2", Side: Sell, Slot: 1, Energy: 100, Price: 120_000},
	} {
		if _, err := b.Add(nil, o); err != nil {
			t.Fatal(err)
		}
	}
	// s1 replaced at the same price goes behind s2.
	if _, ok, err := b.Replace(nil, "s1", Order{ID: "s1", Side: Sell, Slot: 1, Energy: 50, Price: 120_000}); !ok || err != nil {
		t.Fatalf("Replace(s1) = %v, %v", ok, err)
	}
	got, err := b.Add(nil, Order{ID: "b1", Side: Buy, Slot: 1, Energy: 120, Price: 130_000})
	want := []Trade{
		{Slot: 1, Buy: "b1", Sell: "s2", Energy: 100, Price: 120_000},
		{Slot: 1, Buy: "b1", Sell: "s1", Energy: 20, Price: 120_000},
	}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("after Replace (-want +got):\n%s%v", diff, err)
	}
	if _, ok, _ := b.Replace(nil, "nope", Order{ID: "x", Side: Sell, Slot: 1, Energy: 1, Price: 120_000}); ok {
		t.Errorf("Replace of a missing order succeeded")
	}
	if _, ok, err := b.Replace(nil, "s1", Order{ID: "s1", Side: Sell, Slot: 1, Energy: 1, Price: 1}); !ok || !errors.Is(err, ErrPriceBelowFloor) {
		t.Errorf("Replace below floor: %v, %v; want true, ErrPriceBelowFloor", ok, err)
	}
	if rem, ok := b.Cancel("s1"); !ok || rem != 30 {
		t.Errorf("failed Replace must keep the order: Cancel(s1) = %d, %v; want 30, true", rem, ok)
	}
}

func FuzzBook(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 10, 5, 2, 10, 5, 3, 0, 0, 1, 200, 9, 2, 1, 1})
	f.Add([]byte("buy sell cancel buy sell buy buy sell sell cancel cancel"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tf := Tariff{Floor: 50_000, Ceiling: 300_000, Fee: 5_000}
		b := NewBook(1, tf)
		ref := &refBook{fee: tf.Fee}
		var dst []Trade
		for op := 0; len(data) >= 3; op++ {
			kind, x, y := data[0], data[1], data[2]
			data = data[3:]
			if kind%4 == 3 {
				if len(ref.resting) == 0 {
					continue
				}
				r := ref.resting[int(x)%len(ref.resting)]
				if rem, ok := b.Cancel(r.ID); !ok || rem != r.Energy {
					t.Fatalf("op %d: Cancel(%s) = %d, %v; want %d, true", op, r.ID, rem, ok, r.Energy)
				}
				for i := range ref.resting {
					if ref.resting[i].ID == r.ID {
						ref.resting = append(ref.resting[:i], ref.resting[i+1:]...)
						break
					}
				}
				continue
			}
			o := Order{ID: fmt.Sprint("o", op), Owner: fmt.Sprint("h", y%3), Side: Side(1 + kind%2), Slot: 1,
				Energy: 1 + unit.Wh(y), Price: 100_000 + unit.Price(x%16)*5_000}
			var err error
			if dst, err = b.Add(dst[:0], o); err != nil {
				t.Fatalf("op %d: Add(%+v): %v", op, o, err)
			}
			if want := ref.add(o); len(want)+len(dst) > 0 {
				if diff := cmp.Diff(want, dst); diff != "" {
					t.Fatalf("op %d: trades differ from the reference (-ref +book):\n%s", op, diff)
				}
			}
			if b.Len() != len(ref.resting) {
				t.Fatalf("op %d: Len %d, want %d", op, b.Len(), len(ref.resting))
			}
		}
	})
}
