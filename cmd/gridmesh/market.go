package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

func cmdMarket(args []string, stdout io.Writer) error {
	const about = `
Commands:
  clear   clear a set of orders from a file and print the result`
	if len(args) == 0 {
		return usagef("market: expected a command: clear (see gridmesh market --help)")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprintf(stdout, "Usage: gridmesh market <command> [flags]\n%s\n", about)
		return nil
	case "clear":
		return cmdMarketClear(args[1:], stdout)
	default:
		return usagef("market: unknown command %q (see gridmesh market --help)", args[0])
	}
}

func cmdMarketClear(args []string, stdout io.Writer) error {
	c := newCommand("market clear", "--in FILE [--mode call|continuous] [--k 0.5] [--fee N] [--floor N] [--ceiling N] [--json]", `
Clear the orders in FILE with the market rules every node uses and print each
slot's price, volume and trades. FILE has one JSON order per line:

  {"id":"a1","owner":"home-12","side":"sell","slot":1,"wh":500,"price":120000}

or a curve order (a battery or flexible load), its steps in place of wh and price:

  {"id":"bat","side":"buy","slot":1,"curve":[{"wh":500,"price":200000},{"wh":300,"price":150000}]}

A curve has 2 to 24 steps, each at least 1 Wh, prices strictly falling for a
buy and strictly rising for a sell, each within [floor, ceiling]: the rules the
chain applies to curve orders (the same check, chain.Order.Check). Curves clear
in --mode call only.

--mode call (the default) runs one uniform-price call auction per slot, as at
gate closure: the result depends only on the set of orders. --mode continuous
runs a continuous double auction per slot: orders arrive in file order and
trade at once at the resting order's (maker's) price; a slot's "price" is then
its last trade's.

Prices are micro-units per kWh (1 EUR/kWh = 1000000). Every order must lie
within the tariff [floor, ceiling]; the buyer's price includes the fee.
With --json, one JSON object per slot and line:
  {"slot":1,"price":150000,"volume_wh":500,"trades":[{"buy":"b1","sell":"a1","wh":500,"price":150000,...}]}`)
	in := c.fs.String("in", "", "the order file (required)")
	mode := c.fs.String("mode", "call", `clearing mechanism: "call" (uniform-price call auction) or "continuous" (continuous double auction)`)
	k := c.fs.String("k", "0.5", "call mode's k-pricing: price = ask + fee + k × (bid − ask − fee) at the margin, 0 to 1, up to 6 decimals")
	fee := c.fs.Int64("fee", 0, "grid fee, micro-units per kWh")
	floor := c.fs.Int64("floor", 0, "tariff floor (feed-in), micro-units per kWh")
	ceiling := c.fs.Int64("ceiling", int64(market.MaxPrice), "tariff ceiling (retail), micro-units per kWh")
	asJSON := c.fs.Bool("json", false, "print the results as one JSON object")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	if *in == "" {
		return usagef("market clear: --in is required (see gridmesh market clear --help)")
	}
	if *mode != "call" && *mode != "continuous" {
		return usagef("market clear: --mode: expected \"call\" or \"continuous\", got %q", *mode)
	}
	kppm, ok := parsePPM(*k)
	if !ok {
		return usagef("market clear: --k: expected a number from 0 to 1 with up to 6 decimals, got %q", *k)
	}
	t := market.Tariff{Floor: unit.Price(*floor), Ceiling: unit.Price(*ceiling), Fee: unit.Price(*fee)}
	if err := t.Validate(); err != nil {
		return usagef("market clear: %v", err)
	}
	f, err := os.Open(*in)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: no such file", *in)
		}
		return fmt.Errorf("market clear: %w", err)
	}
	defer f.Close()
	orders, curves, err := market.DecodeBookLines(f)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	if len(curves) > 0 && *mode != "call" {
		return usagef("market clear: %s: curve order %q: curves clear in --mode call only", *in, curves[0].ID)
	}
	slots, err := checkBook(*in, orders, curves, t)
	if err != nil {
		return err
	}
	var results []market.Result
	for _, s := range slots {
		if *mode == "call" {
			// With no curve this is market.Clear, as on chain.
			results = append(results, market.ClearCurves(s, orders, curves, t, market.Params{KPPM: kppm}))
			continue
		}
		r, err := continuous(s, orders, t)
		if err != nil {
			return fmt.Errorf("%s: %w", *in, err)
		}
		results = append(results, r)
	}
	if *asJSON {
		return printClearJSON(stdout, results)
	}
	printClearText(stdout, results)
	return nil
}

