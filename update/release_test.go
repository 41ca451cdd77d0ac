package update

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"aead.dev/minisign"
)

// release is a signed release written to a directory, as `gridmesh release
// sign` writes one.
type release struct {
	dir      string
	manifest Manifest
}

// writeRelease writes bin as the linux/amd64 and runtime target of version
// into dir, with manifest.json signed by key. edit, if not nil, changes the
// manifest before it is signed.
func writeRelease(t *testing.T, dir string, key minisign.PrivateKey, version string, bin []byte, now time.Time, edit func(*Manifest)) release {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := "gridmesh-" + version
	if err := os.WriteFile(filepath.Join(dir, file), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	sum, n, err := FileSHA256(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	m := Manifest{
		Format: ManifestFormat, Version: version,
		Created: now.Add(-time.Hour).UTC().Truncate(time.Second), Expires: now.Add(30 * 24 * time.Hour).UTC().Truncate(time.Second),
		Targets: map[string]Target{testPlatform: {File: file, SHA256: sum, Size: n}},
	}
	if edit != nil {
		edit(&m)
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := Sign(key, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json.minisig"), sig, 0o644); err != nil {
		t.Fatal(err)
	}
	return release{dir: dir, manifest: m}
}

const testPlatform = "linux/arm64"

func newKey(t *testing.T) (minisign.PublicKey, minisign.PrivateKey) {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}
