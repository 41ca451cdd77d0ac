package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzLoadNode(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "configs", "node.example.toml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(minimalNode))
	f.Add([]byte(minimalNode + "[meter]\ninterval = \"abc\"\nsim = 3\n"))
	f.Add([]byte("version = 1\n[[node]]\nname = 1\n"))
	f.Add([]byte("version = 9223372036854775807\n[network]\nlisten = [[1], {a = 2}]\n"))
	f.Add([]byte("[node\n"))
	f.Add([]byte{0xff, 0xfe, '=', '\n'})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "node.toml")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		n, err := LoadNode(path)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, path+": ") {
					t.Fatalf("error line does not name the file: %q", line)
				}
			}
			return
		}
		// A config that loads re-encodes to one that loads back the same.
		again, err := ParseNode(path, n.TOML())
		if err != nil {
			t.Fatalf("TOML() of a loaded config does not load: %v\n%s", err, n.TOML())
		}
		if string(again.TOML()) != string(n.TOML()) {
			t.Fatalf("round trip changed the config:\n%s\n---\n%s", n.TOML(), again.TOML())
		}
	})
}

func FuzzLoadGenesis(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "configs", "genesis.example.toml")); err == nil {
		f.Add(b)
	}
	f.Add(exampleGenesis().TOML())
	f.Add([]byte("version = 1\nauthorities = [{name = 1}]\n[[participants]]\nkey = 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGenesis("genesis.toml", b)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "genesis.toml: ") {
					t.Fatalf("error line does not name the file: %q", line)
				}
			}
			return
		}
		again, err := ParseGenesis("genesis.toml", g.TOML())
		if err != nil {
			t.Fatalf("TOML() of a loaded genesis does not load: %v\n%s", err, g.TOML())
		}
		if string(again.TOML()) != string(g.TOML()) {
			t.Fatalf("round trip changed the genesis:\n%s\n---\n%s", g.TOML(), again.TOML())
		}
	})
}

func FuzzParseKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseKey(b)
		if err == nil && len(k) != 64 {
			t.Fatalf("parseKey accepted a key of %d bytes", len(k))
		}
	})
}
