package config

import (
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gridmesh/gridmesh/unit"
)

// Version is the only config file version this gridmesh reads.
const Version = 1

// Role is what a node does in its network (node.role).
type Role string

// Roles of a node.
const (
	RoleHome      Role = "home"      // a household: meter, trading agent, follows the chain
	RoleAuthority Role = "authority" // utility or co-op: admits participants, produces blocks
)

// Roles lists every Role, in the order messages name them.
var Roles = []Role{RoleHome, RoleAuthority}

// Driver names a meter driver (meter.driver).
type Driver string

// Meter drivers. The one switch that opens them is node.OpenMeter.
const (
	DriverSim        Driver = "sim"          // simulated PV and household load
	DriverModbusTCP  Driver = "modbus-tcp"   // Modbus TCP meter or gateway
	DriverRTUOverTCP Driver = "rtu-over-tcp" // Modbus RTU frames through a TCP serial server
	DriverModbusRTU  Driver = "modbus-rtu"   // Modbus RTU on a local serial port
	DriverDSMR       Driver = "dsmr"         // DSMR P1 telegrams from a serial read head
	DriverSML        Driver = "sml"          // SML telegrams from an optical read head
	DriverS0         Driver = "s0"           // S0 pulse inputs on GPIO
	DriverMQTT       Driver = "mqtt"         // readings published over MQTT
)

// IsModbus reports whether d is one of the Modbus drivers ([meter.modbus]).
func (d Driver) IsModbus() bool {
	return d == DriverModbusTCP || d == DriverRTUOverTCP || d == DriverModbusRTU
}

// IsSerial reports whether d reads telegrams from a serial port ([meter.serial]).
func (d Driver) IsSerial() bool { return d == DriverDSMR || d == DriverSML }

// Clock sources (node.clock).
const (
	ClockKernel = "kernel" // wait until the kernel reports NTP synchronisation
	ClockTrust  = "trust"  // take the host clock as it is
)

// MeterDrivers lists the meter drivers a node config may name; only
// SupportedMeterDrivers work in this version.
var (
	SupportedMeterDrivers = []Driver{DriverSim, DriverModbusTCP, DriverRTUOverTCP, DriverModbusRTU, DriverDSMR, DriverSML, DriverS0, DriverMQTT}
	plannedMeterDrivers   = []Driver{}
)

// Duration is a time.Duration written in TOML as a string such as "1s" or "15m".
type Duration struct{ time.Duration }

// UnmarshalText parses a duration such as "1s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("expected a duration such as \"1s\", got %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as time.Duration.String does ("1m30s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Node is one node's config file (node.toml). See configs/node.example.toml.
type Node struct {
	Version int           `toml:"version"`
	Node    NodeSection   `toml:"node"`
	Network Network       `toml:"network"`
	API     API           `toml:"api"`
	Meter   Meter         `toml:"meter"`
	Trading Trading       `toml:"trading"`
	Battery Battery       `toml:"battery"`
	Flex    Flex          `toml:"flex"`
	HA      HomeAssistant `toml:"homeassistant"`
	Log     Log           `toml:"log"`
	Updates Updates       `toml:"updates"`

	// Dir is the directory of the file the config was loaded from; relative
	// paths in the config are relative to it (see Path). "" = working directory.
	Dir string `toml:"-"`
}

// NodeSection is [node]: who this node is and where it keeps its data.
type NodeSection struct {
	Name string `toml:"name"` // shown to people (logs, dashboard, admission)
	Role Role   `toml:"role"` // RoleHome or RoleAuthority
	Key  string `toml:"key"`  // ed25519 key file (mode 0600), from `gridmesh init`
	Data string `toml:"data"` // data directory (chain and meter journal)
	// Clock says how the node knows its clock is right: ClockKernel waits for the
	// kernel to report NTP synchronisation (a Pi has no real-time clock);
	// ClockTrust takes the host clock as it is (demo, tests, hosts without NTP).
	Clock string `toml:"clock"`
	// MemoryLimitMiB is the soft memory limit the node gives the Go runtime
	// (runtime/debug.SetMemoryLimit): past it the collector runs more often
	// and returns freed pages to the system, so the heap badger's flushes and
	// compactions leave behind does not stay in RSS. 0 means the role's
	// default (DefaultMemoryLimitMiB); the GOMEMLIMIT environment variable,
	// if set, wins over both.
	MemoryLimitMiB int64 `toml:"memory_limit_mib"`
}

