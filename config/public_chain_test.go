package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPublicChain: api.public_chain is read from node.toml, defaults to
// false, and survives TOML (the encoder writes it when set).
func TestPublicChain(t *testing.T) {
	if DefaultNode().API.PublicChain {
		t.Errorf("api.public_chain defaults to true; want false (everything beyond loopback behind the login)")
	}
	n := DefaultNode()
	n.Node.Name, n.Node.Role = "home-1", RoleHome
	n.API.PublicChain = true
	b := n.TOML()
	if !strings.Contains(string(b), "public_chain = true") {
		t.Fatalf("TOML of a node with public_chain:\n%s\nwant a public_chain = true line", b)
	}
	path := filepath.Join(t.TempDir(), "node.toml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadNode(path)
	if err != nil {
		t.Fatalf("load the encoded config: %v", err)
	}
	if !got.API.PublicChain {
		t.Errorf("loaded api.public_chain = false; want true")
	}
}
