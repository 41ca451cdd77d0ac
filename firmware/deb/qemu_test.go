package deb

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/firmware"
)

// TestArm64UnderQemu runs the arm64 package's binary, as installed, under
// qemu-aarch64-static: version, and doctor --json on a device-like home
// config (valid, key not made yet, node not running: exit 1, one JSON object).
func TestArm64UnderQemu(t *testing.T) {
	qemu := tool(t, "qemu-aarch64-static", "qemu-user-static")
	dpkgDeb := tool(t, "dpkg-deb", "dpkg")
	deb := pkg(t, "arm64")
	st, _ := os.Stat(deb)
	t.Logf("%s: %d bytes", filepath.Base(deb), st.Size())
	root := t.TempDir()
	if out, err := exec.Command(dpkgDeb, "-x", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	bin := filepath.Join(root, "usr/bin/gridmesh")
	if bst, err := os.Stat(bin); err != nil || bst.Size() > 35<<20 {
		t.Errorf("arm64 binary: %v, %d bytes; want at most 35 MiB stripped", err, bst.Size())
	} else {
		t.Logf("arm64 binary: %d bytes", bst.Size())
	}
	out, err := exec.Command(qemu, bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "gridmesh v0.1.0\n") || !strings.Contains(string(out), "linux/arm64") {
		t.Errorf("version under qemu: %v\n%s", err, out)
	}

	dir := t.TempDir()
	n := firmware.HomeConfig("home-12")
	n.Node.Key, n.Node.Data, n.Network.Genesis = filepath.Join(dir, "state/node.key"), filepath.Join(dir, "state/data"), filepath.Join(dir, "genesis.toml")
	n.API.Listen = "127.0.0.1:1" // nothing listens
	g := config.DefaultGenesis()
	g.ChainID, g.Dev, g.Operator = "test-1", true, strings.Repeat("ab", 32)
	g.Tariff = config.TariffSection{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}
	g.Authorities = []config.Member{{Name: "a", Key: strings.Repeat("cd", 32)}}
	os.WriteFile(n.Network.Genesis, g.TOML(), 0o644)
	cfg := filepath.Join(dir, "node.toml")
	os.WriteFile(cfg, n.TOML(), 0o644)
	cmd := exec.Command(qemu, bin, "doctor", "--json", "-c", cfg)
	stdout, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("doctor --json under qemu: %v; want exit status 1 (the node is not running)", err)
	}
	var r struct {
		OK     bool `json:"ok"`
		Checks []struct{ Check, Status string }
	}
	if err := json.Unmarshal(stdout, &r); err != nil {
		t.Fatalf("doctor --json under qemu: %v: %q", err, stdout)
	}
	got := map[string]string{}
	for _, c := range r.Checks {
		got[c.Check] = c.Status
	}
	for name, want := range map[string]string{"config": "ok", "key": "warn", "meter": "warn", "node": "fail"} {
		if got[name] != want {
			t.Errorf("doctor under qemu: %s %q, want %q (all: %v)", name, got[name], want, got)
		}
	}
}
