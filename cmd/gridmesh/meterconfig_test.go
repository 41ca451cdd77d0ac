package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/config"
)

// TestMeterReadConfig: meter read -c reads the meter a node config names,
// with the settings of its [meter] section, not the flags' defaults.
func TestMeterReadConfig(t *testing.T) {
	r := &regs{}
	r.sdm630(3)
	addr := serveTCP(t, r)
	n := config.DefaultNode()
	n.Node.Name, n.Node.Role = "home-1", config.RoleHome
	n.Meter.Driver = config.DriverModbusTCP
	n.Meter.Modbus.Addr, n.Meter.Modbus.ID, n.Meter.Modbus.Profile = addr, 3, "sdm630"
	path := filepath.Join(t.TempDir(), "node.toml")
	if err := os.WriteFile(path, n.TOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := gridmesh(t, "meter", "read", "-c", path, "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	checkJSON(t, stdout, wantSDM630)

	_, stderr, code = gridmesh(t, "meter", "read", "-c", path, "--driver", "sim")
	if code != 2 || !strings.Contains(stderr, "--driver cannot be given with it") {
		t.Errorf("-c with --driver: exit %d, stderr %q; want 2 and a refusal", code, stderr)
	}
	_, stderr, code = gridmesh(t, "meter", "read", "-c", filepath.Join(t.TempDir(), "none.toml"))
	if code != 1 || !strings.Contains(stderr, "none.toml") {
		t.Errorf("missing config: exit %d, stderr %q; want 1 naming the file", code, stderr)
	}
}
