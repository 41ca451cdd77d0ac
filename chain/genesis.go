package chain

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// Genesis is the network definition every node of a chain shares. All times are
// unix seconds; slot s starts at Epoch + s*SlotSeconds.
type Genesis struct {
	ChainID             string          `json:"chain_id"`
	Epoch               int64           `json:"epoch"`
	SlotSeconds         int64           `json:"slot_seconds"`
	OpenLeadSeconds     int64           `json:"open_lead_seconds"`     // orders accepted from start − OpenLead
	GateLeadSeconds     int64           `json:"gate_lead_seconds"`     // ... until gate closure, start − GateLead
	AttestWindowSeconds int64           `json:"attest_window_seconds"` // attestations in [end, end + window)
	Authorities         []ident.Account `json:"authorities"`
	Participants        []ident.Account `json:"participants"` // pre-admitted homes
	Operator            ident.Account   `json:"operator"`     // receives the grid fees
	Tariff              market.Tariff   `json:"tariff"`
	Params              market.Params   `json:"params"`
	Dev                 bool            `json:"dev"` // a development network may have fewer than 4 authorities
	// VoteLapse, if > 0, bounds authority-set votes (authority.go): a vote
	// that has not passed lapses VoteLapse heights after the block that
	// recorded it, and an authority holds at most MaxOpenVotes open votes.
	// 0 (every genesis written before the field; omitted from the genesis
	// encoding, so its hash is unchanged) keeps votes until they pass.
	VoteLapse uint64 `json:"vote_lapse,omitempty"`
	// LateSeconds is the genesis tariff policy's late window
	// (Tariff.LateSeconds; a Tariff tx changes it like the prices). 0 (every
	// genesis before the field; omitted from the encoding, so its hash is
	// unchanged) settles every slot at SettleAt.
	LateSeconds int64 `json:"late_seconds,omitempty"`
}

// MinAuthorities is the smallest authority set of a network that is not Dev.
const MinAuthorities = 4

// maxSeconds bounds every genesis duration and the epoch (about 31,700 years), so
// slot arithmetic in milliseconds cannot overflow.
const maxSeconds = 1 << 40

// Validate reports every problem with g at once.
func (g Genesis) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrGenesis, fmt.Sprintf(format, a...)))
	}
	if g.ChainID == "" || len(g.ChainID) > MaxChainID {
		bad("chain id must be 1..%d bytes", MaxChainID)
	}
	if g.Epoch < 0 || g.Epoch > maxSeconds {
		bad("epoch %d out of range", g.Epoch)
	}
	if g.SlotSeconds <= 0 || g.SlotSeconds > maxSeconds {
		bad("slot seconds must be > 0, got %d", g.SlotSeconds)
	}
	if g.GateLeadSeconds < 0 || g.OpenLeadSeconds > maxSeconds {
		bad("gate lead %d / open lead %d out of range", g.GateLeadSeconds, g.OpenLeadSeconds)
	}
	if g.GateLeadSeconds >= g.OpenLeadSeconds {
		bad("gate lead (%d s) must be less than open lead (%d s)", g.GateLeadSeconds, g.OpenLeadSeconds)
	}
	if g.VoteLapse > maxSeconds {
		bad("vote lapse %d heights out of range", g.VoteLapse)
	}
	if g.LateSeconds < 0 || g.LateSeconds > MaxLateSeconds {
		bad("late window must be in [0, %d] s, got %d", MaxLateSeconds, g.LateSeconds)
	}
	if g.AttestWindowSeconds <= 0 || g.AttestWindowSeconds > maxSeconds {
		bad("attest window must be > 0, got %d", g.AttestWindowSeconds)
	}
	if len(g.Authorities) == 0 {
		bad("no authorities")
	} else if len(g.Authorities) < MinAuthorities && !g.Dev {
		bad("%d authorities: a network that moves money needs at least %d (or dev = true)", len(g.Authorities), MinAuthorities)
	}
	checkSet := func(what string, as []ident.Account) {
		seen := map[ident.Account]bool{}
		for i, a := range as {
			if err := a.Check(); err != nil {
				bad("%s %d: %v", what, i, err)
			}
			if seen[a] {
				bad("%s %s listed twice", what, a)
			}
			seen[a] = true
		}
	}
	checkSet("authority", g.Authorities)
	checkSet("participant", g.Participants)
	if err := g.Operator.Check(); err != nil {
		bad("operator: %v", err)
	}
	if err := checkTariff(g.Tariff); err != nil {
		bad("tariff: %v", err)
	}
	if err := g.Params.Validate(); err != nil {
		bad("params: %v", err)
	}
	if g.Params.KPPM < 0 || g.Params.KPPM > 1_000_000 {
		bad("params: k must be in [0, 1000000] ppm, got %d", g.Params.KPPM)
	}
	return errors.Join(errs...)
}

// Hash is SHA-256 over the canonical JSON of g (a nil list counts as empty); a
// store remembers it. The order of the lists matters.
func (g Genesis) Hash() ident.Hash {
	if g.Authorities == nil {
		g.Authorities = []ident.Account{}
	}
	if g.Participants == nil {
		g.Participants = []ident.Account{}
	}
	return sha256.Sum256(append([]byte("gridmesh/genesis/v1\n"), recordJSON(g)...))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// SlotAt is the slot that contains the instant unixMs.
func (g Genesis) SlotAt(unixMs int64) unit.Slot {
	return unit.Slot(floorDiv(unixMs-g.Epoch*1000, g.SlotSeconds*1000))
}

// SlotStart is the start of slot s in unix ms.
func (g Genesis) SlotStart(s unit.Slot) int64 { return (g.Epoch + int64(s)*g.SlotSeconds) * 1000 }

// SlotEnd is the end of slot s (the start of s+1) in unix ms.
func (g Genesis) SlotEnd(s unit.Slot) int64 { return g.SlotStart(s + 1) }

// GateClosure is the first instant (unix ms) at which orders for s are refused.
func (g Genesis) GateClosure(s unit.Slot) int64 { return g.SlotStart(s) - g.GateLeadSeconds*1000 }

// OpenAt is the first instant (unix ms) at which orders for s are accepted.
func (g Genesis) OpenAt(s unit.Slot) int64 { return g.SlotStart(s) - g.OpenLeadSeconds*1000 }

// SettleAt is the end of the attestation window of s (unix ms): the first block at
// or after it settles the slot.
func (g Genesis) SettleAt(s unit.Slot) int64 { return g.SlotEnd(s) + g.AttestWindowSeconds*1000 }

// checkTariff applies the market's rules and this package's bounds (which keep
// every amount within int64).
func checkTariff(t market.Tariff) error {
	if t.Floor < 0 || t.Fee < 0 || t.Ceiling > MaxPrice {
		return fmt.Errorf("prices must be in [0, %d]", MaxPrice)
	}
	return t.Validate()
}

func (g Genesis) clone() Genesis {
	g.Authorities = slices.Clone(g.Authorities)
	g.Participants = slices.Clone(g.Participants)
	return g
}
