package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"

	"github.com/gridmesh/gridmesh/unit"
)

// MinAuthorities is the smallest authority set of a network that moves money
// (n = 3f+1 with f = 1); fewer are allowed only with dev = true.
const MinAuthorities = 4

// Genesis is a network's genesis file (genesis.toml): the parameters every
// node of the network must agree on. See configs/genesis.example.toml.
type Genesis struct {
	Version             int            `toml:"version"`
	ChainID             string         `toml:"chain_id"`
	Epoch               int64          `toml:"epoch"`                 // unix seconds; slot s starts at Epoch + s*SlotSeconds
	SlotSeconds         int64          `toml:"slot_seconds"`          // delivery slot length
	OpenLeadSeconds     int64          `toml:"open_lead_seconds"`     // a slot opens for orders this long before it starts
	GateLeadSeconds     int64          `toml:"gate_lead_seconds"`     // gate closure: this long before the slot starts
	AttestWindowSeconds int64          `toml:"attest_window_seconds"` // meter attestations accepted this long after the slot ends
	Dev                 bool           `toml:"dev"`                   // a development network: fewer than 4 authorities allowed
	Operator            string         `toml:"operator"`              // hex ed25519 public key receiving grid fees
	KPPM                int64          `toml:"k_ppm"`                 // k-pricing parameter in parts per million
	Tariff              TariffSection  `toml:"tariff"`
	Updates             UpdatesSection `toml:"updates"`
	Authorities         []Member       `toml:"authorities"`
	Participants        []Member       `toml:"participants"` // homes admitted from the start
}

// TariffSection is [tariff], in micro-units of the network currency per kWh.
type TariffSection struct {
	Floor   unit.Price `toml:"floor"`   // feed-in tariff: lowest price of any order
	Ceiling unit.Price `toml:"ceiling"` // retail tariff: highest price of any order
	Fee     unit.Price `toml:"fee"`     // local grid fee, paid by the buyer to the operator
	// LateSeconds is the late window: how long after the attestation window a
	// slot whose trades miss an attestation waits for it (a home whose
	// internet was down sends its journaled readings when it is back). 0, the
	// default, settles every slot when the attestation window ends. An
	// operator changes it on chain like the prices (gridmesh tariff
	// --late).
	LateSeconds int64 `toml:"late_seconds"`
}

// MaxLateSeconds bounds tariff.late_seconds: a month (chain.MaxLateSeconds).
const MaxLateSeconds = 31 * 24 * 3600

// UpdatesSection is [updates]: the release keys the network pins. A home
// installs a release only if its manifest is signed by one of them
// (package update); with none, it installs no update.
type UpdatesSection struct {
	// Keys are minisign public keys as the second line of a minisign.pub
	// file has them ("RWQ...", 56 base64 characters): the utility's
	// offline release keys.
	Keys []string `toml:"keys"`
}

// MaxReleaseKeys bounds [updates] keys.
const MaxReleaseKeys = 8

// Member is one [[authorities]] or [[participants]] entry.
type Member struct {
	Name string `toml:"name"`
	Key  string `toml:"key"` // hex ed25519 public key, 64 characters
}

// DefaultGenesis returns the defaults of every genesis key. chain_id,
// operator, the tariff and the members have no default.
func DefaultGenesis() Genesis {
	return Genesis{
		Version:             Version,
		SlotSeconds:         900,
		OpenLeadSeconds:     86400,
		GateLeadSeconds:     300,
		AttestWindowSeconds: 900,
		KPPM:                500_000,
		Authorities:         []Member{},
		Participants:        []Member{},
	}
}

// LoadGenesis reads the genesis file at path. Keys the file leaves out keep
// their DefaultGenesis value; the error joins every problem found.
func LoadGenesis(path string) (Genesis, error) {
	m, order, err := readTOML(path)
	if err != nil {
		return Genesis{}, err
	}
	return decodeGenesis(path, m, order)
}

// ParseGenesis is LoadGenesis for bytes already read; name is used in errors.
func ParseGenesis(name string, b []byte) (Genesis, error) {
	m, order, err := parseTOML(name, b)
	if err != nil {
		return Genesis{}, err
	}
	return decodeGenesis(name, m, order)
}

func decodeGenesis(path string, m map[string]any, order map[string]int) (Genesis, error) {
	p := &problems{file: path, order: order}
	g := DefaultGenesis()
	p.checkVersion(m)
	p.decodeTable("", m, reflect.ValueOf(&g).Elem())
	g.validate(p)
	if err := p.err(); err != nil {
		return Genesis{}, err
	}
	return g, nil
}

// Validate checks g as LoadGenesis does; name is used in errors.
func (g Genesis) Validate(name string) error {
	p := &problems{file: name}
	if g.Version != Version {
		p.add("version", "expected 1, got %d", g.Version)
	}
	g.validate(p)
	return p.err()
}

