package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// ClockSlack is how far before a manifest's creation time the device's
// clock may be and still install it.
const ClockSlack = 24 * time.Hour

// Options say what Check and Apply accept.
type Options struct {
	Keys     Keys
	Running  string    // version of the binary doing the check (`gridmesh version`); "" or not semver = v0.0.0
	Platform string    // "linux/arm64", runtime.GOOS + "/" + runtime.GOARCH
	Now      time.Time // for the manifest's expiry
	// Retry allows a version that was rolled back on this device before.
	Retry bool
	// Window, MinPeers and Settle are the trial's terms (see Trial).
	Window   time.Duration
	MinPeers int
	Settle   time.Duration
	// Manifest, if set, is the lowercase hex sha256 the manifest must have:
	// the release the authorities announced on chain (ErrNotAnnounced).
	Manifest string
	// Note, if set, is added to the reason a refusal is recorded with
	// (refused.json): where the release came from and why it was fetched.
	Note string
	// AfterStep, if not nil, is called after each step of Apply (tests
	// kill the process there to check that every step is safe to die in).
	AfterStep func(Step)
}

// Step is one step of Apply, in order. Dying after any of them leaves a
// node that starts on a verified binary: the old one up to StepInstalled,
// the new one on trial from StepMarked.
type Step int

const (
	StepVerified  Step = iota + 1 // manifest verified and checked; nothing written
	StepStaged                    // binary written to <slot>/gridmesh.new, size and sha256 checked, fsynced; the verified manifest and signature kept beside it (to serve peers)
	StepCleared                   // state.json no longer trusts the target slot
	StepInstalled                 // gridmesh.new renamed to <slot>/gridmesh, directory fsynced
	StepMarked                    // state.json records the slot and the trial: the next start runs it
)

var stepNames = map[Step]string{StepVerified: "verified", StepStaged: "staged", StepCleared: "cleared", StepInstalled: "installed", StepMarked: "marked"}

func (s Step) String() string { return stepNames[s] }

// ParseStep parses a step's name ("staged").
func ParseStep(name string) (Step, bool) {
	for s, n := range stepNames {
		if n == name {
			return s, true
		}
	}
	return 0, false
}

// Plan is what a verified release would do to this device.
type Plan struct {
	Manifest Manifest
	Target   Target
	Current  string // the version this device runs now
	Slot     string // the slot the release goes into

	manifest, sig []byte // as verified
}

// Refusal is a release that Check or Apply refused; nothing was installed.
type Refusal struct {
	Version string // "" if the manifest could not be trusted
	Err     error
}

func (r *Refusal) Error() string { return "update refused: " + r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }

// Errors that a Refusal wraps (besides ErrBadSignature and ErrNoKeys).
var (
	ErrDowngrade  = errors.New("update: not newer than the running version")
	ErrExpired    = errors.New("update: the manifest has expired")
	ErrClock      = errors.New("update: this device's clock is behind the release")
	ErrNoTarget   = errors.New("update: no binary for this platform")
	ErrFailed     = errors.New("update: this version was rolled back on this device before")
	ErrOnTrial    = errors.New("update: another version is on trial")
	ErrBadBinary  = errors.New("update: the binary does not match the manifest")
	ErrTruncated  = errors.New("update: truncated download")
	ErrWrongSlots = errors.New("update: the slot state cannot be read")
	// ErrNotAnnounced: the manifest is not the one the chain names.
	ErrNotAnnounced = errors.New("update: the manifest is not the announced release")
)

// current is the version a release must be newer than: the launcher's
// own, the active slot's or the highest ever kept, whichever is highest.
func current(st State, running string) Version {
	v, err := ParseVersion(running)
	if err != nil {
		v = Version{}
	}
	others := []string{st.Highest}
	if info, ok := st.Slots[st.Active]; ok && st.Active != "" {
		others = append(others, info.Version)
	}
	for _, o := range others {
		if ov, err := ParseVersion(o); err == nil && ov.Compare(v) > 0 {
			v = ov
		}
	}
	return v
}

