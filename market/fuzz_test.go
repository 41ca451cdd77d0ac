package market

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gridmesh/gridmesh/unit"
)

// bookFrom turns fuzz bytes into a book: a tariff, k and 7-byte orders.
func bookFrom(data []byte) ([]Order, Tariff, Params) {
	next := func(n int) uint64 {
		var b [8]byte
		c := copy(b[:], data[:min(n, len(data))])
		data = data[c:]
		return binary.LittleEndian.Uint64(b[:])
	}
	tf := Tariff{Floor: unit.Price(next(2)), Fee: unit.Price(next(1) * 100)}
	tf.Ceiling = tf.Floor + tf.Fee + unit.Price(next(2))
	p := Params{KPPM: int64(next(3)) % (PPM + 2)}
	var orders []Order
	for i := 0; len(data) > 0 && i < 64; i++ {
		flags := next(1)
		o := Order{ID: fmt.Sprintf("o%02d", i), Owner: fmt.Sprintf("h%d", flags>>4&3), Side: Side(flags & 3),
			Slot: unit.Slot(flags >> 6 & 1), Height: flags >> 2 & 3}
		e := next(3)
		switch e >> 22 {
		case 0:
			o.Energy = unit.Wh(e & 0xfff)
		case 1:
			o.Energy = unit.Wh(e) * 1000
		default:
			o.Energy = MaxEnergy - unit.Wh(e&0xff)
		}
		o.Price = tf.Floor + unit.Price(next(2))%(tf.Ceiling-tf.Floor+1)
		if flags&0x80 != 0 {
			o.Price = unit.Price(int64(next(1)) * 1000) // may be outside the tariff: Clear must cope
		}
		orders = append(orders, o)
	}
	return orders, tf, p
}

func FuzzClear(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 10, 0, 2, 0, 0, 0, 0, 1, 100, 0, 0, 5, 0, 2, 100, 0, 0, 4, 0})
	f.Add([]byte{1, 0, 1, 255, 0, 255, 0, 1, 0, 0, 64, 3, 0, 1, 0, 0, 64, 3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte("a book that crosses somewhere in here, with ties: aaaaaaaaaabbbbbbbbbbccccccccc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		orders, tf, p := bookFrom(data)
		r := Clear(0, orders, tf, p)
		checkClear(t, 0, orders, tf, p, r)
		rev := slices.Clone(orders)
		slices.Reverse(rev)
		if diff := cmp.Diff(r, Clear(0, rev, tf, p)); diff != "" {
			t.Fatalf("reversed input changed the result:\n%s", diff)
		}
	})
}

func FuzzSettle(f *testing.F) {
	f.Add([]byte{}, uint64(0))
	f.Add([]byte{0, 1, 10, 0, 2, 0, 0, 0, 0, 1, 100, 0, 0, 5, 0, 2, 100, 0, 0, 4, 0}, uint64(0x0102030405060708))
	f.Add([]byte("sellers and buyers, some attested, some not: aaaaaaaaaabbbbbbbbbbccccccccc"), uint64(0xffffffff))
	f.Fuzz(func(t *testing.T, data []byte, meters uint64) {
		orders, tf, p := bookFrom(data)
		r := Clear(0, orders, tf, p)
		m := map[string]Metered{}
		for i := range 4 {
			b := meters >> (16 * i)
			if b&1 == 0 {
				continue // no attestation
			}
			m[fmt.Sprintf("h%d", i)] = Metered{Import: unit.Wh(b>>1&0x7f) * unit.Wh(b>>8&0xff), Export: unit.Wh(b>>8&0xff) * 1_000_000}
		}
		checkSettle(t, 0, r.Trades, m, tf, "operator")
	})
}

func FuzzClearCurves(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 10, 0, 2, 0, 0, 0, 0, 1, 100, 0, 0, 5, 0, 2, 100, 0, 0, 4, 0, 1, 100, 0, 0, 5, 0, 2, 100, 0, 0, 4, 0})
	f.Add([]byte("curves of batteries and flexible loads: aaaaaaaaaabbbbbbbbbbcccccccccdddddddddd"))
	f.Fuzz(func(t *testing.T, data []byte) {
		book, tf, p := bookFrom(data)
		var orders []Order
		var curves []Curve
		for i, o := range book {
			o.Slot = 7 + o.Slot
			if i%3 == 0 || !o.Side.Valid() {
				orders = append(orders, o)
				continue
			}
			// Fold the order into the last curve of its side, or start one.
			n := len(curves)
			if n == 0 || curves[n-1].Side != o.Side || len(curves[n-1].Steps) == 3 ||
				curves[n-1].Energy()+o.Energy > MaxEnergy {
				curves = append(curves, Curve{ID: "c" + o.ID, Owner: o.Owner, Side: o.Side, Slot: o.Slot, Height: o.Height})
				n++
			}
			c := &curves[n-1]
			c.Steps = append(c.Steps, Step{Energy: max(o.Energy, 1), Price: o.Price})
			slices.SortFunc(c.Steps, func(a, b Step) int {
				if c.Side == Buy {
					return int(b.Price - a.Price)
				}
				return int(a.Price - b.Price)
			})
		}
		r, _ := checkCurves(t, orders, curves, tf, p)
		rc := slices.Clone(curves)
		slices.Reverse(rc)
		if diff := cmp.Diff(r, ClearCurves(7, orders, rc, tf, p)); diff != "" {
			t.Fatalf("reversed curves changed the result:\n%s", diff)
		}
	})
}
