package firmware

import (
	_ "embed"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/gridmesh/gridmesh/config"
)

// Unit is the systemd unit the package installs as UnitPath.
//
//go:embed gridmesh.service
var Unit []byte

// Where the package puts things on the device. The service runs as User with
// ConfigDir read-only and StateDir its only writable place (ProtectSystem=strict).
const (
	User       = "gridmesh"
	BinPath    = "/usr/bin/gridmesh"
	UnitPath   = "/lib/systemd/system/gridmesh.service"
	ConfigDir  = "/etc/gridmesh"
	ConfigPath = ConfigDir + "/node.toml"
	// GenesisPath is the network's genesis file; the unit does not start
	// before it exists (ConditionPathExists).
	GenesisPath = ConfigDir + "/genesis.toml"
	StateDir    = "/var/lib/gridmesh"
	KeyPath     = StateDir + "/node.key" // created on the device at first start
	DataPath    = StateDir + "/data"
)

// HomeConfig is the config of a home on a device: the package's layout, the
// given name, the default meter (simulated) with trading off until a real
// meter is configured, and the API on loopback (beyond
// loopback it asks for the login token, api.token).
func HomeConfig(name string) config.Node {
	n := config.DefaultNode()
	n.Node.Name, n.Node.Role = name, config.RoleHome
	n.Node.Key, n.Node.Data = KeyPath, DataPath
	n.Network.Genesis = GenesisPath
	n.Trading.Enabled = false // a simulated meter must not trade
	return n
}

// ParseMeter applies a meter given as PROFILE@DEVICE to m and turns trading
// on: "sdm630@/dev/ttyUSB0" (Modbus RTU, unit id 1), "sdm630@192.168.1.50:502"
// (Modbus TCP), "dsmr@/dev/ttyUSB0", "sml@/dev/ttyAMA0", "s0@GPIO17".
// Profiles are those of configs/meters; the config check that follows names
// an unknown one.
func ParseMeter(n *config.Node, spec string) error {
	profile, dev, ok := strings.Cut(spec, "@")
	if !ok || profile == "" || dev == "" {
		return fmt.Errorf("meter %q: expected PROFILE@DEVICE such as sdm630@/dev/ttyUSB0, dsmr@/dev/ttyUSB0 or s0@GPIO17", spec)
	}
	m := &n.Meter
	switch strings.ToLower(profile) {
	case string(config.DriverDSMR):
		m.Driver, m.Serial.Device = config.DriverDSMR, dev
	case string(config.DriverSML):
		m.Driver, m.Serial.Device = config.DriverSML, dev
	case string(config.DriverS0):
		if !regexp.MustCompile(`^GPIO[0-9]+$`).MatchString(dev) {
			return fmt.Errorf("meter %q: expected s0@GPIOn, such as s0@GPIO17", spec)
		}
		m.Driver, m.S0.ImportPin = config.DriverS0, dev
	default:
		m.Modbus.Profile = profile
		if strings.HasPrefix(dev, "/dev/") {
			m.Driver, m.Modbus.Device = config.DriverModbusRTU, dev
		} else if _, _, err := net.SplitHostPort(dev); err == nil {
			m.Driver, m.Modbus.Addr = config.DriverModbusTCP, dev
		} else {
			return fmt.Errorf("meter %q: expected a serial port (/dev/ttyUSB0) or HOST:PORT after the @", spec)
		}
	}
	n.Trading.Enabled = true
	return nil
}
