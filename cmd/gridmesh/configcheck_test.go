package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/config"
)

// TestConfigCheckInstallerTraps: what an installer trips over is flagged,
// every problem at once: limits outside the tariff (genesis: floor 80000,
// ceiling 300000), a data path that is a file, an API beyond loopback, and a
// problem in the file itself alongside them.
func TestConfigCheckInstallerTraps(t *testing.T) {
	dir, cfgPath := newNode(t)
	n, err := config.LoadNode(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	n.Trading.BuyMaxPrice, n.Trading.SellMinPrice = 10, 400_000
	n.Node.Data = "data.img"
	n.API.Listen = "0.0.0.0:8080"
	if err := os.WriteFile(filepath.Join(dir, "data.img"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := []byte(strings.Replace(string(n.TOML()), `level = "info"`, `level = "loud"`, 1))
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := gridmesh(t, "config", "check", "-c", cfgPath)
	if code != 1 || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing", code, stdout)
	}
	for _, want := range []string{
		cfgPath + ": log.level: expected one of",
		cfgPath + ": trading.buy_max_price: expected at least the network's tariff floor 80000",
		cfgPath + ": trading.sell_min_price: expected at most the network's tariff ceiling 300000",
		cfgPath + ": node.data: expected a directory",
		cfgPath + `: api.listen: expected a loopback address such as "127.0.0.1:8080", got "0.0.0.0:8080": the API has no login yet`,
	} {
		if !strings.Contains(stderr, "gridmesh: "+want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if got := strings.Count(stderr, "\n"); got != 5 {
		t.Errorf("%d lines, want 5:\n%s", got, stderr)
	}

	// Within the tariff and on loopback: ok again.
	n.Trading.BuyMaxPrice, n.Trading.SellMinPrice = 280_000, 90_000
	n.Node.Data, n.API.Listen = "data", "[::1]:8080"
	if err := os.WriteFile(cfgPath, n.TOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := gridmesh(t, "config", "check", "-c", cfgPath); code != 0 || stdout != "ok\n" {
		t.Errorf("fixed config: exit %d, stdout %q, stderr %q; want ok", code, stdout, stderr)
	}
}