// printClearText prints each slot's result and trades for a person.
func printClearText(stdout io.Writer, results []market.Result) {
	if len(results) == 0 {
		fmt.Fprintln(stdout, "no orders")
	}
	for _, r := range results {
		if r.Volume == 0 {
			fmt.Fprintf(stdout, "slot %d: nothing cleared\n", r.Slot)
			continue
		}
		trades := "trades"
		if len(r.Trades) == 1 {
			trades = "trade"
		}
		fmt.Fprintf(stdout, "slot %d: price %s, volume %s, %d %s\n", r.Slot, r.Price, r.Volume, len(r.Trades), trades)
		for _, tr := range r.Trades {
			fmt.Fprintf(stdout, "  %s: buy %s (%s) from sell %s (%s)\n", tr.Energy, tr.Buy, tr.Buyer, tr.Sell, tr.Seller)
		}
	}
}

// checkBook applies the chain's order rules (chain.Order.Check: bounds,
// tariff, curve rules) to every order and curve of the file, and returns the
// slots they are for, sorted. Every problem is reported at once.
func checkBook(file string, orders []market.Order, curves []market.Curve, t market.Tariff) ([]unit.Slot, error) {
	var errs []error
	slots := map[unit.Slot]bool{}
	for _, o := range orders {
		if err := (chain.Order{Side: o.Side, Slot: o.Slot, Energy: o.Energy, Price: o.Price}).Check(t); err != nil {
			errs = append(errs, fmt.Errorf("%s: order %q: %w", file, o.ID, err))
		}
		slots[o.Slot] = true
	}
	for _, c := range curves {
		co := chain.Order{Side: c.Side, Slot: c.Slot, Energy: c.Energy(), Price: c.Steps[0].Price}
		for _, st := range c.Steps {
			co.Curve = append(co.Curve, chain.CurveStep{Energy: st.Energy, Price: st.Price})
		}
		if err := co.Check(t); err != nil {
			errs = append(errs, fmt.Errorf("%s: curve order %q: %w", file, c.ID, err))
		}
		slots[c.Slot] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return slices.Sorted(mapKeys(slots)), nil
}

// continuous runs slot's orders, in file order, through a continuous double
// auction book.
func continuous(slot unit.Slot, orders []market.Order, t market.Tariff) (market.Result, error) {
	b := market.NewBook(slot, t)
	r := market.Result{Slot: slot}
	for _, o := range orders {
		if o.Slot != slot {
			continue
		}
		var err error
		if r.Trades, err = b.Add(r.Trades, o); err != nil {
			return r, fmt.Errorf("order %q: %w", o.ID, err)
		}
	}
	for _, tr := range r.Trades {
		r.Volume += tr.Energy
		r.Price = tr.Price
	}
	return r, nil
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

type jsonTrade struct {
	Buy    string `json:"buy"`
	Sell   string `json:"sell"`
	Wh     int64  `json:"wh"`
	Price  int64  `json:"price"`
	Buyer  string `json:"buyer"`
	Seller string `json:"seller"`
}

type jsonResult struct {
	Slot     int64       `json:"slot"`
	Price    int64       `json:"price"`
	VolumeWh int64       `json:"volume_wh"`
	Trades   []jsonTrade `json:"trades"`
}

// printClearJSON prints one JSON object per slot and line. Everything is
// encoded before anything is printed, so a failure prints nothing.
func printClearJSON(w io.Writer, results []market.Result) error {
	var out []byte
	for _, r := range results {
		jr := jsonResult{Slot: int64(r.Slot), Price: int64(r.Price), VolumeWh: int64(r.Volume), Trades: []jsonTrade{}}
		for _, t := range r.Trades {
			jr.Trades = append(jr.Trades, jsonTrade{Buy: t.Buy, Sell: t.Sell, Buyer: t.Buyer, Seller: t.Seller, Wh: int64(t.Energy), Price: int64(t.Price)})
		}
		b, err := json.Marshal(jr)
		if err != nil {
			return err
		}
		out = append(append(out, b...), '\n')
	}
	_, err := w.Write(out)
	return err
}

// parsePPM parses a decimal in [0, 1] with up to 6 decimals into parts per
// million, exactly (no floating point).
func parsePPM(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || len(frac) > 6 || strings.ContainsAny(whole+frac, "+-") {
		return 0, false
	}
	if whole == "" {
		whole = "0"
	}
	w, err := strconv.ParseUint(whole, 10, 8)
	if err != nil {
		return 0, false
	}
	f := uint64(0)
	if frac != "" {
		f, err = strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 32)
		if err != nil {
			return 0, false
		}
	}
	v := int64(w)*1_000_000 + int64(f)
	return v, v <= 1_000_000
}