// Check fetches the manifest and its signature from src, verifies them and
// checks the release against this device. It writes nothing.
func (s Slots) Check(ctx context.Context, src *Source, o Options) (Plan, error) {
	manifest, sig, err := src.Manifest(ctx)
	if err != nil {
		return Plan{}, &Refusal{Err: err}
	}
	if o.Manifest != "" {
		if sum := sha256.Sum256(manifest); hex.EncodeToString(sum[:]) != o.Manifest {
			return Plan{}, &Refusal{Err: fmt.Errorf("%w: %s has sha256 %x, the chain announced %s", ErrNotAnnounced, src, sum, o.Manifest)}
		}
	}
	m, err := Verify(o.Keys, manifest, sig)
	if err != nil {
		return Plan{}, &Refusal{Err: err}
	}
	st, err := s.Load()
	if err != nil {
		return Plan{}, &Refusal{Version: m.Version, Err: fmt.Errorf("%w: %v", ErrWrongSlots, err)}
	}
	p := Plan{Manifest: m, Current: current(st, o.Running).String(), manifest: manifest, sig: sig}
	refuse := func(err error) (Plan, error) { return p, &Refusal{Version: m.Version, Err: err} }
	// A Pi has no real-time clock: with a clock far behind, the expiry
	// means nothing (a frozen, old release would pass), so refuse.
	if o.Now.Before(m.Created.Add(-ClockSlack)) {
		return refuse(fmt.Errorf("%w: %s was signed at %s, the clock says %s (is it synchronised?)", ErrClock, m.Version, m.Created.UTC().Format(time.RFC3339), o.Now.UTC().Format(time.RFC3339)))
	}
	if !o.Now.Before(m.Expires) {
		return refuse(fmt.Errorf("%w: %s expired at %s (now %s)", ErrExpired, m.Version, m.Expires.UTC().Format(time.RFC3339), o.Now.UTC().Format(time.RFC3339)))
	}
	if cur := current(st, o.Running); m.Release().Compare(cur) <= 0 {
		return refuse(fmt.Errorf("%w: %s offered, %s running", ErrDowngrade, m.Version, cur))
	}
	if st.Trial != nil {
		return refuse(fmt.Errorf("%w: %s (wait until it is kept or rolled back)", ErrOnTrial, st.Trial.Version))
	}
	if slices.Contains(st.Failed, m.Version) && !o.Retry {
		reason := ""
		if r := st.LastRollback; r != nil && r.Version == m.Version {
			reason = ": " + r.Reason
		}
		return refuse(fmt.Errorf("%w: %s%s (a fixed release needs a higher version; apply --retry tries it again)", ErrFailed, m.Version, reason))
	}
	t, ok := m.Targets[o.Platform]
	if !ok {
		return refuse(fmt.Errorf("%w: %s has none for %s", ErrNoTarget, m.Version, o.Platform))
	}
	p.Target = t
	p.Slot = inactive(st)
	return p, nil
}

// inactive is the slot an update goes into: not the active one, and not
// the previous one if the active binary is the launcher's own.
func inactive(st State) string {
	switch {
	case st.Active == SlotA:
		return SlotB
	case st.Active == SlotB:
		return SlotA
	case st.Previous == SlotA:
		return SlotB
	default:
		return SlotA
	}
}

// Apply checks the release (Check), then installs its binary into the
// inactive slot and marks it for trial, in the order of the Steps. Nothing
// is written before the signature, the expiry and the version have been
// checked; a binary of the wrong size or hash is removed again and leaves
// the slots as they were. A Refusal is also noted in refused.json (for
// `gridmesh update status`). Run as root, Apply gives what it wrote the
// owner of the slots directory's parent (the service's user). The node
// starts the trial at its next start.
func (s Slots) Apply(ctx context.Context, src *Source, o Options) (Plan, error) {
	defer s.matchOwner()
	p, err := s.apply(ctx, src, o)
	var r *Refusal
	if errors.As(err, &r) {
		reason := r.Err.Error()
		if o.Note != "" {
			reason += " (" + o.Note + ")"
		}
		s.recordRefusal(Event{At: o.Now, Version: r.Version, Reason: reason}) // best effort: the caller reports err
	}
	return p, err
}

