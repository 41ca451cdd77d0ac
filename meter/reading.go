package meter

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gridmesh/gridmesh/unit"
)

// Flags are quality bits a driver sets on a Reading. The zero value means a
// plain measured reading: counters and power read from the meter, timestamped
// by the host clock.
type Flags uint32

const (
	// Simulated: the reading comes from a simulator, not a physical meter.
	Simulated Flags = 1 << iota
	// Estimated: a value was computed rather than read (for example power
	// derived from two counter readings because the meter reports none).
	Estimated
	// NoPower: the meter reports no instantaneous power; Power is 0.
	NoPower
	// NoExport: the meter has no export register; Export is 0.
	NoExport
	// MeterTime: Time is the meter's own timestamp (DSMR, SML), not the host's.
	MeterTime
	// Stale: the driver knows the values are older than one poll interval
	// (an MQTT value past its timeout, a repeated telegram). The sampler rejects
	// stale readings.
	Stale
	// PhasesValid: Phases holds the meter's per-phase values.
	PhasesValid

	knownFlags = PhasesValid<<1 - 1
)

var flagNames = []string{"simulated", "estimated", "no-power", "no-export", "meter-time", "stale", "phases"}

// String lists the set flags, e.g. "simulated|stale"; "" for none.
func (f Flags) String() string {
	var parts []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if rest := f &^ knownFlags; rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint32(rest)))
	}
	return strings.Join(parts, "|")
}

// Phase holds one phase's values as the meter gives them; zero means not given.
type Phase struct {
	Voltage int64  // millivolts
	Current int64  // milliamps (signed like Power where the meter says so)
	Power   unit.W // + import, − export
}

// Reading is one reading of a meter.
//
// Import and Export are the meter's cumulative counters (Wh), Power the
// instantaneous net power (W, + import from the grid, − export). Readings are
// plain values: comparable with ==, except that Time should be compared with
// Time.Equal (a decoded Time carries no monotonic clock or location).
type Reading struct {
	Time   time.Time
	Import unit.Wh
	Export unit.Wh
	Power  unit.W
	Serial string // the meter's serial number or id; at most MaxSerial bytes
	Flags  Flags
	Phases [3]Phase // L1, L2, L3; meaningful when Flags has PhasesValid
}

// MaxSerial is the longest Serial the journal stores.
const MaxSerial = 64

// Reader reads one meter. It is the one port shared by all drivers (STYLE.md 4).
//
// Read returns the meter's current values or an error; it honours ctx for
// cancellation and deadlines. A Reader may leave Time zero, in which case the
// Sampler stamps the reading with its own clock. Read is not called
// concurrently by the Sampler; drivers say in their doc whether they allow it.
type Reader interface {
	Read(ctx context.Context) (Reading, error)
}