// DefaultMemoryLimitMiB is the soft memory limit of a role when its config
// says 0: the RSS budget (home 64 MB, authority 96 MB; README, issue 19) less
// what the limit does not count (the executable's pages, about 24 MB, and the
// store's mapped files, under 4 MB) and some headroom.
func DefaultMemoryLimitMiB(r Role) int64 {
	if r == RoleAuthority {
		return 64
	}
	return 32
}

// MemoryLimit is the soft memory limit in bytes for this node: MemoryLimitMiB,
// or the role's default when it is 0.
func (s NodeSection) MemoryLimit() int64 {
	if s.MemoryLimitMiB != 0 {
		return s.MemoryLimitMiB << 20
	}
	return DefaultMemoryLimitMiB(s.Role) << 20
}

// Network is [network]: the network to join and how to reach peers.
type Network struct {
	Genesis   string   `toml:"genesis"`   // the network's genesis file
	Listen    []string `toml:"listen"`    // libp2p multiaddrs
	Bootstrap []string `toml:"bootstrap"` // full multiaddrs with /p2p/<id>, usually authorities
	MDNS      bool     `toml:"mdns"`      // discover peers on the LAN
	DHT       bool     `toml:"dht"`       // meet peers beyond the LAN through the network's own DHT
	// Followers is how many peers besides the authorities this node serves
	// the chain's head to at a time; 0 means the role's default (2;
	// node/follow.go).
	Followers int `toml:"followers"`
	// AuditFile, if set, is where the node writes a copy of every byte it
	// sends to its peers, in the clear (before Noise or QUIC encrypts it),
	// framed with the time, the peer and the stream; `gridmesh audit FILE`
	// shows it. The file is rewritten at every start and stops growing at
	// AuditMaxMiB. "" (the default) records nothing.
	AuditFile   string `toml:"audit_file"`
	AuditMaxMiB int64  `toml:"audit_max_mib"` // the audit file's size cap, MiB; default 64
	// StateSync lets a home that is far behind (new, or long offline) join
	// from a state snapshot its peers serve, verified against a certified
	// block, instead of replaying every block (node/statesync). Default
	// true; authorities ignore it (they archive every block).
	StateSync bool `toml:"state_sync"`
}

// API is [api]: the local HTTP API and dashboard.
type API struct {
	Listen string `toml:"listen"` // host:port
	// Hosts are further names the API answers to in the Host header (a
	// DNS name a utility's Prometheus or a homeowner's browser uses),
	// beside IP addresses, localhost, the listen host, node.name and the
	// machine's host name (each also with .local). Any other name is
	// refused: a web page cannot read the API through DNS rebinding.
	Hosts []string `toml:"hosts"`
	// PublicChain opens the public chain views to everyone who reaches the
	// API when it is served beyond loopback: the explorer and network pages
	// and the read API's chain routes (blocks, transactions, slots, trades,
	// accounts and statements, search, authorities, peers, status, events).
	// The home page, the home's meter readings (/api/v1/home,
	// /api/v1/home/power), /metrics and every POST still need the login.
	// Default false: everything beyond loopback needs the login.
	PublicChain bool `toml:"public_chain"`
}

// Meter is [meter]: which meter to read and how often.
type Meter struct {
	Driver    Driver      `toml:"driver"`      // one of SupportedMeterDrivers
	Interval  Duration    `toml:"interval"`    // sampling interval
	MaxPowerW unit.W      `toml:"max_power_w"` // connection rating; readings beyond it are rejected
	Sim       MeterSim    `toml:"sim"`
	Modbus    MeterModbus `toml:"modbus"` // modbus-tcp, rtu-over-tcp, modbus-rtu
	Serial    MeterSerial `toml:"serial"` // dsmr, sml
	S0        MeterS0     `toml:"s0"`
	MQTT      MeterMQTT   `toml:"mqtt"`
}

// MeterModbus is [meter.modbus]: a Modbus meter and its profile
// (configs/meters). Addr is used by modbus-tcp and rtu-over-tcp, Device, Baud
// and Parity by modbus-rtu.
type MeterModbus struct {
	Addr    string   `toml:"addr"`    // HOST:PORT of the meter or serial gateway
	Device  string   `toml:"device"`  // serial port, e.g. /dev/ttyUSB0
	Baud    int64    `toml:"baud"`    // default 9600
	Parity  string   `toml:"parity"`  // "N", "E" or "O"
	ID      int64    `toml:"id"`      // unit id, 1-247
	Profile string   `toml:"profile"` // e.g. "sdm630"
	Timeout Duration `toml:"timeout"` // per request
}