// ErrBusy is returned when another Apply runs on the same slots.
var ErrBusy = errors.New("update: another update apply is running")

func (s Slots) apply(ctx context.Context, src *Source, o Options) (Plan, error) {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return Plan{}, fmt.Errorf("update: %w", err)
	}
	unlock, err := tryLock(filepath.Join(s.Dir, "apply.lock"))
	if err != nil {
		return Plan{}, fmt.Errorf("%w (%v)", ErrBusy, err)
	}
	defer unlock()
	p, err := s.Check(ctx, src, o)
	if err != nil {
		return p, err
	}
	after := func(st Step) {
		if o.AfterStep != nil {
			o.AfterStep(st)
		}
	}
	after(StepVerified)

	dir := filepath.Dir(s.Binary(p.Slot))
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return p, fmt.Errorf("update: %w", err)
	}
	staged := s.Binary(p.Slot) + ".new"
	if err := s.stage(ctx, src, p, staged); err != nil {
		os.Remove(staged)
		if statErr != nil {
			os.Remove(dir) // made for this update: leave the slots as they were
		}
		return p, err
	}
	if err := s.keepRelease(p.Slot, p.manifest, p.sig); err != nil {
		os.Remove(staged)
		return p, err
	}
	after(StepStaged)

	if err := s.Update(func(st *State) error {
		delete(st.Slots, p.Slot)
		if st.Previous == p.Slot {
			st.Previous = ""
		}
		return nil
	}); err != nil {
		os.Remove(staged)
		return p, err
	}
	after(StepCleared)

	if err := os.Rename(staged, s.Binary(p.Slot)); err != nil {
		os.Remove(staged)
		return p, fmt.Errorf("update: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return p, fmt.Errorf("update: %w", err)
	}
	after(StepInstalled)

	err = s.Update(func(st *State) error {
		if st.Slots == nil {
			st.Slots = map[string]SlotInfo{}
		}
		st.Slots[p.Slot] = SlotInfo{Version: p.Manifest.Version, SHA256: p.Target.SHA256, Size: p.Target.Size, Installed: o.Now.UTC()}
		st.Trial = &Trial{Slot: p.Slot, Version: p.Manifest.Version, Window: Duration{o.Window}, MinPeers: o.MinPeers, Settle: Duration{o.Settle}}
		st.Failed = slices.DeleteFunc(st.Failed, func(v string) bool { return v == p.Manifest.Version })
		return nil
	})
	if err != nil {
		return p, err
	}
	after(StepMarked)
	return p, nil
}

// stage downloads the target into path and checks its size and hash.
func (s Slots) stage(ctx context.Context, src *Source, p Plan, path string) error {
	refuse := func(err error) error { return &Refusal{Version: p.Manifest.Version, Err: err} }
	rc, err := src.Open(ctx, p.Target.File)
	if err != nil {
		return refuse(err)
	}
	defer rc.Close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(rc, p.Target.Size+1))
	switch {
	case err != nil && n < p.Target.Size:
		return refuse(fmt.Errorf("%w: %s: got %d of %d bytes: %v", ErrTruncated, p.Target.File, n, p.Target.Size, err))
	case err != nil:
		return refuse(fmt.Errorf("update: read %s: %w", p.Target.File, err))
	case n < p.Target.Size:
		return refuse(fmt.Errorf("%w: %s: got %d of %d bytes", ErrTruncated, p.Target.File, n, p.Target.Size))
	case n > p.Target.Size:
		return refuse(fmt.Errorf("%w: %s is larger than the manifest's %d bytes", ErrBadBinary, p.Target.File, p.Target.Size))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.Target.SHA256 {
		return refuse(fmt.Errorf("%w: %s has sha256 %s, the manifest says %s", ErrBadBinary, p.Target.File, got, p.Target.SHA256))
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return f.Close()
}

// FileSHA256 returns the hex sha256 and the size of the file at path.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
