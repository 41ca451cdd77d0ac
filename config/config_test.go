package config

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const minimalNode = "version = 1\n[node]\nname = \"h1\"\nrole = \"home\"\n"

func TestLoadNodeExample(t *testing.T) {
	path := filepath.Join("..", "configs", "node.example.toml")
	got, err := LoadNode(path)
	if err != nil {
		t.Fatalf("LoadNode(%s): %v", path, err)
	}
	want := DefaultNode()
	want.Node.Name = "home-12"
	want.Node.Role = RoleHome
	want.Dir = filepath.Dir(path)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("example differs from DefaultNode plus name/role (-want +got):\n%s", diff)
	}
}

func TestLoadGenesisExample(t *testing.T) {
	path := filepath.Join("..", "configs", "genesis.example.toml")
	g, err := LoadGenesis(path)
	if err != nil {
		t.Fatalf("LoadGenesis(%s): %v", path, err)
	}
	if g.ChainID != "gridmesh-example-1" || len(g.Authorities) != 4 || len(g.Participants) != 2 {
		t.Errorf("got chain %q, %d authorities, %d participants; want gridmesh-example-1, 4, 2", g.ChainID, len(g.Authorities), len(g.Participants))
	}
	if g.SlotSeconds != 900 || g.KPPM != 500_000 || g.Tariff.Ceiling != 300_000 {
		t.Errorf("got slot %d, k %d, ceiling %d; want 900, 500000, 300000", g.SlotSeconds, g.KPPM, g.Tariff.Ceiling)
	}
}

func TestLoadNodeDefaults(t *testing.T) {
	dir := t.TempDir()
	got, err := LoadNode(writeFile(t, dir, "node.toml", minimalNode))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultNode()
	want.Node.Name, want.Node.Role, want.Dir = "h1", RoleHome, dir
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got.Meter.Interval.Duration != time.Second || got.Meter.MaxPowerW != 17250 || got.Trading.BuyMaxPrice != 280000 || got.Trading.MaxReplaces != 3 {
		t.Errorf("defaults: got interval %v, max power %d, buy max %d, max replaces %d; want 1s, 17250, 280000, 3 (market/PRICES.md)",
			got.Meter.Interval, got.Meter.MaxPowerW, got.Trading.BuyMaxPrice, got.Trading.MaxReplaces)
	}
}

