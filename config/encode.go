package config

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// TOML encodes n as a commented node.toml that LoadNode reads back as n
// (apart from Dir, which comes from where the file is written).
func (n Node) TOML() []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# gridmesh node config. Every key is explained in configs/node.example.toml.\n")
	w("# Relative paths are relative to this file's directory.\n")
	w("version = %d\n\n", n.Version)
	w("[node]\n")
	w("name = %s\n", tomlString(n.Node.Name))
	w("role = %s # \"home\" or \"authority\"\n", tomlString(string(n.Node.Role)))
	w("key = %s # ed25519 key file, mode 0600\n", tomlString(n.Node.Key))
	w("data = %s # chain and meter journal\n", tomlString(n.Node.Data))
	w("clock = %s # \"kernel\": trade only once NTP has set the clock; \"trust\": take it as it is\n", tomlString(n.Node.Clock))
	if n.Node.MemoryLimitMiB != 0 {
		w("memory_limit_mib = %d # the Go runtime's soft memory limit; 0: the role's default\n", n.Node.MemoryLimitMiB)
	}
	w("\n")
	w("[network]\n")
	w("genesis = %s # the network's genesis file, from its operator\n", tomlString(n.Network.Genesis))
	w("listen = %s\n", tomlStrings(n.Network.Listen))
	w("bootstrap = %s # /ip4/.../tcp/4001/p2p/<peer id> of the authorities\n", tomlStrings(n.Network.Bootstrap))
	w("mdns = %t # find peers on the local network\n", n.Network.MDNS)
	w("dht = %t # find peers beyond it through the network's own DHT (seeded by bootstrap)\n", n.Network.DHT)
	w("followers = %d # peers served the chain's head at a time besides authorities; 0: the default, 2\n", n.Network.Followers)
	if n.Network.AuditFile != "" {
		w("audit_file = %s # a copy of every byte sent to peers, in the clear; gridmesh audit FILE shows it\n", tomlString(n.Network.AuditFile))
		w("audit_max_mib = %d # the audit file's size cap\n", n.Network.AuditMaxMiB)
	}
	if !n.Network.StateSync {
		w("state_sync = false # a home far behind replays every block instead of joining from a snapshot\n")
	}
	w("\n")
	w("[api]\n")
	w("listen = %s # status API and dashboard\n", tomlString(n.API.Listen))
	if len(n.API.Hosts) > 0 {
		w("hosts = %s # further names the API answers to\n", tomlStrings(n.API.Hosts))
	}
	if n.API.PublicChain {
		w("public_chain = true # chain views readable without login beyond loopback\n")
	}
	w("\n")
	writeMeterTOML(w, n.Meter)
	w("[trading] # prices in micro-units per kWh (1 EUR/kWh = 1000000)\n")
	w("enabled = %t\n", n.Trading.Enabled)
	w("sell_min_price = %d\n", int64(n.Trading.SellMinPrice))
	w("buy_max_price = %d\n", int64(n.Trading.BuyMaxPrice))
	w("max_replaces = %d # re-pricings per slot on the way to the limit\n\n", n.Trading.MaxReplaces)
	w("[battery] # a home battery behind the meter; capacity_wh = 0: none\n")
	w("capacity_wh = %d\n", int64(n.Battery.CapacityWh))
	w("reserve_wh = %d # never discharged\n", int64(n.Battery.ReserveWh))
	w("max_charge_w = %d\n", int64(n.Battery.MaxChargeW))
	w("max_discharge_w = %d\n", int64(n.Battery.MaxDischargeW))
	w("efficiency_permille = %d # round trip, 900 = 90 %%\n", n.Battery.EfficiencyPermille)
	w("source = %s # state of charge: sim\n\n", tomlString(n.Battery.Source))
	// Written only when set, as audit_file above: a config that does not use
	// a feature the previous release lacks stays readable by it (a rolling
	// upgrade's old nodes, a rollback to the other binary slot).
	if n.Flex.EnergyWh > 0 {
		w("[flex] # a flexible load (car, heat pump) behind the meter; energy_wh = 0: none\n")
		w("energy_wh = %d # needed in every window\n", int64(n.Flex.EnergyWh))
		w("min_power_w = %d\n", int64(n.Flex.MinPowerW))
		w("max_power_w = %d\n", int64(n.Flex.MaxPowerW))
		w("max_price = %d # micro-units per kWh, fee included\n", int64(n.Flex.MaxPrice))
		w("from = %s # the window opens (time of day)\n", tomlString(n.Flex.From))
		w("until = %s # the deadline\n", tomlString(n.Flex.Until))
		w("source = %s # sim\n\n", tomlString(n.Flex.Source))
	}
	w("[homeassistant] # readings and trading state over MQTT, with discovery\n")
	w("enabled = %t\n", n.HA.Enabled)
	w("broker = %s\n", tomlString(n.HA.Broker))
	w("username = %s\n", tomlString(n.HA.Username))
	w("password = %s\n\n", tomlString(n.HA.Password))
	w("[log]\n")
	w("level = %s # debug, info, warn, error\n", tomlString(n.Log.Level))
	w("format = %s # text or json\n", tomlString(n.Log.Format))
	if n.Updates != DefaultNode().Updates {
		// Only when set: a release before [updates] refuses the section.
		w("\n[updates] # install a release the authorities announced on chain\n")
		w("auto = %t\n", n.Updates.Auto)
		w("window = %s # wait a random time within this before fetching it\n", tomlString(n.Updates.Window.Duration.String()))
	}
	return b.Bytes()
}

