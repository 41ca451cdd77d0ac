package s0

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gridmesh/gridmesh/unit"
)

const (
	stateVersion = 1
	maxStateSize = 4096
)

// state is the state file's content (JSON).
type state struct {
	Version  int     `json:"version"`
	Impulses int     `json:"impulses"` // the constant Rem is counted in
	Import   counter `json:"import"`
	Export   counter `json:"export"`
}

// counter is one direction: Wh + Rem/Impulses Wh.
type counter struct {
	Wh  int64 `json:"wh"`
	Rem int64 `json:"rem"`
}

// WhUnits converts c, kept in units of 1/from Wh, to units of 1/to Wh,
// rounding the remainder down.
func (c counter) WhUnits(from, to int) (unit.Wh, int64) {
	if from == to {
		return unit.Wh(c.Wh), c.Rem
	}
	return unit.Wh(c.Wh), c.Rem * int64(to) / int64(from) // Rem < from <= 1e6, to <= 1e6: no overflow
}

// decodeState parses a state file strictly: one JSON object, no unknown
// fields, nothing after it, values in range.
func decodeState(b []byte) (state, error) {
	var st state
	if len(b) > maxStateSize {
		return st, fmt.Errorf("%w: %d bytes, limit %d", ErrState, len(b), maxStateSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return state{}, fmt.Errorf("%w: %v", ErrState, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return state{}, fmt.Errorf("%w: data after the object", ErrState)
	}
	if st.Version != stateVersion {
		return state{}, fmt.Errorf("%w: version %d, want %d", ErrState, st.Version, stateVersion)
	}
	if st.Impulses <= 0 || st.Impulses > MaxImpulses {
		return state{}, fmt.Errorf("%w: impulses %d", ErrState, st.Impulses)
	}
	for _, c := range []counter{st.Import, st.Export} {
		if c.Wh < 0 || c.Rem < 0 || c.Rem >= int64(st.Impulses) {
			return state{}, fmt.Errorf("%w: counter %d Wh + %d/%d out of range", ErrState, c.Wh, c.Rem, st.Impulses)
		}
	}
	return st, nil
}

// loadState reads path; a missing file is (nil, nil).
func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("s0: read state: %w", err)
	}
	st, err := decodeState(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &st, nil
}

// writeState replaces path atomically: a temporary file in the same
// directory is written and fsynced, renamed over path, and the directory
// fsynced, so a power loss leaves either the old or the new state.
func writeState(path string, st state) (err error) {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("s0: encode state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("s0: write state: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("s0: write state: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("s0: sync state: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("s0: write state: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("s0: write state: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		derr = d.Sync()
		d.Close()
		if derr != nil {
			return fmt.Errorf("s0: sync state directory: %w", derr)
		}
	}
	return nil
}