// MeterSerial is [meter.serial]: a read head on a serial port for dsmr (P1)
// or sml (optical). Baud 0 means the protocol's usual speed: 115200 8N1 for
// DSMR 4/5 (9600 selects 7E1, DSMR 2.2/3), 9600 8N1 for SML.
type MeterSerial struct {
	Device string `toml:"device"`
	Baud   int64  `toml:"baud"`
	Key    string `toml:"key"` // DSMR: hex AES-128 key of an encrypted meter (Luxembourg Smarty)
}

// MeterS0 is [meter.s0]: S0 pulse inputs on GPIO pins.
type MeterS0 struct {
	ImportPin string `toml:"import_pin"` // e.g. "GPIO17"
	ExportPin string `toml:"export_pin"` // "" = no export counter
	Impulses  int64  `toml:"impulses"`   // impulses per kWh, from the meter's label
}

// MeterMQTT is [meter.mqtt]: a meter whose readings arrive over MQTT.
type MeterMQTT struct {
	Broker     string   `toml:"broker"` // tcp://HOST:PORT
	Topic      string   `toml:"topic"`
	Format     string   `toml:"format"` // "tasmota", "shelly" or "json"
	ImportPath string   `toml:"import_path"`
	ExportPath string   `toml:"export_path"`
	PowerPath  string   `toml:"power_path"`
	EnergyUnit string   `toml:"energy_unit"` // "Wh" or "kWh"
	Username   string   `toml:"username"`
	Password   string   `toml:"password"`
	Stale      Duration `toml:"stale"` // readings older than this are refused
}

// HomeAssistant is [homeassistant]: publish readings and trading state to an
// MQTT broker with Home Assistant discovery.
type HomeAssistant struct {
	Enabled  bool   `toml:"enabled"`
	Broker   string `toml:"broker"` // tcp://HOST:PORT
	Username string `toml:"username"`
	Password string `toml:"password"`
}

// MeterSim is [meter.sim]: the simulated meter (PV and household load).
type MeterSim struct {
	Seed    int64  `toml:"seed"`
	PVPeakW unit.W `toml:"pv_peak_w"` // PV peak power at noon
	LoadW   unit.W `toml:"load_w"`    // average household load
	Speed   int64  `toml:"speed"`     // simulated seconds per real second
}

// MaxReplaces bounds [trading] max_replaces: each replace is a transaction
// every node checks and the orders topic carries.
const MaxReplaces = 20

// Trading is [trading]: the homeowner's limits for the trading agent, in
// micro-units of the network currency per kWh.
type Trading struct {
	Enabled      bool       `toml:"enabled"`
	SellMinPrice unit.Price `toml:"sell_min_price"` // never sell below this
	BuyMaxPrice  unit.Price `toml:"buy_max_price"`  // never buy above this
	// MaxReplaces is how many times per slot the agent re-prices its order
	// (by replacing it) on its way from a cautious price to the limit; 0
	// places the order at the limit at once and never re-prices.
	MaxReplaces int `toml:"max_replaces"`
}

// Battery is [battery]: a home battery behind the meter. CapacityWh 0 (the
// default) means none; with a capacity, the other keys must describe it.
// Energies in Wh, powers in W, the round-trip efficiency in per-mille (900 =
// 90 %). The state of charge is simulated from the home's own energy flows,
// starting at the reserve (source = "sim", the only one so far).
type Battery struct {
	CapacityWh         unit.Wh `toml:"capacity_wh"`         // usable capacity
	ReserveWh          unit.Wh `toml:"reserve_wh"`          // never discharged (backup)
	MaxChargeW         unit.W  `toml:"max_charge_w"`        // most charging power
	MaxDischargeW      unit.W  `toml:"max_discharge_w"`     // most discharging power
	EfficiencyPermille int64   `toml:"efficiency_permille"` // round trip, 1 to 1000
	Source             string  `toml:"source"`              // where the state of charge comes from: "sim"
}

// Present reports whether the config describes a battery.
func (b Battery) Present() bool { return b.CapacityWh > 0 }

