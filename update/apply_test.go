package update

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
)

var testNow = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func testOptions(pub minisign.PublicKey) Options {
	return Options{Keys: Keys{pub}, Running: "v1.0.0", Platform: testPlatform, Now: testNow, Window: time.Minute, MinPeers: 1}
}

// snapshot returns every file under dir with its contents, except
// refused.json (the note of the last refusal) and the (empty) lock files.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "refused.json" || strings.HasSuffix(d.Name(), ".lock") {
			return nil
		}
		b, _ := os.ReadFile(p)
		files[strings.TrimPrefix(p, dir)] = string(b)
		return nil
	})
	return files
}

func sameFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestApplyAndLaunch(t *testing.T) {
	pub, priv := newKey(t)
	dir := t.TempDir()
	s := Slots{Dir: filepath.Join(dir, "slots")}
	rel := writeRelease(t, filepath.Join(dir, "r1"), priv, "v1.1.0", []byte("new binary"), testNow, nil)
	src := must(NewSource(rel.dir, nil))
	var steps []Step
	o := testOptions(pub)
	o.AfterStep = func(st Step) { steps = append(steps, st) }
	p, err := s.Apply(context.Background(), src, o)
	if err != nil {
		t.Fatal(err)
	}
	if p.Slot != SlotA || p.Current != "v1.0.0" {
		t.Errorf("plan: slot %s current %s, want a, v1.0.0", p.Slot, p.Current)
	}
	if want := []Step{StepVerified, StepStaged, StepCleared, StepInstalled, StepMarked}; !equalSteps(steps, want) {
		t.Errorf("steps %v, want %v", steps, want)
	}
	if b, _ := os.ReadFile(s.Binary(SlotA)); string(b) != "new binary" {
		t.Errorf("slot a holds %q", b)
	}
	st := must(s.Load())
	if st.Trial == nil || st.Trial.Slot != SlotA || st.Trial.Version != "v1.1.0" || st.Active != "" {
		t.Fatalf("after apply: %+v", st)
	}
	// Another apply during the trial is refused.
	if _, err := s.Check(context.Background(), src, o); !errors.Is(err, ErrDowngrade) && !errors.Is(err, ErrOnTrial) {
		t.Errorf("apply during trial: %v", err)
	}

	// First start: the trial runs.
	b := must(s.Launch("v1.0.0", testNow))
	if !b.Trial || b.Slot != SlotA || b.Path != s.Binary(SlotA) {
		t.Fatalf("first start: %+v", b)
	}
	if _, err := s.Commit(SlotA); err != nil {
		t.Fatal(err)
	}
	st = must(s.Load())
	if st.Active != SlotA || st.Previous != "" || st.Trial != nil {
		t.Fatalf("after commit: %+v", st)
	}
	if b := must(s.Launch("v1.0.0", testNow)); b.Slot != SlotA || b.Trial {
		t.Errorf("start after commit: %+v", b)
	}

	// v1.2.0 goes into b; it crashes (never commits): the second start
	// rolls back to a.
	rel2 := writeRelease(t, filepath.Join(dir, "r2"), priv, "v1.2.0", []byte("crashing binary"), testNow, nil)
	p, err = s.Apply(context.Background(), must(NewSource(rel2.dir, nil)), testOptions(pub))
	if err != nil || p.Slot != SlotB || p.Current != "v1.1.0" {
		t.Fatalf("second apply: %+v, %v", p, err)
	}
	if b := must(s.Launch("v1.0.0", testNow)); b.Slot != SlotB || !b.Trial {
		t.Fatalf("trial start: %+v", b)
	}
	b = must(s.Launch("v1.0.0", testNow.Add(time.Second)))
	if b.Slot != SlotA || b.Trial || !strings.Contains(b.Note, "rolled back") {
		t.Fatalf("start after a crashed trial: %+v", b)
	}
	st = must(s.Load())
	if st.LastRollback == nil || st.LastRollback.Version != "v1.2.0" || !strings.Contains(st.LastRollback.Reason, "before it proved healthy") {
		t.Errorf("last rollback: %+v", st.LastRollback)
	}
	// The failed version is not taken again, unless asked.
	if _, err := s.Check(context.Background(), must(NewSource(rel2.dir, nil)), testOptions(pub)); !errors.Is(err, ErrFailed) {
		t.Errorf("re-apply of a rolled-back version: %v, want ErrFailed", err)
	}
	o = testOptions(pub)
	o.Retry = true
	if _, err := s.Check(context.Background(), must(NewSource(rel2.dir, nil)), o); err != nil {
		t.Errorf("re-apply with Retry: %v", err)
	}

	// A damaged active slot: the launcher runs its own binary.
	os.WriteFile(s.Binary(SlotA), []byte("bit rot"), 0o755)
	b = must(s.Launch("v1.0.0", testNow))
	if b.Slot != "" || !strings.Contains(b.Note, "is not the v1.1.0") {
		t.Errorf("damaged slot: %+v", b)
	}
}

