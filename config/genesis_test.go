package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Two minisign public keys (minisign -G), as minisign.pub's second line.
const (
	releaseKey1 = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"
	releaseKey2 = "RWTAPRuRRmk3Bl3mvTg4uAlnB3WnU6Ivg+KKPNHs2g/vXwk2pmXlHqfL"
)

func TestGenesisUpdatesRoundTrip(t *testing.T) {
	g := exampleGenesis()
	g.Updates.Keys = []string{releaseKey1, releaseKey2}
	got, err := ParseGenesis("genesis.toml", g.TOML())
	if err != nil {
		t.Fatalf("ParseGenesis(TOML()): %v\n%s", err, g.TOML())
	}
	if diff := cmp.Diff(g, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// Without [updates] the network pins no release keys.
	got, err = ParseGenesis("genesis.toml", exampleGenesis().TOML())
	if err != nil || len(got.Updates.Keys) != 0 {
		t.Errorf("no [updates]: keys %q, %v", got.Updates.Keys, err)
	}
}

func TestGenesisUpdatesProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string // appended to a valid genesis
		want string
	}{
		{"not base64", "[updates]\nkeys = [\"RWQ!!\"]\n",
			`genesis.toml: updates.keys[0]: expected a minisign public key (the second line of minisign.pub: 56 base64 characters starting with "RW"), got "RWQ!!"`},
		{"hex ed25519 key", "[updates]\nkeys = [\"" + strings.Repeat("ab", 32) + "\"]\n", "updates.keys[0]: expected a minisign public key"},
		{"whole minisign.pub", "[updates]\nkeys = [\"untrusted comment: minisign public key\\n" + releaseKey1 + "\"]\n", "updates.keys[0]: expected a minisign public key"},
		{"duplicate", "[updates]\nkeys = [\"" + releaseKey1 + "\", \"" + releaseKey1 + "\"]\n",
			"genesis.toml: updates.keys[1]: expected a key not listed before, got the key of updates.keys[0] again"},
		{"unknown key", "[updates]\nkey = \"" + releaseKey1 + "\"\n", "genesis.toml: updates.key: unknown key (known keys here: keys)"},
		{"not an array", "[updates]\nkeys = \"" + releaseKey1 + "\"\n", "genesis.toml: updates.keys: expected an array"},
		{"too many", "[updates]\nkeys = [" + strings.Repeat("\""+releaseKey1+"\", ", MaxReleaseKeys) + "\"" + releaseKey2 + "\"]\n", "updates.keys: expected at most 8 keys, got 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := string(exampleGenesis().TOML())
			// [updates] must come before the arrays of tables.
			i := strings.Index(b, "\n[[authorities]]")
			dir := t.TempDir()
			path := writeFile(t, dir, "genesis.toml", b[:i]+"\n"+tc.toml+b[i:])
			_, err := LoadGenesis(path)
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			if !strings.Contains(got, tc.want) {
				t.Errorf("got\n  %s\nwant it to contain\n  %s", got, tc.want)
			}
		})
	}
}