// Flex is [flex]: a flexible load behind the meter, such as an electric car
// plugged in overnight or a heat pump heating a hot-water tank, that needs
// EnergyWh in every daily window from From until Until (times of day,
// "HH:MM"; the window may run past midnight) and takes between MinPowerW and
// MaxPowerW while it still needs energy. EnergyWh 0 (the default) means none.
// MaxPrice is the most the homeowner pays for it per kWh, fee included, in
// micro-units. The load is simulated behind a simulated meter (source =
// "sim", the only one so far): what it buys it consumes, and the meter shows.
type Flex struct {
	EnergyWh  unit.Wh    `toml:"energy_wh"`   // needed in each window
	MinPowerW unit.W     `toml:"min_power_w"` // it runs at least this while it needs energy
	MaxPowerW unit.W     `toml:"max_power_w"` // the most it draws
	MaxPrice  unit.Price `toml:"max_price"`   // micro-units per kWh, fee included
	From      string     `toml:"from"`        // the window opens, "HH:MM"
	Until     string     `toml:"until"`       // the deadline, "HH:MM"
	Source    string     `toml:"source"`      // "sim"
}

// Present reports whether the config describes a flexible load.
func (f Flex) Present() bool { return f.EnergyWh > 0 }

// Window returns the window's opening and deadline as times of day, ok
// false unless both are "HH:MM" (00:00 to 23:59) and differ.
func (f Flex) Window() (from, until time.Duration, ok bool) {
	from, okF := timeOfDay(f.From)
	until, okU := timeOfDay(f.Until)
	return from, until, okF && okU && from != until
}

// Length is the window's length (Window must be ok).
func (f Flex) Length() time.Duration {
	from, until, _ := f.Window()
	return ((until-from)%(24*time.Hour) + 24*time.Hour) % (24 * time.Hour)
}

func timeOfDay(s string) (time.Duration, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, false
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, true
}

// Updates is [updates]: whether the node installs a release the
// authorities announced on chain by itself (node/release.go).
type Updates struct {
	// Auto: when the chain announces a release newer than this node's, fetch
	// it from a peer, verify it as `gridmesh update apply` does and install
	// it into the inactive slot, on trial. Default false: the node only says
	// that a release was announced (status "announced"), and someone runs
	// `gridmesh update apply`. Written to node.toml only when true: a
	// release before the key refuses it, so set it once a release that
	// knows it is kept.
	Auto bool `toml:"auto"`
	// Window: the node waits a random time in [0, window) after it sees an
	// announcement before it fetches, so that a neighbourhood does not
	// download and restart at once. Default 30m; at most 24h.
	Window Duration `toml:"window"`
}

// MaxUpdateWindow bounds updates.window.
const MaxUpdateWindow = 24 * time.Hour

// Log is [log].
type Log struct {
	Level  string `toml:"level"`  // "debug", "info", "warn", "error"
	Format string `toml:"format"` // "text" or "json"
}

// DefaultNode returns the defaults of every node config key. Name and role
// have no default: a config must say them.
func DefaultNode() Node {
	return Node{
		Version: Version,
		Node: NodeSection{
			Key:   "node.key",
			Data:  "data",
			Clock: ClockKernel,
		},
		Network: Network{
			Genesis:   "genesis.toml",
			Listen:    []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"},
			Bootstrap: []string{},
			MDNS:      true,
			DHT:       false,
			// AuditFile "": no capture.
			AuditMaxMiB: 64,
			StateSync:   true,
		},
		API: API{Listen: "127.0.0.1:8080", Hosts: []string{}},
		Meter: Meter{
			Driver:    DriverSim,
			Interval:  Duration{time.Second},
			MaxPowerW: 17250, // 3 × 25 A × 230 V
			Sim:       MeterSim{PVPeakW: 4000, LoadW: 600, Speed: 1},
			Modbus:    MeterModbus{Baud: 9600, Parity: "N", ID: 1, Timeout: Duration{2 * time.Second}},
			S0:        MeterS0{Impulses: 1000},
			MQTT:      MeterMQTT{Format: "tasmota", EnergyUnit: "kWh", Stale: Duration{330 * time.Second}},
		},
		HA:      HomeAssistant{Broker: "tcp://127.0.0.1:1883"},
		Trading: Trading{Enabled: true, SellMinPrice: 90_000, BuyMaxPrice: 280_000, MaxReplaces: 3},
		Battery: Battery{EfficiencyPermille: 900, Source: "sim"},
		Flex:    Flex{From: "18:00", Until: "07:00", Source: "sim"},
		Log:     Log{Level: "info", Format: "text"},
		Updates: Updates{Window: Duration{30 * time.Minute}},
	}
}

