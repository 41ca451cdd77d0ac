package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/node/web"
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
	// init made a login token; without it an API beyond loopback is flagged.
	if err := os.Remove(filepath.Join(dir, config.APITokenFile)); err != nil {
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
		cfgPath + `: api.listen: expected a login token for an API beyond loopback ("0.0.0.0:8080"), found none at ` + filepath.Join(dir, "api.token"),
	} {
		if !strings.Contains(stderr, "gridmesh: "+want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if got := strings.Count(stderr, "\n"); got != 5 {
		t.Errorf("%d lines, want 5:\n%s", got, stderr)
	}

	// Beyond loopback with a token others may read: flagged; with the
	// token `gridmesh token` makes (0600): ok.
	n.Trading.BuyMaxPrice, n.Trading.SellMinPrice = 280_000, 90_000
	n.Node.Data = "data"
	if err := os.WriteFile(cfgPath, n.TOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	tok := filepath.Join(dir, config.APITokenFile)
	if err := os.WriteFile(tok, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tok, 0o644); err != nil { // WriteFile keeps an old file's mode
		t.Fatal(err)
	}
	if _, stderr, code := gridmesh(t, "config", "check", "-c", cfgPath); code != 1 || !strings.Contains(stderr, "readable by its owner only (mode 0600), got -rw-r--r--") {
		t.Errorf("token mode 0644: exit %d, stderr %q; want 1 and the token's mode flagged", code, stderr)
	}
	os.Remove(tok)
	if _, stderr, code := gridmesh(t, "token", "-c", cfgPath); code != 0 {
		t.Fatalf("gridmesh token: exit %d, %s", code, stderr)
	}
	if stdout, stderr, code := gridmesh(t, "config", "check", "-c", cfgPath); code != 0 || stdout != "ok\n" {
		t.Errorf("beyond loopback with a 0600 token: exit %d, stdout %q, stderr %q; want ok", code, stdout, stderr)
	}
	if config.APITokenFile != web.TokenFile {
		t.Errorf("config.APITokenFile %q, web.TokenFile %q: config check looks for another file than the node reads", config.APITokenFile, web.TokenFile)
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