func (g Genesis) validate(p *problems) {
	if !chainIDOK(g.ChainID) {
		p.add("chain_id", "expected 1 to 64 characters from a-z, A-Z, 0-9, '.', '_', '-', got %q", g.ChainID)
	}
	if g.Epoch < 0 {
		p.add("epoch", "expected unix seconds >= 0, got %d", g.Epoch)
	}
	if g.SlotSeconds <= 0 {
		p.add("slot_seconds", "expected a slot length in seconds > 0, got %d", g.SlotSeconds)
	}
	if g.OpenLeadSeconds <= 0 {
		p.add("open_lead_seconds", "expected seconds > 0, got %d", g.OpenLeadSeconds)
	}
	if g.GateLeadSeconds < 0 {
		p.add("gate_lead_seconds", "expected seconds >= 0, got %d", g.GateLeadSeconds)
	} else if g.OpenLeadSeconds > 0 && g.GateLeadSeconds >= g.OpenLeadSeconds {
		p.add("gate_lead_seconds", "expected less than open_lead_seconds (%d), got %d", g.OpenLeadSeconds, g.GateLeadSeconds)
	}
	if g.AttestWindowSeconds <= 0 {
		p.add("attest_window_seconds", "expected seconds > 0, got %d", g.AttestWindowSeconds)
	}
	if !keyOK(g.Operator) {
		p.add("operator", "expected a hex ed25519 public key (64 lowercase hex characters), got %q", g.Operator)
	}
	if g.KPPM < 0 || g.KPPM > 1_000_000 {
		p.add("k_ppm", "expected parts per million from 0 to 1000000, got %d", g.KPPM)
	}

	t := g.Tariff
	if t.Floor < 0 {
		p.add("tariff.floor", "expected micro-units per kWh >= 0, got %d", int64(t.Floor))
	}
	if t.Fee < 0 {
		p.add("tariff.fee", "expected micro-units per kWh >= 0, got %d", int64(t.Fee))
	}
	if t.LateSeconds < 0 || t.LateSeconds > MaxLateSeconds {
		p.add("tariff.late_seconds", "expected seconds from 0 to %d (a month), got %d", MaxLateSeconds, t.LateSeconds)
	}
	if t.Ceiling <= 0 {
		p.add("tariff.ceiling", "expected micro-units per kWh > 0, got %d", int64(t.Ceiling))
	} else if t.Floor >= 0 && t.Fee >= 0 && t.Floor > t.Ceiling-t.Fee {
		p.add("tariff", "expected floor + fee <= ceiling, got floor %d + fee %d > ceiling %d", int64(t.Floor), int64(t.Fee), int64(t.Ceiling))
	}

	g.releaseKeys(p)

	if len(g.Authorities) == 0 || (!g.Dev && len(g.Authorities) < MinAuthorities) {
		p.add("authorities", "expected at least %d (or dev = true), got %d", MinAuthorities, len(g.Authorities))
	}
	seen := map[string]string{}
	g.members(p, "authorities", g.Authorities, seen)
	g.members(p, "participants", g.Participants, seen)
}

func (g Genesis) members(p *problems, list string, ms []Member, seen map[string]string) {
	names := map[string]bool{}
	for i, m := range ms {
		key := fmt.Sprintf("%s[%d]", list, i)
		if m.Name == "" || !printable(m.Name) || len(m.Name) > 64 {
			p.add(key+".name", "expected up to 64 printable characters, got %q", m.Name)
		} else if names[m.Name] {
			p.add(key+".name", "expected a name not used before in %s, got %q again", list, m.Name)
		}
		names[m.Name] = true
		if !keyOK(m.Key) {
			p.add(key+".key", "expected a hex ed25519 public key (64 lowercase hex characters), got %q", m.Key)
			continue
		}
		if prev, dup := seen[m.Key]; dup {
			p.add(key+".key", "expected a key not listed before, got the key of %s", prev)
			continue
		}
		seen[m.Key] = key
	}
}

func (g Genesis) releaseKeys(p *problems) {
	if len(g.Updates.Keys) > MaxReleaseKeys {
		p.add("updates.keys", "expected at most %d keys, got %d", MaxReleaseKeys, len(g.Updates.Keys))
		return
	}
	seen := map[string]int{}
	for i, k := range g.Updates.Keys {
		key := fmt.Sprintf("updates.keys[%d]", i)
		if !releaseKeyOK(k) {
			p.add(key, "expected a minisign public key (the second line of minisign.pub: 56 base64 characters starting with \"RW\"), got %q", k)
			continue
		}
		if j, dup := seen[k]; dup {
			p.add(key, "expected a key not listed before, got the key of updates.keys[%d] again", j)
			continue
		}
		seen[k] = i
	}
}

// releaseKeyOK reports whether s is a minisign Ed25519 public key: base64
// of "Ed", an 8-byte key id and a 32-byte key.
func releaseKeyOK(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) == 42 && b[0] == 'E' && b[1] == 'd' && base64.StdEncoding.EncodeToString(b) == s
}

// keyOK reports whether s is a hex ed25519 public key written as the chain
// writes accounts: 64 lowercase hex characters.
func keyOK(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func chainIDOK(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}
