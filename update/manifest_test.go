package update

import (
	"strings"
	"testing"
	"time"
)

func testManifest() Manifest {
	return Manifest{
		Format:  ManifestFormat,
		Version: "v1.2.0",
		Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Expires: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC),
		Targets: map[string]Target{"linux/arm64": {File: "gridmesh-linux-arm64", SHA256: strings.Repeat("ab", 32), Size: 100}},
	}
}

func TestManifestRoundTrip(t *testing.T) {
	b, err := testManifest().Encode()
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := m.Encode()
	if string(b) != string(b2) {
		t.Errorf("re-encoded manifest differs:\n%s\n%s", b, b2)
	}
}

func TestParseManifestStrict(t *testing.T) {
	good := string(must(testManifest().Encode()))
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unknown field", strings.Replace(good, `"format": 1,`, `"format": 1, "extra": 2,`, 1), "unknown field"},
		{"trailing", good + "{}", "trailing data"},
		{"format", strings.Replace(good, `"format": 1`, `"format": 2`, 1), "format: expected 1"},
		{"version", strings.Replace(good, `"v1.2.0"`, `"1.2"`, 1), "version"},
		{"expires before created", strings.Replace(good, "2027-03-01", "2026-11-01", 1), "expires: expected a time after created"},
		{"path in file", strings.Replace(good, `"gridmesh-linux-arm64"`, `"../gridmesh"`, 1), "plain file name"},
		{"manifest as file", strings.Replace(good, `"gridmesh-linux-arm64"`, `"manifest.json"`, 1), "plain file name"},
		{"sha256", strings.Replace(good, strings.Repeat("ab", 32), strings.Repeat("AB", 32), 1), "sha256"},
		{"size", strings.Replace(good, `"size": 100`, `"size": 0`, 1), "size"},
		{"platform", strings.Replace(good, `"linux/arm64"`, `"linux"`, 1), "platform"},
		{"too big", good + strings.Repeat(" ", MaxManifestSize), "limit"},
	} {
		_, err := ParseManifest([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add(must(testManifest().Encode()))
	f.Add([]byte(`{"format":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		// Whatever parses re-encodes and parses to the same manifest.
		b2, err := m.Encode()
		if err != nil {
			t.Fatalf("parsed manifest does not encode: %v", err)
		}
		m2, err := ParseManifest(b2)
		if err != nil {
			t.Fatalf("re-encoded manifest does not parse: %v", err)
		}
		if b3, _ := m2.Encode(); string(b3) != string(b2) {
			t.Fatalf("encoding not stable:\n%s\n%s", b2, b3)
		}
	})
}
