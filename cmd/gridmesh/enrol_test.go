package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/firmware/enrol"
)

var codeRE = regexp.MustCompile(`enrolment code: ([0-9A-Z]{4}(-[0-9A-Z]{4}){13})\n`)

// TestKeygen: the key is made once, on the first run, and kept after; the
// code printed is the key's.
func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	n := config.DefaultNode()
	n.Node.Name, n.Node.Role, n.Node.Key = "h", config.RoleHome, "state/node.key"
	cfg := filepath.Join(dir, "node.toml")
	if err := os.WriteFile(cfg, n.TOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := gridmesh(t, "keygen", "-c", cfg)
	if code != 0 || !strings.Contains(out, "created node key "+filepath.Join(dir, "state/node.key")) {
		t.Fatalf("first keygen: exit %d, %q, %q", code, out, stderr)
	}
	key, err := config.LoadKey(filepath.Join(dir, "state/node.key"))
	if err != nil {
		t.Fatal(err)
	}
	m := codeRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no enrolment code in %q", out)
	}
	if pub, err := enrol.Parse(m[1]); err != nil || string(pub) != string(key[32:]) {
		t.Errorf("code %s is key %x, %v; want %x", m[1], pub, err, key[32:])
	}
	out2, _, code := gridmesh(t, "keygen", "-c", cfg)
	if code != 0 || !strings.Contains(out2, "exists") || codeRE.FindStringSubmatch(out2)[1] != m[1] {
		t.Errorf("second keygen: exit %d, %q; want the same key kept", code, out2)
	}
	// A key file others may read is refused, not replaced.
	os.Chmod(filepath.Join(dir, "state/node.key"), 0o644)
	if _, stderr, code := gridmesh(t, "keygen", "-c", cfg); code != 1 || !strings.Contains(stderr, "readable by others") {
		t.Errorf("unsafe key: exit %d, %q", code, stderr)
	}
}

func TestInitShowsCode(t *testing.T) {
	dir := t.TempDir()
	out, _, code := gridmesh(t, "init", "--dir", dir, "--name", "h1")
	if code != 0 || codeRE.FindStringSubmatch(out) == nil {
		t.Errorf("init: exit %d, output %q lacks an enrolment code", code, out)
	}
}

func TestAdmitCodeUsage(t *testing.T) {
	_, cfg := newNode(t)
	out, _, _ := gridmesh(t, "keygen", "-c", cfg)
	c := codeRE.FindStringSubmatch(out)[1]
	typo := []byte(c)
	typo[5] = map[bool]byte{true: 'B', false: 'C'}[typo[5] != 'B']
	_, stderr, code := gridmesh(t, "admit", string(typo), "-c", cfg)
	if code != 2 || !strings.Contains(stderr, "not a valid enrolment code") {
		t.Errorf("mistyped code: exit %d, %q; want 2 and a refusal", code, stderr)
	}
	// A good code gets as far as the node's API (not running here).
	_, stderr, code = gridmesh(t, "admit", strings.ToLower(c), "-c", cfg, "--api", "127.0.0.1:1")
	if code != 1 || strings.Contains(stderr, "enrolment code") {
		t.Errorf("good code, no node: exit %d, %q; want 1 from the API", code, stderr)
	}
}