// Path resolves p, a path from the config, against the config file's
// directory. Absolute paths and a config without Dir are returned unchanged.
func (n Node) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || n.Dir == "" {
		return p
	}
	return filepath.Join(n.Dir, p)
}

// LoadNode reads the node config at path. Keys the file leaves out keep their
// DefaultNode value. The error, if any, joins every problem found, each
// naming path, the key and what was expected. Node.Dir is set to path's
// directory.
func LoadNode(path string) (Node, error) {
	m, order, err := readTOML(path)
	if err != nil {
		return Node{}, err
	}
	return decodeNode(path, m, order)
}

// ParseNode is LoadNode for bytes already read; name is used in errors and
// its directory becomes Node.Dir.
func ParseNode(name string, b []byte) (Node, error) {
	m, order, err := parseTOML(name, b)
	if err != nil {
		return Node{}, err
	}
	return decodeNode(name, m, order)
}

func decodeNode(path string, m map[string]any, order map[string]int) (Node, error) {
	p := &problems{file: path, order: order}
	n := DefaultNode()
	p.checkVersion(m)
	p.decodeTable("", m, reflect.ValueOf(&n).Elem())
	n.validate(p)
	if err := p.err(); err != nil {
		return Node{}, err
	}
	n.Dir = filepath.Dir(path)
	return n, nil
}

// Validate checks the values of n as LoadNode does; name is used in errors.
func (n Node) Validate(name string) error {
	p := &problems{file: name}
	if n.Version != Version {
		p.add("version", "expected 1, got %d", n.Version)
	}
	n.validate(p)
	return p.err()
}