// writeMeterTOML writes the [meter] sections of a node.toml with w.
func writeMeterTOML(w func(format string, args ...any), m Meter) {
	w("[meter]\n")
	w("driver = %s\n", tomlString(string(m.Driver)))
	w("interval = %s\n", tomlString(m.Interval.Duration.String()))
	w("max_power_w = %d # connection rating\n\n", int64(m.MaxPowerW))
	w("[meter.sim]\n")
	w("seed = %d\n", m.Sim.Seed)
	w("pv_peak_w = %d\n", int64(m.Sim.PVPeakW))
	w("load_w = %d\n", int64(m.Sim.LoadW))
	w("speed = %d # simulated seconds per real second\n\n", m.Sim.Speed)
	w("[meter.modbus] # modbus-tcp, rtu-over-tcp (addr) and modbus-rtu (device)\n")
	w("addr = %s\n", tomlString(m.Modbus.Addr))
	w("device = %s\n", tomlString(m.Modbus.Device))
	w("baud = %d\n", m.Modbus.Baud)
	w("parity = %s\n", tomlString(m.Modbus.Parity))
	w("id = %d\n", m.Modbus.ID)
	w("profile = %s\n", tomlString(m.Modbus.Profile))
	w("timeout = %s\n\n", tomlString(m.Modbus.Timeout.Duration.String()))
	w("[meter.serial] # dsmr (P1) and sml (optical read head)\n")
	w("device = %s\n", tomlString(m.Serial.Device))
	w("baud = %d # 0 = the protocol's usual speed\n", m.Serial.Baud)
	w("key = %s\n\n", tomlString(m.Serial.Key))
	w("[meter.s0]\n")
	w("import_pin = %s\n", tomlString(m.S0.ImportPin))
	w("export_pin = %s\n", tomlString(m.S0.ExportPin))
	w("impulses = %d # per kWh\n\n", m.S0.Impulses)
	w("[meter.mqtt]\n")
	w("broker = %s\n", tomlString(m.MQTT.Broker))
	w("topic = %s\n", tomlString(m.MQTT.Topic))
	w("format = %s # tasmota, shelly or json\n", tomlString(m.MQTT.Format))
	w("import_path = %s\n", tomlString(m.MQTT.ImportPath))
	w("export_path = %s\n", tomlString(m.MQTT.ExportPath))
	w("power_path = %s\n", tomlString(m.MQTT.PowerPath))
	w("energy_unit = %s\n", tomlString(m.MQTT.EnergyUnit))
	w("username = %s\n", tomlString(m.MQTT.Username))
	w("password = %s\n", tomlString(m.MQTT.Password))
	w("stale = %s\n\n", tomlString(m.MQTT.Stale.Duration.String()))
}

// TOML encodes g as a genesis.toml that LoadGenesis reads back as g.
func (g Genesis) TOML() []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# gridmesh genesis: every node of the network must use this same file.\n")
	w("# Every key is explained in configs/genesis.example.toml.\n")
	w("version = %d\n", g.Version)
	w("chain_id = %s\n", tomlString(g.ChainID))
	w("epoch = %d\n", g.Epoch)
	w("slot_seconds = %d\n", g.SlotSeconds)
	w("open_lead_seconds = %d\n", g.OpenLeadSeconds)
	w("gate_lead_seconds = %d\n", g.GateLeadSeconds)
	w("attest_window_seconds = %d\n", g.AttestWindowSeconds)
	w("dev = %t\n", g.Dev)
	w("operator = %s\n", tomlString(g.Operator))
	w("k_ppm = %d\n\n", g.KPPM)
	w("[tariff] # micro-units per kWh\n")
	w("floor = %d\n", int64(g.Tariff.Floor))
	w("ceiling = %d\n", int64(g.Tariff.Ceiling))
	w("fee = %d\n", int64(g.Tariff.Fee))
	if g.Tariff.LateSeconds != 0 {
		w("late_seconds = %d\n", g.Tariff.LateSeconds)
	}
	if len(g.Updates.Keys) > 0 {
		w("\n[updates] # minisign public keys of the network's releases\n")
		w("keys = %s\n", tomlStrings(g.Updates.Keys))
	}
	for _, m := range g.Authorities {
		w("\n[[authorities]]\nname = %s\nkey = %s\n", tomlString(m.Name), tomlString(m.Key))
	}
	for _, m := range g.Participants {
		w("\n[[participants]]\nname = %s\nkey = %s\n", tomlString(m.Name), tomlString(m.Key))
	}
	return b.Bytes()
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError && isInvalid(s[i:]):
			b.WriteString(`\uFFFD`) // TOML files are UTF-8; an invalid byte cannot be kept
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func isInvalid(s string) bool {
	r, size := utf8.DecodeRuneInString(s)
	return r == utf8.RuneError && size <= 1
}

func tomlStrings(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
