package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// errDied stands for the process dying after a step of Apply.
type errDied struct{ step Step }

// TestRandomLifecycles drives a device through random sequences of
// applies (some dying after a random step, some of damaged releases),
// starts, commits, failed trials, crashes and bit rot, and checks after
// every start what must always hold:
//   - the binary started is exactly (by sha256) the binary of the version
//     the launcher says it is, or the launcher's own;
//   - a slot started other than on trial is the active one, and a trial is
//     started at most once;
//   - a version that failed its trial is never started again;
//   - at the end, a replay of the highest version kept is refused.
func TestRandomLifecycles(t *testing.T) {
	seeds := 20
	if testing.Short() {
		seeds = 5
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { randomLifecycle(t, uint64(seed)) })
	}
}

func randomLifecycle(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0))
	pub, priv := newKey(t)
	dir := t.TempDir()
	s := Slots{Dir: filepath.Join(dir, "slots")}
	const own = "v1.0.0"
	shaOf := map[string]string{} // version -> sha256 of its binary
	next := 1                    // releases are v1.<next>.0
	highestKept := Version{Major: 1}
	var failed []string // versions only ever increase, so none is applied again

	apply := func() {
		v := fmt.Sprintf("v1.%d.0", next)
		next++
		bin := []byte(fmt.Sprintf("binary of %s, seed %d", v, seed))
		sum := sha256.Sum256(bin)
		shaOf[v] = hex.EncodeToString(sum[:])
		rel := writeRelease(t, filepath.Join(dir, "r-"+v), priv, v, bin, testNow, nil)
		if rng.IntN(6) == 0 { // a damaged download
			os.WriteFile(filepath.Join(rel.dir, "gridmesh-"+v), []byte("evil"), 0o755)
		}
		o := testOptions(pub)
		o.Running = own
		dieAt := Step(0)
		if rng.IntN(3) == 0 {
			dieAt = Step(1 + rng.IntN(int(StepMarked)))
		}
		o.AfterStep = func(st Step) {
			if st == dieAt {
				panic(errDied{st})
			}
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(errDied); !ok {
						panic(r)
					}
				}
			}()
			s.Apply(context.Background(), must(NewSource(rel.dir, nil)), o) // refusals are fine here
		}()
	}

	for step := 0; step < 40; step++ {
		switch op := rng.IntN(10); {
		case op < 3:
			apply()
		case op < 4: // bit rot in a random slot
			slot := []string{SlotA, SlotB}[rng.IntN(2)]
			if b, err := os.ReadFile(s.Binary(slot)); err == nil && len(b) > 0 {
				b[rng.IntN(len(b))] ^= 0x40
				os.WriteFile(s.Binary(slot), b, 0o755)
			}
		default: // a start, and what the started binary does
			before := must(s.Load())
			b, err := s.Launch(own, testNow)
			if err != nil {
				t.Fatalf("step %d: launch: %v", step, err)
			}
			after := must(s.Load())
			if b.Slot == "" {
				if b.Trial {
					t.Fatalf("step %d: the launcher's own binary on trial", step)
				}
			} else {
				got, _, err := FileSHA256(b.Path)
				if err != nil || got != shaOf[b.Version] {
					t.Fatalf("step %d: started slot %s as %s, but its binary is not that version's (sha256 %s, want %s)", step, b.Slot, b.Version, got, shaOf[b.Version])
				}
				if b.Trial {
					if before.Trial == nil || before.Trial.Boots != 0 || after.Trial == nil || after.Trial.Boots != 1 {
						t.Fatalf("step %d: %s started on trial, with boots %v before and %v after", step, b.Version, before.Trial, after.Trial)
					}
				} else if after.Active != b.Slot {
					t.Fatalf("step %d: started slot %s, but the active slot is %q", step, b.Slot, after.Active)
				}
				if slices.Contains(failed, b.Version) {
					t.Fatalf("step %d: started %s, which failed its trial", step, b.Version)
				}
			}
			if !b.Trial {
				break
			}
			switch rng.IntN(3) {
			case 0: // healthy: kept
				if _, err := s.Commit(b.Slot); err != nil {
					t.Fatalf("step %d: commit: %v", step, err)
				}
				if v := must(ParseVersion(b.Version)); v.Compare(highestKept) > 0 {
					highestKept = v
				}
			case 1: // not healthy in time
				if err := s.Fail(b.Slot, testNow, "not healthy"); err != nil {
					t.Fatalf("step %d: fail: %v", step, err)
				}
				failed = append(failed, b.Version)
			default: // crashed: the next start finds Boots = 1
				failed = append(failed, b.Version)
			}
		}
	}
	// Whatever happened, the highest version kept bounds what is newer.
	if _, err := s.Check(context.Background(), must(NewSource(writeRelease(t, filepath.Join(dir, "replay"), priv, highestKept.String(), []byte("x"), testNow, nil).dir, nil)), testOptions(pub)); err == nil && highestKept.Compare(Version{Major: 1}) > 0 {
		t.Errorf("a replay of the highest kept %s was accepted", highestKept)
	}
}