func equalSteps(a, b []Step) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestApplyRefusals: each bad release is refused with its reason, and the
// slots directory is as it was (but for the note in refused.json).
func TestApplyRefusals(t *testing.T) {
	pub, priv := newKey(t)
	_, otherPriv := newKey(t)
	for _, tc := range []struct {
		name    string
		version string
		key     minisign.PrivateKey
		edit    func(*Manifest)
		damage  func(t *testing.T, r release) // after signing
		want    error
		msg     string
	}{
		{name: "bad signature", version: "v1.1.0", key: otherPriv, want: ErrBadSignature, msg: "not signed by any of the network's release keys"},
		{name: "manifest changed after signing", version: "v1.1.0", key: priv, damage: func(t *testing.T, r release) {
			p := filepath.Join(r.dir, "manifest.json")
			os.WriteFile(p, bytes.Replace(must(os.ReadFile(p)), []byte("v1.1.0"), []byte("v1.1.1"), 1), 0o644)
		}, want: ErrBadSignature},
		{name: "wrong hash", version: "v1.1.0", key: priv, damage: func(t *testing.T, r release) {
			os.WriteFile(filepath.Join(r.dir, "gridmesh-v1.1.0"), []byte("evil binar"), 0o755) // same size
		}, want: ErrBadBinary, msg: "sha256"},
		{name: "truncated", version: "v1.1.0", key: priv, damage: func(t *testing.T, r release) {
			os.WriteFile(filepath.Join(r.dir, "gridmesh-v1.1.0"), []byte("new"), 0o755)
		}, want: ErrTruncated, msg: "got 3 of 10 bytes"},
		{name: "too long", version: "v1.1.0", key: priv, damage: func(t *testing.T, r release) {
			os.WriteFile(filepath.Join(r.dir, "gridmesh-v1.1.0"), []byte("new binary plus"), 0o755)
		}, want: ErrBadBinary, msg: "larger"},
		{name: "downgrade", version: "v0.9.0", key: priv, want: ErrDowngrade, msg: "v0.9.0 offered, v1.0.0 running"},
		{name: "same version", version: "v1.0.0", key: priv, want: ErrDowngrade},
		{name: "pre-release of the running version", version: "v1.0.0-rc.1", key: priv, want: ErrDowngrade},
		{name: "expired", version: "v1.1.0", key: priv, edit: func(m *Manifest) {
			m.Created, m.Expires = testNow.Add(-48*time.Hour), testNow.Add(-time.Hour)
		}, want: ErrExpired, msg: "expired at"},
		{name: "no target", version: "v1.1.0", key: priv, edit: func(m *Manifest) {
			m.Targets = map[string]Target{"linux/riscv64": m.Targets[testPlatform]}
		}, want: ErrNoTarget, msg: "none for linux/arm64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := Slots{Dir: filepath.Join(dir, "slots")}
			// A device that has taken one update already.
			first := writeRelease(t, filepath.Join(dir, "r0"), priv, "v0.5.0", []byte("old binary"), testNow, nil)
			o := testOptions(pub)
			o.Running = "v0.1.0"
			if _, err := s.Apply(context.Background(), must(NewSource(first.dir, nil)), o); err != nil {
				t.Fatal(err)
			}
			must(s.Launch("v0.1.0", testNow))
			must(s.Commit(SlotA))
			before := snapshot(t, s.Dir)

			r := writeRelease(t, filepath.Join(dir, "r"), tc.key, tc.version, []byte("new binary"), testNow, tc.edit)
			if tc.damage != nil {
				tc.damage(t, r)
			}
			_, err := s.Apply(context.Background(), must(NewSource(r.dir, nil)), testOptions(pub))
			var ref *Refusal
			if !errors.Is(err, tc.want) || !errors.As(err, &ref) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want a refusal wrapping %v containing %q", err, tc.want, tc.msg)
			}
			if after := snapshot(t, s.Dir); !sameFiles(before, after) {
				t.Errorf("refused update changed the slots:\nbefore %v\nafter  %v", keys(before), keys(after))
			}
			if e := must(s.LastRefusal()); e == nil || !strings.Contains(e.Reason, tc.want.Error()) {
				t.Errorf("refused.json: %+v", e)
			}
		})
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestApplyHTTP fetches a release from a loopback HTTP server, and sees a
// download cut short refused.
func TestApplyHTTP(t *testing.T) {
	pub, priv := newKey(t)
	dir := t.TempDir()
	rel := writeRelease(t, filepath.Join(dir, "r"), priv, "v1.1.0", bytes.Repeat([]byte("x"), 1<<20), testNow, nil)
	cut := false
	files := http.FileServer(http.Dir(rel.dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cut && strings.HasPrefix(r.URL.Path, "/gridmesh-") {
			w.Header().Set("Content-Length", "1048576")
			w.Write(bytes.Repeat([]byte("x"), 1000))
			return // the server hangs up after 1000 of 1 MiB
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()

	s := Slots{Dir: filepath.Join(dir, "slots")}
	cut = true
	_, err := s.Apply(context.Background(), must(NewSource(srv.URL+"/", srv.Client())), testOptions(pub))
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("cut download: %v, want ErrTruncated", err)
	}
	if s.Exists() || fileExists(s.Binary(SlotA)) || fileExists(s.Binary(SlotA)+".new") {
		t.Error("cut download left a state file or a binary")
	}
	cut = false
	if _, err := s.Apply(context.Background(), must(NewSource(srv.URL+"/manifest.json", srv.Client())), testOptions(pub)); err != nil {
		t.Fatal(err)
	}
	if st := must(s.Load()); st.Trial == nil || st.Trial.Version != "v1.1.0" {
		t.Errorf("after apply over http: %+v", st)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestLaunchNewerLauncher: a launcher upgraded by its package (newer than
// the active slot) runs itself, not the older slot.
func TestLaunchNewerLauncher(t *testing.T) {
	pub, priv := newKey(t)
	dir := t.TempDir()
	s := Slots{Dir: filepath.Join(dir, "slots")}
	rel := writeRelease(t, filepath.Join(dir, "r"), priv, "v1.1.0", []byte("bin"), testNow, nil)
	must(s.Apply(context.Background(), must(NewSource(rel.dir, nil)), testOptions(pub)))
	must(s.Launch("v1.0.0", testNow))
	must(s.Commit(SlotA))
	if b := must(s.Launch("v1.1.0", testNow)); b.Slot != "" {
		t.Errorf("launcher v1.1.0, slot v1.1.0: ran %+v, want the launcher", b)
	}
	st := must(s.Load())
	if st.Active != "" || st.Previous != SlotA {
		t.Errorf("state: %+v", st)
	}
}

// TestFailRollsBack: a trial that reports itself unhealthy is rolled back
// with its reason, and the next start runs what was active.
func TestFailRollsBack(t *testing.T) {
	pub, priv := newKey(t)
	dir := t.TempDir()
	s := Slots{Dir: filepath.Join(dir, "slots")}
	rel := writeRelease(t, filepath.Join(dir, "r"), priv, "v1.1.0", []byte("bin"), testNow, nil)
	must(s.Apply(context.Background(), must(NewSource(rel.dir, nil)), testOptions(pub)))
	must(s.Launch("v1.0.0", testNow))
	if err := s.Fail(SlotA, testNow, "not healthy within 1m0s: 0 peers"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(SlotA); err == nil {
		t.Error("a rolled-back trial committed")
	}
	if b := must(s.Launch("v1.0.0", testNow)); b.Slot != "" || b.Trial {
		t.Errorf("after fail: %+v", b)
	}
	if st := must(s.Load()); st.LastRollback == nil || st.LastRollback.Reason != "not healthy within 1m0s: 0 peers" {
		t.Errorf("last rollback: %+v", st.LastRollback)
	}
}

// TestHighestKept: once v1.2.0 was kept, a replayed (older, validly
// signed) v1.1.0 is refused even after the slot that held v1.2.0 is lost
// and the launcher runs its own v1.0.0.
func TestHighestKept(t *testing.T) {
	pub, priv := newKey(t)
	dir := t.TempDir()
	s := Slots{Dir: filepath.Join(dir, "slots")}
	old := writeRelease(t, filepath.Join(dir, "r1"), priv, "v1.1.0", []byte("v1.1.0"), testNow, nil)
	rel := writeRelease(t, filepath.Join(dir, "r2"), priv, "v1.2.0", []byte("v1.2.0"), testNow, nil)
	must(s.Apply(context.Background(), must(NewSource(rel.dir, nil)), testOptions(pub)))
	must(s.Launch("v1.0.0", testNow))
	must(s.Commit(SlotA))
	os.Remove(s.Binary(SlotA))
	if b := must(s.Launch("v1.0.0", testNow)); b.Slot != "" {
		t.Fatalf("slot a lost: ran %+v, want the launcher", b)
	}
	_, err := s.Check(context.Background(), must(NewSource(old.dir, nil)), testOptions(pub))
	if !errors.Is(err, ErrDowngrade) || !strings.Contains(err.Error(), "v1.1.0 offered, v1.2.0 running") {
		t.Errorf("replayed v1.1.0: %v, want ErrDowngrade against v1.2.0", err)
	}
}

// TestClockBehind: a device whose clock is far behind the release (a Pi
// without a real-time clock before NTP) refuses it: the expiry would mean
// nothing.
func TestClockBehind(t *testing.T) {
	pub, priv := newKey(t)
	dir := t.TempDir()
	rel := writeRelease(t, filepath.Join(dir, "r"), priv, "v1.1.0", []byte("bin"), testNow, nil)
	o := testOptions(pub)
	o.Now = time.Unix(0, 0)
	_, err := Slots{Dir: filepath.Join(dir, "slots")}.Check(context.Background(), must(NewSource(rel.dir, nil)), o)
	if !errors.Is(err, ErrClock) || !strings.Contains(err.Error(), "is it synchronised?") {
		t.Errorf("clock at 1970: %v, want ErrClock", err)
	}
}

// TestApplyBusy: a second apply while one runs is refused at once (two
// would write the same staged file).
func TestApplyBusy(t *testing.T) {
	pub, priv := newKey(t)
	dir := t.TempDir()
	s := Slots{Dir: filepath.Join(dir, "slots")}
	rel := writeRelease(t, filepath.Join(dir, "r"), priv, "v1.1.0", []byte("bin"), testNow, nil)
	os.MkdirAll(s.Dir, 0o755)
	unlock, err := tryLock(filepath.Join(s.Dir, "apply.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(context.Background(), must(NewSource(rel.dir, nil)), testOptions(pub)); !errors.Is(err, ErrBusy) {
		t.Errorf("apply while another runs: %v, want ErrBusy", err)
	}
	unlock()
	if _, err := s.Apply(context.Background(), must(NewSource(rel.dir, nil)), testOptions(pub)); err != nil {
		t.Errorf("apply after the other ended: %v", err)
	}
}
