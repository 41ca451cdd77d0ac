package update

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Releases the authorities announced on chain.
//
// The node reads the announcement and the release keys from its chain and
// keeps a copy in the slots directory (network.json, Network), for the
// commands that run beside it and cannot open its store: `gridmesh update
// status` shows the announcement, `gridmesh update check|apply` verify with
// the keys the authorities voted instead of genesis.toml's. Nothing there
// is trusted beyond what the chain said to the node that wrote it: the
// file is the node's own, in its own directory.
//
// A home that takes an announced release asks its peers by the manifest's
// hash (NewPinnedPeerSource), and Check refuses a manifest of another hash
// (Options.Manifest, ErrNotAnnounced) before it looks at the signature; the
// signature by a release key is still required.

// Network is what the node last read from its chain about releases.
type Network struct {
	ChainID string `json:"chain_id"`
	Height  uint64 `json:"height"` // the chain's height when the rest last changed
	// Announced is the release the authorities announced last, if any.
	Announced *Announcement `json:"announced,omitempty"`
	// Keys are the release keys the authorities voted (minisign public
	// keys), in force since block KeysHeight; none: genesis.toml's.
	Keys       []string `json:"keys,omitempty"`
	KeysHeight uint64   `json:"keys_height,omitempty"`
}

// Announcement is a release announced on chain: its version, the
// lowercase hex sha256 of its manifest.json, the block that decided it and
// how many authorities voted for it.
type Announcement struct {
	Version  string `json:"version"`
	Manifest string `json:"manifest"`
	Height   uint64 `json:"height"`
	Votes    int    `json:"votes"`
}

func (s Slots) networkPath() string { return filepath.Join(s.Dir, "network.json") }

// SaveNetwork writes n to network.json (atomically) if it differs from
// what is there; it creates the slots directory if needed.
func (s Slots) SaveNetwork(n Network) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(s.networkPath()); err == nil && bytes.Equal(old, b) {
		return nil
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return writeAtomic(s.networkPath(), b, 0o644)
}

// LoadNetwork reads network.json; ok is false if there is none.
func (s Slots) LoadNetwork() (n Network, ok bool, err error) {
	b, err := os.ReadFile(s.networkPath())
	if errors.Is(err, os.ErrNotExist) {
		return Network{}, false, nil
	}
	if err != nil {
		return Network{}, false, fmt.Errorf("update: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&n); err != nil {
		return Network{}, false, fmt.Errorf("update: %s: %w", s.networkPath(), err)
	}
	return n, true, nil
}

// NewPinnedPeerSource is NewPeerSource asking for the release whose
// manifest has sha256 release (lowercase hex) only.
func NewPinnedPeerSource(name, release string, request Requester) *Source {
	src := NewPeerSource(name, request)
	src.release = release
	return src
}

// Newer reports whether version is newer than what this device runs (the
// launcher's version running, the active slot's or the highest ever kept),
// as Check would see it; an unreadable version is not newer.
func (s Slots) Newer(running, version string) (bool, error) {
	v, err := ParseVersion(version)
	if err != nil {
		return false, nil
	}
	st, err := s.Load()
	if err != nil {
		return false, err
	}
	return v.Compare(current(st, running)) > 0, nil
}

// Failed reports whether version was rolled back on this device.
func (s Slots) Failed(version string) bool {
	st, err := s.Load()
	if err != nil {
		return false
	}
	for _, f := range st.Failed {
		if f == version {
			return true
		}
	}
	return false
}

// OnTrial reports whether a release is on trial now.
func (s Slots) OnTrial() bool {
	st, err := s.Load()
	return err == nil && st.Trial != nil
}