func TestNodePath(t *testing.T) {
	n := Node{Dir: filepath.Join("etc", "gridmesh")}
	abs, _ := filepath.Abs("/x/node.key")
	for _, tc := range []struct{ in, want string }{
		{"node.key", filepath.Join("etc", "gridmesh", "node.key")},
		{"sub/data", filepath.Join("etc", "gridmesh", "sub", "data")},
		{abs, abs},
		{"", ""},
	} {
		if got := n.Path(tc.in); got != tc.want {
			t.Errorf("Path(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := (Node{}).Path("node.key"); got != "node.key" {
		t.Errorf("Path without Dir = %q, want node.key", got)
	}
}

func TestLoadNodeProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
		want []string // each a whole line of the error
	}{
		{"bad duration", minimalNode + "[meter]\ninterval = \"abc\"\n",
			[]string{`node.toml: meter.interval: expected a duration such as "1s", got "abc"`}},
		{"unknown keys", "colour = 1\n" + minimalNode + "[meter]\nintervall = \"1s\"\n",
			[]string{
				"node.toml: colour: unknown key (known keys here: version, node, network, api, meter, trading, battery, flex, homeassistant, log, updates)",
				"node.toml: meter.intervall: unknown key (known keys here: driver, interval, max_power_w, sim, modbus, serial, s0, mqtt)",
			}},
		{"many at once", "version = 2\n[node]\nname = 5\nrole = \"home\"\n[api]\nlisten = true\n[log]\nlevel = \"loud\"\n",
			[]string{
				"node.toml: version: expected 1 (the only version this gridmesh reads), got 2",
				"node.toml: api.listen: expected a string, got true",
				"node.toml: node.name: expected a string, got 5",
				`node.toml: log.level: expected one of "debug", "info", "warn", "error", got "loud"`,
			}},
		{"missing version", "[node]\nname = \"a\"\nrole = \"home\"\n",
			[]string{"node.toml: version: missing; expected version = 1 at the top of the file"}},
		{"values", "version = 1\n[node]\nrole = \"homeowner\"\n[meter]\ndriver = \"modbus\"\nmax_power_w = -1\n[log]\nlevel = \"loud\"\nformat = \"xml\"\n[api]\nlisten = \"8080\"\n",
			[]string{
				`node.toml: node.name: expected a name for this node, such as "home-12", got ""`,
				`node.toml: node.role: expected "home" or "authority", got "homeowner"`,
				`node.toml: api.listen: expected host:port such as "127.0.0.1:8080", got "8080"`,
				`node.toml: meter.driver: expected one of "sim", "modbus-tcp", "rtu-over-tcp", "modbus-rtu", "dsmr", "sml", "s0", "mqtt", got "modbus"`,
				`node.toml: meter.max_power_w: expected the connection rating in watts (> 0), got -1`,
				`node.toml: log.level: expected one of "debug", "info", "warn", "error", got "loud"`,
				`node.toml: log.format: expected "text" or "json", got "xml"`,
			}},
		{"modbus without its section", minimalNode + "[meter]\ndriver = \"modbus-tcp\"\n[meter.modbus]\nid = 300\n",
			[]string{
				`node.toml: meter.modbus.addr: expected HOST:PORT such as "192.168.1.50:502" for meter.driver = "modbus-tcp", got ""`,
				`node.toml: meter.modbus.profile: expected a meter profile such as "sdm630" (gridmesh meter scan guesses it) for meter.driver = "modbus-tcp", got ""`,
				`node.toml: meter.modbus.id: expected a unit id from 1 to 247, got 300`,
			}},
		{"mqtt json without a path", minimalNode + "[meter]\ndriver = \"mqtt\"\n[meter.mqtt]\nbroker = \"tcp://127.0.0.1:1883\"\ntopic = \"m/1\"\nformat = \"json\"\n",
			[]string{`node.toml: meter.mqtt.import_path: expected the dot-separated path of the import counter for meter.driver = "mqtt", got ""`}},
		{"update window", minimalNode + "[updates]\nauto = true\nwindow = \"48h\"\n",
			[]string{`node.toml: updates.window: expected a duration from 0s to 24h, got 48h0m0s`}},
		{"audit cap", minimalNode + "[network]\naudit_file = \"audit.bin\"\naudit_max_mib = 0\n",
			[]string{`node.toml: network.audit_max_mib: expected the audit file's size cap in MiB, 1 to 1048576, got 0`}},
		{"memory limit too small", minimalNode + "memory_limit_mib = 8\n",
			[]string{`node.toml: node.memory_limit_mib: expected 0 (the role's default) or 16 to 65536 MiB, got 8`}},
		{"memory limit negative", minimalNode + "memory_limit_mib = -1\n",
			[]string{`node.toml: node.memory_limit_mib: expected 0 (the role's default) or 16 to 65536 MiB, got -1`}},
		{"memory limit too large", minimalNode + "memory_limit_mib = 65537\n",
			[]string{`node.toml: node.memory_limit_mib: expected 0 (the role's default) or 16 to 65536 MiB, got 65537`}},
		{"s0 without a pin", minimalNode + "[meter]\ndriver = \"s0\"\n",
			[]string{`node.toml: meter.s0.import_pin: expected a GPIO pin such as "GPIO17" for meter.driver = "s0", got ""`}},
		{"float for int", minimalNode + "[trading]\nbuy_max_price = 0.28\n",
			[]string{"node.toml: trading.buy_max_price: expected an integer, got 0.28"}},
		{"array types", minimalNode + "[network]\nlisten = \"/ip4/0.0.0.0/tcp/1\"\nbootstrap = [1, \"/ip4/1.2.3.4/tcp/1\"]\n",
			[]string{
				`node.toml: network.bootstrap[0]: expected a string, got 1`,
				`node.toml: network.listen: expected an array, got "/ip4/0.0.0.0/tcp/1"`,
				`node.toml: network.bootstrap[1]: expected a multiaddr with a peer id such as "/ip4/192.0.2.1/tcp/4001/p2p/12D3KooW...", got "/ip4/1.2.3.4/tcp/1"`,
			}},
		{"battery", minimalNode + "[battery]\ncapacity_wh = 10000\nreserve_wh = 12000\nmax_charge_w = 0\nmax_discharge_w = 99999\nefficiency_permille = 1001\nsource = \"modbus\"\n",
			[]string{
				`node.toml: battery.reserve_wh: expected watt-hours in [0, capacity_wh = 10000], got 12000`,
				`node.toml: battery.max_charge_w: expected watts in [1, meter.max_power_w = 17250], got 0`,
				`node.toml: battery.max_discharge_w: expected watts in [1, meter.max_power_w = 17250], got 99999`,
				`node.toml: battery.efficiency_permille: expected a round-trip efficiency in per-mille, 1 to 1000 (900 = 90 %), got 1001`,
				`node.toml: battery.source: expected "sim" (the state of charge simulated from the home's energy flows), got "modbus"`,
			}},
		{"battery capacity", minimalNode + "[battery]\ncapacity_wh = -1\n",
			[]string{`node.toml: battery.capacity_wh: expected watt-hours in [0, 10000000] (0 = no battery), got -1`}},
		{"flex", minimalNode + "[flex]\nenergy_wh = 10000\nmin_power_w = 5000\nmax_power_w = 3700\nmax_price = 0\nfrom = \"7pm\"\nuntil = \"24:00\"\nsource = \"ocpp\"\n",
			[]string{
				`node.toml: flex.min_power_w: expected watts in [0, max_power_w = 3700], got 5000`,
				`node.toml: flex.max_price: expected micro-units per kWh in [1, 1000000000], got 0`,
				`node.toml: flex.from: expected a time of day "HH:MM" such as "18:00", got "7pm"`,
				`node.toml: flex.until: expected a time of day "HH:MM" such as "07:00", got "24:00"`,
				`node.toml: flex.source: expected "sim" (a load simulated behind the simulated meter), got "ocpp"`,
			}},
		{"flex window too short", minimalNode + "[flex]\nenergy_wh = 12000\nmax_power_w = 3700\nmax_price = 250000\nfrom = \"22:00\"\nuntil = \"01:00\"\n",
			[]string{`node.toml: flex.energy_wh: expected at most 11100 Wh, what max_power_w = 3700 W gives from 22:00 to 01:00, got 12000`}},
		{"flex empty window", minimalNode + "[flex]\nenergy_wh = 1000\nmax_power_w = 3700\nmax_price = 250000\nfrom = \"22:00\"\nuntil = \"22:00\"\n",
			[]string{`node.toml: flex.until: expected a deadline other than flex.from = "22:00" (the window would be empty)`}},
		{"flex with a battery", minimalNode + "[battery]\ncapacity_wh = 10000\nmax_charge_w = 5000\nmax_discharge_w = 5000\n[flex]\nenergy_wh = 1000\nmax_power_w = 3700\nmax_price = 250000\n",
			[]string{`node.toml: flex.energy_wh: a home with both [battery] and [flex] is not supported yet: set battery.capacity_wh or flex.energy_wh to 0`}},
		{"flex energy", minimalNode + "[flex]\nenergy_wh = -5\n",
			[]string{`node.toml: flex.energy_wh: expected watt-hours in [0, 10000000] (0 = no flexible load), got -5`}},
		{"table for value", minimalNode + "[log.level]\nx = 1\n",
			[]string{`node.toml: log.level: expected a string, got a table`}},
		{"syntax", "version = 1\n[node\n",
			[]string{"node.toml: line 3, column 6: invalid TOML: expected '.' or ']' to end table name, but got '\\n' instead"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "node.toml", tc.toml)
			_, err := LoadNode(path)
			if err == nil {
				t.Fatalf("LoadNode: got no error, want %q", tc.want)
			}
			got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			lines := strings.Split(got, "\n")
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					found = found || l == w
				}
				if !found {
					t.Errorf("error lacks line\n  %s\ngot:\n  %s", w, strings.Join(lines, "\n  "))
				}
			}
			if len(lines) != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n  %s", len(lines), len(tc.want), strings.Join(lines, "\n  "))
			}
		})
	}
}

func TestLoadNodeMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.toml")
	_, err := LoadNode(path)
	if err == nil || err.Error() != path+": no such file" {
		t.Errorf("got %v, want %q", err, path+": no such file")
	}
}

func exampleGenesis() Genesis {
	g := DefaultGenesis()
	g.ChainID = "test-1"
	g.Operator = strings.Repeat("ab", 32)
	g.Tariff = TariffSection{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}
	g.Authorities = []Member{{Name: "a", Key: strings.Repeat("01", 32)}}
	g.Dev = true
	return g
}

func TestLoadGenesisProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Genesis)
		want []string
	}{
		{"too few authorities", func(g *Genesis) { g.Dev = false },
			[]string{"genesis.toml: authorities: expected at least 4 (or dev = true), got 1"}},
		{"no authorities even in dev", func(g *Genesis) { g.Authorities = nil },
			[]string{"genesis.toml: authorities: expected at least 4 (or dev = true), got 0"}},
		{"bad keys", func(g *Genesis) {
			g.Operator = "xyz"
			g.Authorities[0].Key = strings.Repeat("AB", 32)
			g.Participants = []Member{{Name: "h", Key: strings.Repeat("01", 32)}, {Name: "h", Key: strings.Repeat("02", 31)}}
		}, []string{
			`genesis.toml: operator: expected a hex ed25519 public key (64 lowercase hex characters), got "xyz"`,
			`genesis.toml: authorities[0].key: expected a hex ed25519 public key (64 lowercase hex characters), got "` + strings.Repeat("AB", 32) + `"`,
			`genesis.toml: participants[1].name: expected a name not used before in participants, got "h" again`,
			`genesis.toml: participants[1].key: expected a hex ed25519 public key (64 lowercase hex characters), got "` + strings.Repeat("02", 31) + `"`,
		}},
		{"duplicate key", func(g *Genesis) { g.Participants = []Member{{Name: "h", Key: g.Authorities[0].Key}} },
			[]string{"genesis.toml: participants[0].key: expected a key not listed before, got the key of authorities[0]"}},
		{"lengths", func(g *Genesis) {
			g.SlotSeconds, g.AttestWindowSeconds, g.GateLeadSeconds, g.ChainID = 0, -1, 86400, "a/b"
		},
			[]string{
				`genesis.toml: chain_id: expected 1 to 64 characters from a-z, A-Z, 0-9, '.', '_', '-', got "a/b"`,
				"genesis.toml: slot_seconds: expected a slot length in seconds > 0, got 0",
				"genesis.toml: gate_lead_seconds: expected less than open_lead_seconds (86400), got 86400",
				"genesis.toml: attest_window_seconds: expected seconds > 0, got -1",
			}},
		{"tariff", func(g *Genesis) {
			g.Tariff = TariffSection{Floor: 300_000, Ceiling: 200_000, Fee: 1, LateSeconds: -1}
			g.KPPM = 2_000_000
		},
			[]string{
				"genesis.toml: k_ppm: expected parts per million from 0 to 1000000, got 2000000",
				"genesis.toml: tariff: expected floor + fee <= ceiling, got floor 300000 + fee 1 > ceiling 200000",
				"genesis.toml: tariff.late_seconds: expected seconds from 0 to 2678400 (a month), got -1",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := exampleGenesis()
			tc.edit(&g)
			dir := t.TempDir()
			path := writeFile(t, dir, "genesis.toml", string(g.TOML()))
			_, err := LoadGenesis(path)
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			if want := strings.Join(tc.want, "\n"); got != want {
				t.Errorf("got\n  %s\nwant\n  %s", strings.ReplaceAll(got, "\n", "\n  "), strings.ReplaceAll(want, "\n", "\n  "))
			}
		})
	}
}

