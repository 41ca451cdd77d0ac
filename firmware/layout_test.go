package firmware

import (
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/config"
)

func TestParseMeter(t *testing.T) {
	for _, tc := range []struct {
		spec   string
		driver config.Driver
		check  func(config.Meter) bool
		err    string
	}{
		{"sdm630@/dev/ttyUSB0", config.DriverModbusRTU, func(m config.Meter) bool { return m.Modbus.Device == "/dev/ttyUSB0" && m.Modbus.Profile == "sdm630" }, ""},
		{"sdm630@192.168.1.50:502", config.DriverModbusTCP, func(m config.Meter) bool { return m.Modbus.Addr == "192.168.1.50:502" }, ""},
		{"dsmr@/dev/ttyUSB0", config.DriverDSMR, func(m config.Meter) bool { return m.Serial.Device == "/dev/ttyUSB0" }, ""},
		{"SML@/dev/ttyAMA0", config.DriverSML, func(m config.Meter) bool { return m.Serial.Device == "/dev/ttyAMA0" }, ""},
		{"s0@GPIO17", config.DriverS0, func(m config.Meter) bool { return m.S0.ImportPin == "GPIO17" }, ""},
		{"s0@17", "", nil, "expected s0@GPIOn"},
		{"sdm630", "", nil, "expected PROFILE@DEVICE"},
		{"sdm630@ttyUSB0", "", nil, "a serial port (/dev/ttyUSB0) or HOST:PORT"},
	} {
		n := HomeConfig("home-12")
		err := ParseMeter(&n, tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v; want an error with %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || n.Meter.Driver != tc.driver || !tc.check(n.Meter) || !n.Trading.Enabled {
			t.Errorf("%s: %v, meter %+v, trading %v", tc.spec, err, n.Meter, n.Trading.Enabled)
		}
		if err := n.Validate("node.toml"); err != nil {
			t.Errorf("%s: the config does not validate: %v", tc.spec, err)
		}
	}
}

func TestHomeConfig(t *testing.T) {
	n := HomeConfig("home-12")
	if err := n.Validate("node.toml"); err != nil {
		t.Fatal(err)
	}
	if n.Trading.Enabled || n.Meter.Driver != config.DriverSim || n.Node.Key != KeyPath || n.Network.Genesis != GenesisPath {
		t.Errorf("home config: %+v", n)
	}
	if !strings.Contains(string(Unit), "ExecStart="+BinPath+" run -c "+ConfigPath+"\n") ||
		!strings.Contains(string(Unit), "ConditionPathExists="+GenesisPath+"\n") {
		t.Error("the unit does not run the package's binary with its config, or does not wait for the genesis")
	}
}