func (n Node) validate(p *problems) {
	if strings.TrimSpace(n.Node.Name) == "" {
		p.add("node.name", "expected a name for this node, such as \"home-12\", got \"\"")
	} else if !printable(n.Node.Name) || len(n.Node.Name) > 64 {
		p.add("node.name", "expected up to 64 printable characters, got %q", n.Node.Name)
	}
	oneOf(p, "node.role", n.Node.Role, Roles...)
	p.oneOf("node.clock", n.Node.Clock, ClockKernel, ClockTrust)
	if n.Node.Key == "" {
		p.add("node.key", "expected the path of the key file, such as \"node.key\", got \"\"")
	}
	if n.Node.Data == "" {
		p.add("node.data", "expected the path of the data directory, such as \"data\", got \"\"")
	}

	if n.Network.Genesis == "" {
		p.add("network.genesis", "expected the path of the genesis file, such as \"genesis.toml\", got \"\"")
	}
	if len(n.Network.Listen) == 0 {
		p.add("network.listen", "expected at least one multiaddr, such as \"/ip4/0.0.0.0/tcp/4001\"")
	}
	for i, a := range n.Network.Listen {
		if !multiaddrLike(a) {
			p.add(fmt.Sprintf("network.listen[%d]", i), "expected a multiaddr such as \"/ip4/0.0.0.0/tcp/4001\", got %q", a)
		}
	}
	for i, a := range n.Network.Bootstrap {
		if !multiaddrLike(a) || !strings.Contains(a, "/p2p/") {
			p.add(fmt.Sprintf("network.bootstrap[%d]", i), "expected a multiaddr with a peer id such as \"/ip4/192.0.2.1/tcp/4001/p2p/12D3KooW...\", got %q", a)
		}
	}

	if _, port, err := net.SplitHostPort(n.API.Listen); err != nil {
		p.add("api.listen", "expected host:port such as \"127.0.0.1:8080\", got %q", n.API.Listen)
	} else if v, err := strconv.ParseUint(port, 10, 16); err != nil || (port != "0" && v == 0) {
		p.add("api.listen", "expected a port number from 0 to 65535, got %q", port)
	}

	for i, h := range n.API.Hosts {
		if !hostnameLike(h) {
			p.add(fmt.Sprintf("api.hosts[%d]", i), "expected a DNS name such as \"pi.example.net\" (no port, no scheme), got %q", h)
		}
	}
	if len(n.API.Hosts) > 32 {
		p.add("api.hosts", "expected at most 32 names, got %d", len(n.API.Hosts))
	}

	if m := n.Node.MemoryLimitMiB; m != 0 && (m < 16 || m > 1<<16) {
		p.add("node.memory_limit_mib", "expected 0 (the role's default) or 16 to 65536 MiB, got %d", m)
	}
	if n.Network.AuditMaxMiB < 1 || n.Network.AuditMaxMiB > 1<<20 {
		p.add("network.audit_max_mib", "expected the audit file's size cap in MiB, 1 to 1048576, got %d", n.Network.AuditMaxMiB)
	}
	if n.Network.Followers < 0 || n.Network.Followers > 1000 {
		p.add("network.followers", "expected 0 (the role's default) to 1000, got %d", n.Network.Followers)
	}

	switch d := n.Meter.Driver; {
	case slices.Contains(SupportedMeterDrivers, d):
	case slices.Contains(plannedMeterDrivers, d):
		p.add("meter.driver", "%q is not yet supported by this version; expected \"sim\"", d)
	default:
		oneOf(p, "meter.driver", d, SupportedMeterDrivers...)
	}
	if n.Meter.Interval.Duration < 100*time.Millisecond {
		p.add("meter.interval", "expected a duration of at least \"100ms\", got %q", n.Meter.Interval.Duration.String())
	}
	if n.Meter.MaxPowerW <= 0 {
		p.add("meter.max_power_w", "expected the connection rating in watts (> 0), got %d", int64(n.Meter.MaxPowerW))
	}
	n.validateMeterDriver(p)
	if n.Meter.Sim.PVPeakW < 0 {
		p.add("meter.sim.pv_peak_w", "expected watts >= 0, got %d", int64(n.Meter.Sim.PVPeakW))
	}
	if n.Meter.Sim.LoadW < 0 {
		p.add("meter.sim.load_w", "expected watts >= 0, got %d", int64(n.Meter.Sim.LoadW))
	}
	if n.Meter.Sim.Speed < 1 {
		p.add("meter.sim.speed", "expected simulated seconds per real second >= 1, got %d", n.Meter.Sim.Speed)
	}

	if n.Trading.SellMinPrice < 0 {
		p.add("trading.sell_min_price", "expected micro-units per kWh >= 0, got %d", int64(n.Trading.SellMinPrice))
	}
	if n.Trading.BuyMaxPrice < 0 {
		p.add("trading.buy_max_price", "expected micro-units per kWh >= 0, got %d", int64(n.Trading.BuyMaxPrice))
	}
	if n.Trading.MaxReplaces < 0 || n.Trading.MaxReplaces > MaxReplaces {
		p.add("trading.max_replaces", "expected replaces per slot in [0, %d], got %d", MaxReplaces, n.Trading.MaxReplaces)
	}
	n.validateBattery(p)
	n.validateFlex(p)

	if w := n.Updates.Window.Duration; w < 0 || w > MaxUpdateWindow {
		p.add("updates.window", "expected a duration from 0s to 24h, got %s", w)
	}
	p.oneOf("log.level", n.Log.Level, "debug", "info", "warn", "error")
	p.oneOf("log.format", n.Log.Format, "text", "json")
}