func TestNodeRoundTrip(t *testing.T) {
	n := DefaultNode()
	n.Node = NodeSection{Name: "Ünïcode \"home\" \\ 7", Role: RoleAuthority, Key: "keys/a.key", Data: "/var/lib/gridmesh", Clock: ClockTrust, MemoryLimitMiB: 80}
	n.Network = Network{Genesis: "g.toml", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: []string{"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWabc"}, MDNS: false, DHT: true, AuditFile: "audit \"1\".bin", AuditMaxMiB: 3}
	n.API.Listen = "[::1]:0"
	n.Meter.Interval = Duration{1500 * time.Millisecond}
	n.Meter.MaxPowerW = 5750
	n.Meter.Sim = MeterSim{Seed: -42, PVPeakW: 0, LoadW: 1200, Speed: 60}
	n.Trading = Trading{Enabled: false, SellMinPrice: 1, BuyMaxPrice: 999_999_999}
	n.Flex = Flex{EnergyWh: 6000, MinPowerW: 500, MaxPowerW: 3700, MaxPrice: 210_000, From: "22:30", Until: "06:45", Source: "sim"}
	n.Log = Log{Level: "debug", Format: "json"}
	n.Updates = Updates{Auto: true, Window: Duration{5 * time.Minute}}
	dir := t.TempDir()
	path := writeFile(t, dir, "node.toml", string(n.TOML()))
	got, err := LoadNode(path)
	if err != nil {
		t.Fatalf("LoadNode(TOML()): %v\n%s", err, n.TOML())
	}
	n.Dir = dir
	if diff := cmp.Diff(n, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// The defaults themselves round-trip too (empty bootstrap list).
	d := DefaultNode()
	d.Node.Name, d.Node.Role = "x", RoleHome
	got, err = ParseNode("node.toml", d.TOML())
	if err != nil {
		t.Fatal(err)
	}
	d.Dir = "."
	if diff := cmp.Diff(d, got); diff != "" {
		t.Errorf("defaults round trip (-want +got):\n%s", diff)
	}
}

// The memory limit is the configured one, or the role's default for 0, and a
// config at a bound of the range is accepted.
func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		role Role
		mib  int64
		want int64
	}{
		{RoleHome, 0, 32 << 20},
		{RoleAuthority, 0, 64 << 20},
		{RoleHome, 16, 16 << 20},
		{RoleAuthority, 65536, 65536 << 20},
	} {
		toml := fmt.Sprintf("version = 1\n[node]\nname = \"n\"\nrole = %q\nmemory_limit_mib = %d\n", tc.role, tc.mib)
		n, err := ParseNode("node.toml", []byte(toml))
		if err != nil {
			t.Errorf("%s, memory_limit_mib = %d: %v", tc.role, tc.mib, err)
			continue
		}
		if got := n.Node.MemoryLimit(); got != tc.want {
			t.Errorf("%s, memory_limit_mib = %d: MemoryLimit() = %d, want %d", tc.role, tc.mib, got, tc.want)
		}
	}
}

