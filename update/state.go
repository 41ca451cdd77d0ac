package update

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// StateFormat is the only state file format this package reads.
const StateFormat = 1

// The two slots.
const (
	SlotA = "a"
	SlotB = "b"
)

// State is the slot state file (state.json): which slot runs, what each
// slot holds, the release on trial and what went wrong last. It is written
// whole, with fsync and an atomic rename, under the slots directory's lock.
type State struct {
	Format int `json:"format"`
	// Active is the slot that runs: SlotA, SlotB, or "" for the launcher's
	// own binary (the one installed by the package, /usr/bin/gridmesh).
	Active   string `json:"active"`
	Previous string `json:"previous"` // the slot that ran before Active was committed ("" = the launcher's own binary)
	// Highest is the highest version ever kept on this device: no release
	// at or below it is installed again, even if the slot that held it is
	// lost (a replayed old release is not an update).
	Highest string `json:"highest,omitempty"`
	// Slots says what each slot holds, as verified against its manifest at
	// install. A slot missing here holds nothing trusted.
	Slots        map[string]SlotInfo `json:"slots,omitempty"`
	Trial        *Trial              `json:"trial,omitempty"`
	LastRollback *Event              `json:"last_rollback,omitempty"`
	// Failed lists the versions rolled back on this device; they are not
	// installed again unless asked (apply --retry).
	Failed []string `json:"failed,omitempty"`
}

// SlotInfo is what a slot holds.
type SlotInfo struct {
	Version   string    `json:"version"`
	SHA256    string    `json:"sha256"`
	Size      int64     `json:"size"`
	Installed time.Time `json:"installed"`
}

// Trial is a release installed and not yet proved healthy.
type Trial struct {
	Slot    string `json:"slot"`
	Version string `json:"version"`
	// Boots counts the starts of the trial binary. The launcher starts a
	// trial once: finding Boots >= 1 at a start means the trial ended
	// without proving healthy (it crashed, hung or was killed), and the
	// launcher rolls back.
	Boots    int       `json:"boots"`
	Started  time.Time `json:"started,omitzero"` // when the trial binary was started
	Window   Duration  `json:"window"`           // how long it has to prove healthy
	MinPeers int       `json:"min_peers"`        // peers it must have to be healthy
	// Settle is how long it must stay healthy (every probe) before it is
	// kept: a release that crashes a few seconds after its start is not.
	Settle Duration `json:"settle"`
}

// Event is a rollback or a refusal: when, which version and why.
type Event struct {
	At      time.Time `json:"at"`
	Version string    `json:"version"`
	Reason  string    `json:"reason"`
}

// Duration is a time.Duration written in JSON as "5m0s".
type Duration struct{ time.Duration }

// MarshalText writes d as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// UnmarshalText parses a duration such as "5m".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// Slots is a slots directory: a/gridmesh, b/gridmesh, state.json,
// refused.json (the last refused update) and two empty lock files,
// state.lock (held while state.json is read and replaced) and apply.lock
// (held by one Apply at a time).
type Slots struct {
	Dir string
}

// Binary is the path of slot's binary.
func (s Slots) Binary(slot string) string { return filepath.Join(s.Dir, slot, "gridmesh") }

func (s Slots) statePath() string { return filepath.Join(s.Dir, "state.json") }

// StatePath is the state file's path (a watcher may stat it: every change
// replaces the file whole).
func (s Slots) StatePath() string   { return s.statePath() }
func (s Slots) refusedPath() string { return filepath.Join(s.Dir, "refused.json") }

// Exists reports whether a state file exists (an update was ever applied).
func (s Slots) Exists() bool {
	_, err := os.Stat(s.statePath())
	return err == nil
}

// Load reads the state file; a missing file is the empty state (only the
// launcher's own binary).
func (s Slots) Load() (State, error) {
	b, err := os.ReadFile(s.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return State{Format: StateFormat}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("update: %w", err)
	}
	return parseState(s.statePath(), b)
}

func parseState(name string, b []byte) (State, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var st State
	if err := dec.Decode(&st); err != nil {
		return State{}, fmt.Errorf("update: %s: %w", name, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return State{}, fmt.Errorf("update: %s: trailing data", name)
	}
	if st.Format != StateFormat {
		return State{}, fmt.Errorf("update: %s: format: expected %d, got %d", name, StateFormat, st.Format)
	}
	for _, sl := range []string{st.Active, st.Previous} {
		if sl != "" && sl != SlotA && sl != SlotB {
			return State{}, fmt.Errorf("update: %s: unknown slot %q", name, sl)
		}
	}
	if st.Trial != nil && st.Trial.Slot != SlotA && st.Trial.Slot != SlotB {
		return State{}, fmt.Errorf("update: %s: trial: unknown slot %q", name, st.Trial.Slot)
	}
	return st, nil
}

// Update runs fn on the state under the directory's lock and, if fn
// returns nil, writes the state it leaves (fsync, atomic rename).
func (s Slots) Update(fn func(*State) error) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	unlock, err := lockDir(filepath.Join(s.Dir, "state.lock"))
	if err != nil {
		return fmt.Errorf("update: lock %s: %w", s.Dir, err)
	}
	defer unlock()
	st, err := s.Load()
	if err != nil {
		return err
	}
	before, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := fn(&st); err != nil {
		return err
	}
	st.Format = StateFormat
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if bytes.Equal(b, before) && s.Exists() {
		return nil // unchanged: spare the SD card a write
	}
	return writeAtomic(s.statePath(), append(b, '\n'), 0o644)
}

// LastRefusal returns the last refused update, if any.
func (s Slots) LastRefusal() (*Event, error) {
	b, err := os.ReadFile(s.refusedPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("update: %s: %w", s.refusedPath(), err)
	}
	return &e, nil
}

// recordRefusal writes refused.json. It is a note for people (gridmesh
// update status), never read to decide anything; the slots and state.json
// are not touched.
func (s Slots) recordRefusal(e Event) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.refusedPath(), append(b, '\n'), 0o644)
}

// writeAtomic writes data to path so that after a crash path holds either
// its old contents or data: a temporary file in the same directory,
// fsynced, renamed over path, then the directory fsynced.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("update: write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
