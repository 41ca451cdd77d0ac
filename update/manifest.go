package update

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ManifestFormat is the only manifest format this package reads.
const ManifestFormat = 1

// MaxManifestSize bounds a manifest's encoding; a larger one is refused
// before it is parsed.
const MaxManifestSize = 64 << 10

// MaxSignatureSize bounds a minisign signature file (about 300 bytes with
// a short trusted comment).
const MaxSignatureSize = 4 << 10

// MaxBinarySize bounds a target binary (gridmesh is about 32 MB stripped).
const MaxBinarySize = 256 << 20

// Manifest describes one release: its version, when it was signed, until when
// a node may install it, and one binary per platform. Its exact bytes are
// what the release keys sign.
type Manifest struct {
	Format  int       `json:"format"`  // ManifestFormat
	Version string    `json:"version"` // semantic version, "v1.4.2"
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"` // after this no node installs the release
	// Targets maps "GOOS/GOARCH" (as runtime reports it: "linux/arm64") to
	// the binary for that platform.
	Targets map[string]Target `json:"targets"`
}

// Target is one platform's binary, named relative to the manifest.
type Target struct {
	File   string `json:"file"`   // a plain file name next to the manifest: no directories
	SHA256 string `json:"sha256"` // lowercase hex
	Size   int64  `json:"size"`   // bytes
}

var (
	platformRE = regexp.MustCompile(`^[a-z0-9]{1,16}/[a-z0-9]{1,16}$`)
	fileRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// ParseManifest decodes a manifest strictly (no unknown fields, no trailing
// bytes, at most MaxManifestSize) and checks it (Validate). It does not
// check a signature: call Verify, which calls ParseManifest on the bytes
// it verified.
func ParseManifest(b []byte) (Manifest, error) {
	if len(b) > MaxManifestSize {
		return Manifest{}, fmt.Errorf("update: manifest: %d bytes, more than the limit of %d", len(b), MaxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("update: manifest: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Manifest{}, errors.New("update: manifest: trailing data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Validate checks what a manifest alone can know: the format, the version,
// the times and every target.
func (m Manifest) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("update: manifest: "+format, args...))
	}
	if m.Format != ManifestFormat {
		bad("format: expected %d, got %d", ManifestFormat, m.Format)
	}
	if _, err := ParseVersion(m.Version); err != nil {
		bad("version: %v", strings.TrimPrefix(err.Error(), "update: "))
	}
	if m.Created.IsZero() || m.Expires.IsZero() {
		bad("created and expires: expected both times")
	} else if !m.Expires.After(m.Created) {
		bad("expires: expected a time after created (%s), got %s", m.Created.Format(time.RFC3339), m.Expires.Format(time.RFC3339))
	}
	if len(m.Targets) == 0 {
		bad("targets: expected at least one")
	}
	if len(m.Targets) > 32 {
		bad("targets: expected at most 32, got %d", len(m.Targets))
	}
	platforms := make([]string, 0, len(m.Targets))
	for p := range m.Targets {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	for _, p := range platforms {
		t := m.Targets[p]
		if !platformRE.MatchString(p) {
			bad("targets: %q: expected a platform such as \"linux/arm64\"", p)
		}
		if !fileRE.MatchString(t.File) || t.File == "manifest.json" || t.File == "manifest.json.minisig" {
			bad("targets[%s].file: expected a plain file name, got %q", p, t.File)
		}
		if len(t.SHA256) != 64 || strings.ToLower(t.SHA256) != t.SHA256 {
			bad("targets[%s].sha256: expected 64 lowercase hex characters, got %q", p, t.SHA256)
		} else if _, err := hex.DecodeString(t.SHA256); err != nil {
			bad("targets[%s].sha256: expected 64 lowercase hex characters, got %q", p, t.SHA256)
		}
		if t.Size <= 0 || t.Size > MaxBinarySize {
			bad("targets[%s].size: expected 1 to %d bytes, got %d", p, MaxBinarySize, t.Size)
		}
	}
	return errors.Join(errs...)
}

// Encode returns the manifest's canonical encoding (indented JSON with a
// final newline), the bytes a release signs.
func (m Manifest) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Release returns the parsed version (Validate has checked it).
func (m Manifest) Release() Version {
	v, _ := ParseVersion(m.Version)
	return v
}
