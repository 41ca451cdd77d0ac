package market

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIndicative(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for book := range 200 {
		orders, tf, p := randomBook(rng)
		x := NewIndicative(7, tf, p)
		held := map[string]Order{}
		list := func() []Order {
			var os []Order
			for _, o := range held {
				os = append(os, o)
			}
			return os
		}
		for step := range 3 * len(orders) {
			if rng.IntN(3) > 0 || len(held) == 0 {
				o := orders[rng.IntN(len(orders))]
				err := x.Add(o)
				_, dup := held[o.ID]
				switch {
				case o.Slot != 7:
					if err == nil {
						t.Fatalf("book %d: added an order of slot %d", book, o.Slot)
					}
					continue
				case dup:
					if !errors.Is(err, ErrDuplicate) {
						t.Fatalf("book %d: duplicate add: %v, want ErrDuplicate", book, err)
					}
					continue
				case err != nil:
					t.Fatalf("book %d: Add(%+v): %v", book, o, err)
				}
				held[o.ID] = o
			} else {
				var id string
				for id = range held {
					break
				}
				if !x.Remove(id) {
					t.Fatalf("book %d: Remove(%q) = false for a held order", book, id)
				}
				delete(held, id)
				if x.Remove(id) {
					t.Fatalf("book %d: removed %q twice", book, id)
				}
			}
			want := Clear(7, list(), tf, p)
			if price, vol := x.Now(); price != want.Price || vol != want.Volume {
				t.Fatalf("book %d step %d: Now() = %d, %d; Clear gives %d, %d", book, step, price, vol, want.Price, want.Volume)
			}
			if step%4 == 0 {
				if diff := cmp.Diff(want, x.Result()); diff != "" {
					t.Fatalf("book %d step %d: Result differs from Clear (-Clear +Result):\n%s", book, step, diff)
				}
			}
			if x.Len() != len(held) || len(x.Orders()) != len(held) {
				t.Fatalf("book %d: Len %d, Orders %d, want %d", book, x.Len(), len(x.Orders()), len(held))
			}
		}
	}
}

func TestIndicativeRejects(t *testing.T) {
	tf := Tariff{Floor: 10, Ceiling: 100}
	x := NewIndicative(1, tf, DefaultParams())
	if err := x.Add(Order{ID: "a", Side: Buy, Slot: 1, Energy: 1, Price: 101}); !errors.Is(err, ErrPriceAboveCeiling) {
		t.Errorf("Add above ceiling: %v, want ErrPriceAboveCeiling", err)
	}
	if err := x.Add(Order{ID: "a", Side: Buy, Slot: 2, Energy: 1, Price: 50}); err == nil {
		t.Errorf("Add for slot 2 to the book of slot 1: got nil error")
	}
	if p, v := x.Now(); p != 0 || v != 0 || x.Len() != 0 {
		t.Errorf("empty book: Now() = %d, %d, Len %d; want 0, 0, 0", p, v, x.Len())
	}
}
