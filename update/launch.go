package update

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Boot is what a start runs.
type Boot struct {
	Slot    string // SlotA, SlotB, or "" for the launcher's own binary
	Path    string // the binary to exec; "" for the launcher's own
	Version string // the slot's version ("" for the launcher's own)
	Trial   bool   // the binary is on trial: it must prove healthy
	// Note says what the launcher did besides starting the active slot
	// (a rollback, a damaged slot), for the log; "" if nothing.
	Note string
}

// Launch decides, under the lock, which binary this start runs and records
// the decision: the release on trial (once: a second start of the same
// trial means it ended without proving healthy and is rolled back), else
// the active slot, else the previous one, else the launcher's own binary.
// A slot runs only if its binary still has the size and sha256 its
// manifest gave, and only if it is newer than the launcher's own version
// (own, as `gridmesh version` prints it): a launcher upgraded by its
// package is not downgraded by an old slot.
func (s Slots) Launch(own string, now time.Time) (Boot, error) {
	var b Boot
	err := s.Update(func(st *State) error {
		b = decide(st, own, now, s.verify)
		if b.Slot != "" {
			b.Path = s.Binary(b.Slot)
		}
		return nil
	})
	return b, err
}

// verify checks that slot's binary matches what st says it holds.
func (s Slots) verify(st *State, slot string) error {
	info, ok := st.Slots[slot]
	if !ok {
		return fmt.Errorf("slot %s holds no verified binary", slot)
	}
	sum, n, err := FileSHA256(s.Binary(slot))
	if err != nil {
		return fmt.Errorf("slot %s: %v", slot, err)
	}
	if n != info.Size || sum != info.SHA256 {
		return fmt.Errorf("slot %s's binary (%d bytes, sha256 %s) is not the %s its manifest names (%d bytes, sha256 %s)", slot, n, sum, info.Version, info.Size, info.SHA256)
	}
	return nil
}

// rollback ends st's trial, keeping what was active, and remembers why.
func rollback(st *State, now time.Time, reason string) {
	t := st.Trial
	st.Trial = nil
	st.LastRollback = &Event{At: now.UTC(), Version: t.Version, Reason: reason}
	if !slices.Contains(st.Failed, t.Version) {
		st.Failed = append(st.Failed, t.Version)
	}
}

func decide(st *State, own string, now time.Time, verify func(*State, string) error) Boot {
	var notes []error
	if t := st.Trial; t != nil {
		switch err := verify(st, t.Slot); {
		case t.Boots >= 1:
			rollback(st, now, fmt.Sprintf("%s stopped before it proved healthy (it was started %d time(s) on trial and did not commit); back to %s", t.Version, t.Boots, describeSlot(st, st.Active)))
			notes = append(notes, errors.New("rolled back: "+st.LastRollback.Reason))
		case err != nil:
			rollback(st, now, fmt.Sprintf("%s not started: %v", t.Version, err))
			notes = append(notes, errors.New("rolled back: "+st.LastRollback.Reason))
		default:
			t.Boots++
			t.Started = now.UTC()
			return Boot{Slot: t.Slot, Version: t.Version, Trial: true, Note: joinNotes(notes)}
		}
	}
	ownV, err := ParseVersion(own)
	if err != nil {
		ownV = Version{}
	}
	for _, slot := range []string{st.Active, st.Previous} {
		if slot == "" {
			break // the launcher's own binary
		}
		info := st.Slots[slot]
		if v, err := ParseVersion(info.Version); err == nil && v.Compare(ownV) <= 0 {
			notes = append(notes, fmt.Errorf("the launcher's own %s is not older than slot %s's %s: running the launcher", own, slot, info.Version))
			st.Previous, st.Active = st.Active, ""
			break
		}
		if err := verify(st, slot); err != nil {
			notes = append(notes, err)
			if slot == st.Active {
				st.LastRollback = &Event{At: now.UTC(), Version: info.Version, Reason: "not started: " + err.Error()}
			}
			delete(st.Slots, slot)
			continue
		}
		if slot != st.Active {
			st.Active, st.Previous = slot, ""
		}
		return Boot{Slot: slot, Version: info.Version, Note: joinNotes(notes)}
	}
	if st.Active != "" {
		st.Active, st.Previous = "", ""
	}
	return Boot{Note: joinNotes(notes)}
}

func joinNotes(notes []error) string {
	if len(notes) == 0 {
		return ""
	}
	return errors.Join(notes...).Error()
}

func describeSlot(st *State, slot string) string {
	if slot == "" {
		return "the installed binary"
	}
	return fmt.Sprintf("%s (slot %s)", st.Slots[slot].Version, slot)
}

// Commit keeps the release on trial in slot: it becomes the active one and
// the one before it the previous. It fails if slot is no longer on trial
// (the trial was rolled back or replaced).
func (s Slots) Commit(slot string) (State, error) {
	var out State
	err := s.Update(func(st *State) error {
		if st.Trial == nil || st.Trial.Slot != slot {
			return fmt.Errorf("update: slot %s is not on trial", slot)
		}
		st.Previous, st.Active = st.Active, slot
		if v, err := ParseVersion(st.Trial.Version); err == nil {
			if h, err := ParseVersion(st.Highest); err != nil || v.Compare(h) > 0 {
				st.Highest = st.Trial.Version
			}
		}
		st.Trial = nil
		out = *st
		return nil
	})
	return out, err
}

// Fail rolls back the release on trial in slot, with reason (what a person
// reads in `gridmesh update status`): the next start runs the active slot.
func (s Slots) Fail(slot string, now time.Time, reason string) error {
	return s.Update(func(st *State) error {
		if st.Trial == nil || st.Trial.Slot != slot {
			return fmt.Errorf("update: slot %s is not on trial", slot)
		}
		rollback(st, now, reason)
		return nil
	})
}