// multiaddrLike is the check a file alone allows without a multiaddr parser:
// a slash-separated path with an even number of non-empty parts after the
// protocol list starts. The p2p layer parses it properly.
func multiaddrLike(a string) bool {
	if !strings.HasPrefix(a, "/") || strings.HasSuffix(a, "/") || strings.Contains(a, "//") {
		return false
	}
	return printable(a) && !strings.ContainsAny(a, " \t")
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// validateMeterDriver checks the section the chosen driver reads.
func (n Node) validateMeterDriver(p *problems) {
	m := n.Meter
	need := func(key, val, example string) {
		if strings.TrimSpace(val) == "" {
			p.add(key, "expected %s for meter.driver = %q, got \"\"", example, m.Driver)
		}
	}
	switch m.Driver {
	case DriverModbusTCP, DriverRTUOverTCP, DriverModbusRTU:
		if m.Driver == DriverModbusRTU {
			need("meter.modbus.device", m.Modbus.Device, "a serial port such as \"/dev/ttyUSB0\"")
			p.oneOf("meter.modbus.parity", m.Modbus.Parity, "N", "E", "O")
		} else if _, _, err := net.SplitHostPort(m.Modbus.Addr); err != nil {
			p.add("meter.modbus.addr", "expected HOST:PORT such as \"192.168.1.50:502\" for meter.driver = %q, got %q", m.Driver, m.Modbus.Addr)
		}
		need("meter.modbus.profile", m.Modbus.Profile, "a meter profile such as \"sdm630\" (gridmesh meter scan guesses it)")
		if m.Modbus.ID < 1 || m.Modbus.ID > 247 {
			p.add("meter.modbus.id", "expected a unit id from 1 to 247, got %d", m.Modbus.ID)
		}
		if m.Modbus.Baud <= 0 {
			p.add("meter.modbus.baud", "expected a serial speed such as 9600, got %d", m.Modbus.Baud)
		}
		if m.Modbus.Timeout.Duration <= 0 {
			p.add("meter.modbus.timeout", "expected a positive duration such as \"2s\", got %q", m.Modbus.Timeout.Duration.String())
		}
	case DriverDSMR, DriverSML:
		need("meter.serial.device", m.Serial.Device, "a serial port such as \"/dev/ttyUSB0\"")
		if m.Serial.Baud < 0 {
			p.add("meter.serial.baud", "expected a serial speed such as 115200 (or 0 for the protocol's usual one), got %d", m.Serial.Baud)
		}
		if k := m.Serial.Key; k != "" && (m.Driver != DriverDSMR || len(k) != 32 || !isHex(k)) {
			p.add("meter.serial.key", "expected 32 hex digits (an AES-128 key of an encrypted DSMR meter), got %d characters", len(k))
		}
	case DriverS0:
		need("meter.s0.import_pin", m.S0.ImportPin, "a GPIO pin such as \"GPIO17\"")
		if m.S0.Impulses <= 0 {
			p.add("meter.s0.impulses", "expected the impulses per kWh printed on the meter (such as 1000), got %d", m.S0.Impulses)
		}
	case DriverMQTT:
		need("meter.mqtt.broker", m.MQTT.Broker, "a broker URL such as \"tcp://127.0.0.1:1883\"")
		need("meter.mqtt.topic", m.MQTT.Topic, "the device's topic")
		if p.oneOf("meter.mqtt.format", m.MQTT.Format, "tasmota", "shelly", "json") && m.MQTT.Format == "json" {
			need("meter.mqtt.import_path", m.MQTT.ImportPath, "the dot-separated path of the import counter")
			p.oneOf("meter.mqtt.energy_unit", m.MQTT.EnergyUnit, "Wh", "kWh")
		}
		if m.MQTT.Stale.Duration <= 0 {
			p.add("meter.mqtt.stale", "expected a positive duration such as \"330s\", got %q", m.MQTT.Stale.Duration.String())
		}
	}
	if n.HA.Enabled {
		need("homeassistant.broker", n.HA.Broker, "a broker URL such as \"tcp://127.0.0.1:1883\"")
	}
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// hostnameLike reports whether s is a DNS name: labels of letters, digits
// and hyphens, separated by dots, at most 253 bytes.
func hostnameLike(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// MaxBatteryWh bounds [battery] capacity_wh: 10 MWh, far beyond a home's.
const MaxBatteryWh unit.Wh = 10_000_000

// validateBattery checks [battery]: nothing when capacity_wh is 0, else a
// reserve inside the capacity, positive power limits within the
// connection's rating (meter.max_power_w) and an efficiency in (0, 1000].
func (n Node) validateBattery(p *problems) {
	b := n.Battery
	if b.CapacityWh < 0 || b.CapacityWh > MaxBatteryWh {
		p.add("battery.capacity_wh", "expected watt-hours in [0, %d] (0 = no battery), got %d", int64(MaxBatteryWh), int64(b.CapacityWh))
		return
	}
	if b.Source != "sim" {
		p.add("battery.source", `expected "sim" (the state of charge simulated from the home's energy flows), got %q`, b.Source)
	}
	if !b.Present() {
		return
	}
	if b.Source == "sim" && n.Meter.Driver != DriverSim {
		p.add("battery.source", `"sim" simulates the battery behind a simulated meter: expected meter.driver = "sim", got %q (a real battery's state of charge over MQTT or Modbus is not supported yet)`, n.Meter.Driver)
	}
	if b.ReserveWh < 0 || b.ReserveWh > b.CapacityWh {
		p.add("battery.reserve_wh", "expected watt-hours in [0, capacity_wh = %d], got %d", int64(b.CapacityWh), int64(b.ReserveWh))
	}
	if b.MaxChargeW < 1 || b.MaxChargeW > n.Meter.MaxPowerW {
		p.add("battery.max_charge_w", "expected watts in [1, meter.max_power_w = %d], got %d", int64(n.Meter.MaxPowerW), int64(b.MaxChargeW))
	}
	if b.MaxDischargeW < 1 || b.MaxDischargeW > n.Meter.MaxPowerW {
		p.add("battery.max_discharge_w", "expected watts in [1, meter.max_power_w = %d], got %d", int64(n.Meter.MaxPowerW), int64(b.MaxDischargeW))
	}
	if b.EfficiencyPermille < 1 || b.EfficiencyPermille > 1000 {
		p.add("battery.efficiency_permille", "expected a round-trip efficiency in per-mille, 1 to 1000 (900 = 90 %%), got %d", b.EfficiencyPermille)
	}
}

// maxFlexPrice bounds flex.max_price: market.MaxPrice (1000 currency units
// per kWh), which config may not import.
const maxFlexPrice unit.Price = 1_000_000_000

// validateFlex checks [flex]: nothing when energy_wh is 0, else a window of
// two times of day, power limits within the connection's rating, a price,
// an energy the window can hold at max_power_w, a simulated meter, and no
// [battery] beside it (one home with both is not supported yet).
func (n Node) validateFlex(p *problems) {
	f := n.Flex
	if f.EnergyWh < 0 || f.EnergyWh > MaxBatteryWh {
		p.add("flex.energy_wh", "expected watt-hours in [0, %d] (0 = no flexible load), got %d", int64(MaxBatteryWh), int64(f.EnergyWh))
		return
	}
	if f.Source != "sim" {
		p.add("flex.source", `expected "sim" (a load simulated behind the simulated meter), got %q`, f.Source)
	}
	if !f.Present() {
		return
	}
	if f.Source == "sim" && n.Meter.Driver != DriverSim {
		p.add("flex.source", `"sim" simulates the load behind a simulated meter: expected meter.driver = "sim", got %q (switching a real charger or heat pump is not supported yet)`, n.Meter.Driver)
	}
	if n.Battery.Present() {
		p.add("flex.energy_wh", "a home with both [battery] and [flex] is not supported yet: set battery.capacity_wh or flex.energy_wh to 0")
	}
	if _, ok := timeOfDay(f.From); !ok {
		p.add("flex.from", `expected a time of day "HH:MM" such as "18:00", got %q`, f.From)
	}
	if _, ok := timeOfDay(f.Until); !ok {
		p.add("flex.until", `expected a time of day "HH:MM" such as "07:00", got %q`, f.Until)
	} else if f.Until == f.From {
		p.add("flex.until", "expected a deadline other than flex.from = %q (the window would be empty)", f.From)
	}
	powerOK := f.MaxPowerW >= 1 && f.MaxPowerW <= n.Meter.MaxPowerW
	if !powerOK {
		p.add("flex.max_power_w", "expected watts in [1, meter.max_power_w = %d], got %d", int64(n.Meter.MaxPowerW), int64(f.MaxPowerW))
	}
	if f.MinPowerW < 0 || f.MinPowerW > max(f.MaxPowerW, 0) {
		p.add("flex.min_power_w", "expected watts in [0, max_power_w = %d], got %d", int64(f.MaxPowerW), int64(f.MinPowerW))
	}
	if f.MaxPrice < 1 || f.MaxPrice > maxFlexPrice {
		p.add("flex.max_price", "expected micro-units per kWh in [1, %d], got %d", int64(maxFlexPrice), int64(f.MaxPrice))
	}
	if _, _, ok := f.Window(); ok && powerOK {
		if most := unit.Wh(int64(f.MaxPowerW) * int64(f.Length()/time.Second) / 3600); f.EnergyWh > most {
			p.add("flex.energy_wh", "expected at most %d Wh, what max_power_w = %d W gives from %s to %s, got %d", int64(most), int64(f.MaxPowerW), f.From, f.Until, int64(f.EnergyWh))
		}
	}
}