func TestGenesisRoundTrip(t *testing.T) {
	g := exampleGenesis()
	g.Dev = false
	g.Epoch = 1_700_000_000
	g.SlotSeconds, g.OpenLeadSeconds, g.GateLeadSeconds, g.AttestWindowSeconds = 5, 60, 1, 3
	g.KPPM = 0
	g.Authorities = nil
	for i, c := range []string{"01", "02", "03", "04"} {
		g.Authorities = append(g.Authorities, Member{Name: "auth \"" + string(rune('a'+i)) + "\"", Key: strings.Repeat(c, 32)})
	}
	g.Participants = []Member{{Name: "home", Key: strings.Repeat("0f", 32)}}
	got, err := ParseGenesis("genesis.toml", g.TOML())
	if err != nil {
		t.Fatalf("ParseGenesis(TOML()): %v\n%s", err, g.TOML())
	}
	if diff := cmp.Diff(g, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// No members: empty lists load back as empty lists.
	e := exampleGenesis()
	e.Participants = []Member{}
	got, err = ParseGenesis("genesis.toml", e.TOML())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.key")
	priv, err := WriteKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", st.Mode().Perm())
	}
	got, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Equal(got) {
		t.Error("LoadKey returned a different key than WriteKey")
	}
	msg := []byte("x")
	if !ed25519.Verify(got.Public().(ed25519.PublicKey), msg, ed25519.Sign(got, msg)) {
		t.Error("loaded key does not sign verifiably")
	}

	if _, err := WriteKey(path); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("WriteKey over an existing file: got %v, want a refusal", err)
	}
	if again, _ := LoadKey(path); !priv.Equal(again) {
		t.Error("the refused WriteKey changed the key file")
	}

	missing := filepath.Join(dir, "none.key")
	if _, err := LoadKey(missing); err == nil || err.Error() != missing+": no such key file (run gridmesh init)" {
		t.Errorf("missing: got %v", err)
	}

	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		want := path + ": key file is readable by others (mode 0644); run chmod 600 " + path
		if _, err := LoadKey(path); err == nil || err.Error() != want {
			t.Errorf("readable key: got %v, want %q", err, want)
		}
	}

	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(bad); err == nil || !strings.HasPrefix(err.Error(), bad+": expected a PEM") {
		t.Errorf("garbage key: got %v", err)
	}
}

