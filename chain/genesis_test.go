package chain

import (
	"errors"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

func TestGenesisValidate(t *testing.T) {
	if err := testGenesis().Validate(); err != nil {
		t.Fatalf("Validate(test genesis) = %v", err)
	}
	four := testGenesis()
	four.Dev = false
	four.Authorities = []ident.Account{kAuth.acct, newKey("a2").acct, newKey("a3").acct, newKey("a4").acct}
	if err := four.Validate(); err != nil {
		t.Fatalf("Validate(4 authorities, not dev) = %v", err)
	}
	cases := []struct {
		name   string
		mutate func(*Genesis)
		want   string
	}{
		{"empty chain id", func(g *Genesis) { g.ChainID = "" }, "chain id"},
		{"zero slot", func(g *Genesis) { g.SlotSeconds = 0 }, "slot seconds"},
		{"gate lead not below open lead", func(g *Genesis) { g.GateLeadSeconds = g.OpenLeadSeconds }, "gate lead"},
		{"zero attest window", func(g *Genesis) { g.AttestWindowSeconds = 0 }, "attest window"},
		{"no authorities", func(g *Genesis) { g.Authorities = nil }, "no authorities"},
		{"one authority without dev", func(g *Genesis) { g.Dev = false }, "at least 4"},
		{"duplicate authority", func(g *Genesis) { g.Authorities = []ident.Account{kAuth.acct, kAuth.acct} }, "twice"},
		{"malformed authority", func(g *Genesis) { g.Authorities = []ident.Account{"xyz"} }, "authority 0"},
		{"duplicate participant", func(g *Genesis) { g.Participants = []ident.Account{kAlice.acct, kAlice.acct} }, "twice"},
		{"no operator", func(g *Genesis) { g.Operator = "" }, "operator"},
		{"bad tariff", func(g *Genesis) { g.Tariff = market.Tariff{Floor: 10, Ceiling: 5} }, "tariff"},
		{"bad k", func(g *Genesis) { g.Params.KPPM = 2_000_000 }, "params"},
	}
	for _, tc := range cases {
		g := testGenesis()
		tc.mutate(&g)
		err := g.Validate()
		if !errors.Is(err, ErrGenesis) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want ErrGenesis mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, err := OpenMemory(Genesis{}); !errors.Is(err, ErrGenesis) {
		t.Errorf("OpenMemory(zero genesis) = %v, want ErrGenesis", err)
	}
}

func TestSlotTiming(t *testing.T) {
	g := testGenesis() // epoch 1.7e9 s, 60 s slots, open 300 s, gate 60 s, attest 60 s
	const s = unit.Slot(5)
	start := int64(testEpoch+5*60) * 1000
	checks := []struct {
		name      string
		got, want int64
	}{
		{"SlotStart", g.SlotStart(s), start},
		{"SlotEnd", g.SlotEnd(s), start + 60_000},
		{"GateClosure", g.GateClosure(s), start - 60_000},
		{"OpenAt", g.OpenAt(s), start - 300_000},
		{"SettleAt", g.SettleAt(s), start + 120_000},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s(%d) = %d, want %d", c.name, s, c.got, c.want)
		}
	}
	for _, tc := range []struct {
		ms   int64
		want unit.Slot
	}{{start, s}, {start - 1, s - 1}, {start + 59_999, s}, {testEpoch * 1000, 0}, {testEpoch*1000 - 1, -1}} {
		if got := g.SlotAt(tc.ms); got != tc.want {
			t.Errorf("SlotAt(%d) = %d, want %d", tc.ms, got, tc.want)
		}
	}
}

func TestOpenSlots(t *testing.T) {
	c := openMem(t, testGenesis())
	// At start(10) - 60 s (gate closure of 10): slots 11..14 are open
	// (OpenAt(14) = start(10) - 60 s; GateClosure(11) = start(10)).
	got := c.OpenSlots(ms(10, -60))
	want := []unit.Slot{11, 12, 13, 14}
	if len(got) != len(want) {
		t.Fatalf("OpenSlots = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("OpenSlots = %v, want %v", got, want)
		}
	}
}

func TestGenesisHash(t *testing.T) {
	a, b := testGenesis(), testGenesis()
	a.Participants, b.Participants = nil, []ident.Account{}
	if a.Hash() != b.Hash() {
		t.Errorf("nil and empty participant lists hash differently")
	}
	b.Operator = kAlice.acct
	if a.Hash() == b.Hash() {
		t.Errorf("changing the operator does not change the genesis hash")
	}
}

// TestFirstBlockBeforeEpoch: a network whose epoch is in the future (the demo's)
// takes orders for slot 0 as soon as it opens.
func TestFirstBlockBeforeEpoch(t *testing.T) {
	g := testGenesis()
	c := openMem(t, g)
	if got, want := c.Head().Time, g.OpenAt(0)-1; got != want {
		t.Fatalf("genesis time = %d, want %d", got, want)
	}
	now := g.OpenAt(0)
	b, errs := c.Propose(now, kAuth.acct, []Tx{orderTx(kAlice, market.Sell, 0, 10, 100_000, 1)})
	if errs[0] != nil {
		t.Fatalf("order for slot 0 at OpenAt(0): %v", errs[0])
	}
	if err := openMem(t, g).Validate(b, now); err != nil {
		t.Fatalf("Validate first block at OpenAt(0): %v", err)
	}
}
