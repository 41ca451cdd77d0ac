package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/p2p"
)

// TestAudit records a real host's sends (p2p.Config.Audit) while it asks a
// peer something, and reads the capture back with gridmesh audit: the
// table, --json and --dump.
func TestAudit(t *testing.T) {
	dir := t.TempDir()
	capture := filepath.Join(dir, "audit.bin")
	f, err := os.Create(capture)
	if err != nil {
		t.Fatal(err)
	}
	newHost := func(seed byte, audit *os.File) *p2p.Host {
		key := ed25519.NewKeyFromSeed(append(make([]byte, 31), seed))
		cfg := p2p.Config{Key: key, Network: "auditnet", Listen: []string{"/ip4/127.0.0.1/tcp/0"}}
		if audit != nil { // not a nil *os.File in the interface
			cfg.Audit = audit
		}
		h, err := p2p.New(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	a, b := newHost(1, f), newHost(2, nil)
	defer b.Close()
	b.Handle("ask", 64, func(context.Context, ed25519.PublicKey, []byte) ([]byte, error) { return []byte("ok"), nil })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := a.Request(ctx, b.Addrs()[0], "ask", []byte("how-much-today"), 64); err != nil {
		t.Fatal(err)
	}
	a.Close()
	f.Close()

	stdout, stderr, code := gridmesh(t, "audit", "--file", capture)
	if code != 0 || !strings.Contains(stdout, "/gridmesh/auditnet/ask") || !strings.Contains(stdout, "this node") || !strings.Contains(stdout, "total: ") {
		t.Errorf("gridmesh audit: exit %d, stderr %q, stdout\n%s\nwant a table with the ask stream opened by this node and a total", code, stderr, stdout)
	}
	stdout, _, code = gridmesh(t, "audit", "--file", capture, "--json")
	var sum auditSummary
	if err := json.Unmarshal([]byte(stdout), &sum); code != 0 || err != nil || sum.Protocols["/gridmesh/auditnet/ask"].Bytes == 0 || sum.Bytes != a.Stats().BytesOut {
		t.Errorf("gridmesh audit --json: exit %d, %v, %+v; want the ask protocol and %d bytes in all", code, err, sum, a.Stats().BytesOut)
	}
	stdout, _, code = gridmesh(t, "audit", "--file", capture, "--dump")
	if code != 0 || !strings.Contains(stdout, "opened by this node") || !strings.Contains(stdout, "|./multistream/1.|") {
		t.Errorf("gridmesh audit --dump: exit %d, stdout lacks the streams and their bytes:\n%s", code, stdout)
	}

	n := config.DefaultNode()
	n.Node.Name, n.Node.Role = "h", config.RoleHome
	cfgPath := filepath.Join(dir, "node.toml")
	if err := os.WriteFile(cfgPath, n.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := gridmesh(t, "audit", "-c", cfgPath); code == 0 || !strings.Contains(oneLine(t, stderr), "audit_file") {
		t.Errorf("gridmesh audit without audit_file: exit %d, stderr %q; want a failure naming network.audit_file", code, stderr)
	}
}