// Problems come in the order their keys appear in the file, whether a value
// failed to decode or failed validation; a missing value comes at its table.
func TestProblemsInFileOrder(t *testing.T) {
	const file = `version = 1
[log]
level = "loud"
[node]
role = "x"
name = 5
[meter]
interval = "abc"
[network]
bootstrap = ["/ip4/1.2.3.4/tcp/1"]
`
	_, err := ParseNode("node.toml", []byte(file))
	want := strings.Join([]string{
		`node.toml: log.level: expected one of "debug", "info", "warn", "error", got "loud"`,
		`node.toml: node.role: expected "home" or "authority", got "x"`,
		`node.toml: node.name: expected a string, got 5`,
		`node.toml: meter.interval: expected a duration such as "1s", got "abc"`,
		`node.toml: network.bootstrap[0]: expected a multiaddr with a peer id such as "/ip4/192.0.2.1/tcp/4001/p2p/12D3KooW...", got "/ip4/1.2.3.4/tcp/1"`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	_, err = ParseNode("node.toml", []byte("[meter]\ndriver = \"x\"\n[node]\nrole = \"home\"\n"))
	want = strings.Join([]string{
		"node.toml: version: missing; expected version = 1 at the top of the file",
		`node.toml: meter.driver: expected one of "sim", "modbus-tcp", "rtu-over-tcp", "modbus-rtu", "dsmr", "sml", "s0", "mqtt", got "x"`,
		`node.toml: node.name: expected a name for this node, such as "home-12", got ""`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestFlexConfig(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "node.toml", minimalNode+"[flex]\nenergy_wh = 8000\nmax_power_w = 3700\nmax_price = 250000\nfrom = \"22:00\"\nuntil = \"06:30\"\n")
	n, err := LoadNode(path)
	if err != nil {
		t.Fatalf("LoadNode: %v", err)
	}
	want := Flex{EnergyWh: 8000, MaxPowerW: 3700, MaxPrice: 250_000, From: "22:00", Until: "06:30", Source: "sim"}
	if n.Flex != want || !n.Flex.Present() {
		t.Fatalf("flex: got %+v, want %+v (present)", n.Flex, want)
	}
	if got := n.Flex.Length(); got != 8*time.Hour+30*time.Minute {
		t.Errorf("window 22:00 to 06:30: got %s, want 8h30m", got)
	}
	if DefaultNode().Flex.Present() {
		t.Fatalf("the default config has a flexible load; want none")
	}
	g := DefaultGenesis()
	g.Tariff = TariffSection{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}
	n.Flex.MaxPrice = 79_999
	wantErr := "node.toml: flex.max_price: expected at least the network's tariff floor 80000 (tariff.floor in genesis.toml), got 79999: the flexible load could never buy"
	if err := n.CheckTrading("node.toml", g, "genesis.toml"); err == nil || err.Error() != wantErr {
		t.Errorf("CheckTrading with max_price below the floor: got %v, want %s", err, wantErr)
	}
}

func TestBatteryConfig(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "node.toml", minimalNode+"[battery]\ncapacity_wh = 10000\nreserve_wh = 2000\nmax_charge_w = 5000\nmax_discharge_w = 4000\n")
	n, err := LoadNode(path)
	if err != nil {
		t.Fatalf("LoadNode: %v", err)
	}
	want := Battery{CapacityWh: 10000, ReserveWh: 2000, MaxChargeW: 5000, MaxDischargeW: 4000, EfficiencyPermille: 900, Source: "sim"}
	if n.Battery != want || !n.Battery.Present() {
		t.Fatalf("battery: got %+v, want %+v (present)", n.Battery, want)
	}
	if DefaultNode().Battery.Present() {
		t.Fatalf("the default config has a battery; want none")
	}
}
