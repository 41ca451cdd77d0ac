package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/update"
)

// The update tests run real processes: gridmesh built twice with different
// versions (-ldflags -X main.releaseVersion), the old one installed as the
// launcher, under a supervisor that restarts it as systemd's
// Restart=on-failure does.

var builds struct {
	once     sync.Once
	dir      string
	old, new string // v1.0.0 (installed) and v1.1.0
	err      error
}

// buildVersions builds gridmesh as v1.0.0 and v1.1.0, once per test run.
func buildVersions(t *testing.T) (old, new string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds gridmesh twice and runs nodes as processes (not with -short)")
	}
	builds.once.Do(func() {
		builds.dir, builds.err = os.MkdirTemp("", "gridmesh-update-builds-")
		if builds.err != nil {
			return
		}
		for _, v := range []struct {
			version string
			out     *string
		}{{"v1.0.0", &builds.old}, {"v1.1.0", &builds.new}} {
			bin := filepath.Join(builds.dir, "gridmesh-"+v.version)
			cmd := exec.Command("go", "build", "-ldflags", "-X main.releaseVersion="+v.version, "-o", bin, ".")
			if out, err := cmd.CombinedOutput(); err != nil {
				builds.err = fmt.Errorf("go build %s: %v\n%s", v.version, err, out)
				return
			}
			*v.out = bin
		}
	})
	if builds.err != nil {
		t.Fatal(builds.err)
	}
	return builds.old, builds.new
}

func TestMain(m *testing.M) {
	code := m.Run()
	closeSyncSource()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// updNode is one node's files: a single-authority dev network whose
// genesis pins the test's release key.
type updNode struct {
	dir, cfg, api string
	slots         update.Slots
}

func newUpdNode(t *testing.T, pub minisign.PublicKey) updNode {
	t.Helper()
	dir := t.TempDir()
	if _, stderr, code := gridmesh(t, "init", "--dir", dir, "--name", "pi", "--role", "authority"); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	key, err := config.LoadKey(filepath.Join(dir, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	g := config.DefaultGenesis()
	g.ChainID, g.Dev = "test-1", true
	g.Operator = strings.Repeat("ab", 32)
	g.Tariff = config.TariffSection{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}
	g.Authorities = []config.Member{{Name: "pi", Key: hexKey(key)}}
	g.Updates.Keys = []string{update.PublicKeyText(pub)}
	if err := os.WriteFile(filepath.Join(dir, "genesis.toml"), g.TOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "node.toml")
	n, err := config.LoadNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := l.Addr().String()
	l.Close()
	n.Network.Listen, n.Network.MDNS, n.API.Listen = []string{"/ip4/127.0.0.1/tcp/0"}, false, api
	n.Node.Clock = config.ClockTrust
	if err := os.WriteFile(cfg, n.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}
	n.Dir = dir
	return updNode{dir: dir, cfg: cfg, api: api, slots: slotsFor(n)}
}

// supervisor runs `bin run -c cfg` and starts it again whenever it exits
// with a status other than 0, as systemd's Restart=on-failure does.
type supervisor struct {
	t    *testing.T
	bin  string
	args []string

	mu    sync.Mutex
	cmd   *exec.Cmd
	pid   int   // of the running incarnation, 0 between them
	exits []int // exit status of each ended incarnation (-1: killed)
	logs  bytes.Buffer
	stop  bool
	done  chan struct{}
}

func supervise(t *testing.T, bin string, args ...string) *supervisor {
	s := &supervisor{t: t, bin: bin, args: args, done: make(chan struct{})}
	go s.loop()
	t.Cleanup(s.Stop)
	return s
}

func (s *supervisor) loop() {
	defer close(s.done)
	for starts := 0; starts < 20; starts++ {
		s.mu.Lock()
		if s.stop {
			s.mu.Unlock()
			return
		}
		cmd := exec.Command(s.bin, s.args...)
		cmd.Env = withoutEnv(os.Environ(), envSlot, envKillAfter)
		cmd.Stdout, cmd.Stderr = &lockedWriter{&s.mu, &s.logs}, &lockedWriter{&s.mu, &s.logs}
		err := cmd.Start()
		s.cmd = cmd
		if err == nil {
			s.pid = cmd.Process.Pid
		}
		s.mu.Unlock()
		if err != nil {
			s.t.Errorf("start %s: %v", s.bin, err)
			return
		}
		err = cmd.Wait()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		s.mu.Lock()
		s.pid = 0
		s.exits = append(s.exits, code)
		stop := s.stop
		s.mu.Unlock()
		if stop || code == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond) // RestartSec
	}
	s.t.Errorf("supervisor: gridmesh restarted 20 times")
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// Stop ends the node with SIGTERM and waits for the supervisor.
func (s *supervisor) Stop() {
	s.mu.Lock()
	if s.stop {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.stop = true
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.mu.Lock()
		s.cmd.Process.Kill()
		s.mu.Unlock()
		<-s.done
	}
}

func (s *supervisor) Exits() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.exits...)
}

func (s *supervisor) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// Exe is the binary the current incarnation runs (after the launcher's
// exec, the slot's), or "" if none runs.
func (s *supervisor) Exe() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pid == 0 {
		return ""
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.pid))
	return exe
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, s *supervisor, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			logs := ""
			if s != nil {
				logs = s.Logs()
				if len(logs) > 6000 {
					logs = "..." + logs[len(logs)-6000:]
				}
			}
			t.Fatalf("after %s: %s did not happen\nexits %v\n%s", d, what, s.Exits(), logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// answers reports whether the node's API answers.
func (n updNode) answers() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + n.api + "/api/v1/status")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (n updNode) state(t *testing.T) update.State {
	t.Helper()
	st, err := n.slots.Load()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// releaseKey writes a release key pair with `gridmesh release keygen`.
func releaseKey(t *testing.T) (keyFile string, pub minisign.PublicKey) {
	t.Helper()
	dir := t.TempDir()
	keyFile = filepath.Join(dir, "release.key")
	if _, stderr, code := gridmesh(t, "release", "keygen", "--unencrypted", "--out", keyFile); code != 0 {
		t.Fatalf("release keygen: %s", stderr)
	}
	pub, err := minisign.PublicKeyFromFile(filepath.Join(dir, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	return keyFile, pub
}

// signRelease signs bin as version with `gridmesh release sign` into a new
// directory and returns it.
func signRelease(t *testing.T, keyFile, version, bin string, extra ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "release-"+version)
	args := append([]string{"release", "sign", "--key", keyFile, "--version", version, "--target", platform() + "=" + bin, "--out", out}, extra...)
	if stdout, stderr, code := gridmesh(t, args...); code != 0 {
		t.Fatalf("release sign: exit %d\n%s%s", code, stdout, stderr)
	}
	return out
}

// apply runs `bin update apply` as a process and returns its output and
// exit status (-1 if it was killed).
func (n updNode) apply(t *testing.T, bin, from string, env []string, extra ...string) (string, int) {
	t.Helper()
	args := append([]string{"update", "apply", "-c", n.cfg, "--from", from}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(withoutEnv(os.Environ(), envSlot, envKillAfter), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("update apply: %v", err)
	}
	return string(out), 0
}

func (n updNode) status(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "update", "status", "-c", n.cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("update status: %v\n%s", err, out)
	}
	return string(out)
}

// TestUpdateLifecycle: a good update is applied to a running node, which
// restarts into it and keeps it once healthy; then a release that exits at
// start and one that never becomes healthy are each rolled back by
// themselves, and the node runs the good version again.
func TestUpdateLifecycle(t *testing.T) {
	old, good := buildVersions(t)
	keyFile, pub := releaseKey(t)
	n := newUpdNode(t, pub)
	sup := supervise(t, old, "run", "-c", n.cfg)
	waitFor(t, 60*time.Second, "the installed v1.0.0 answering", sup, n.answers)
	if exe := sup.Exe(); exe != old {
		t.Fatalf("running %s, want the launcher %s", exe, old)
	}

	// A good update: v1.1.0 goes into slot a on trial; the node restarts
	// into it (exit 75) and keeps it once its API answers.
	rel := signRelease(t, keyFile, "v1.1.0", good)
	if out, code := n.apply(t, old, rel, nil, "--trial", "60s", "--min-peers", "0", "--settle", "1s"); code != 0 || !strings.Contains(out, "installed v1.1.0") {
		t.Fatalf("apply v1.1.0: exit %d\n%s", code, out)
	}
	waitFor(t, 60*time.Second, "v1.1.0 kept", sup, func() bool {
		st := n.state(t)
		return st.Active == update.SlotA && st.Trial == nil
	})
	if exe := sup.Exe(); exe != n.slots.Binary(update.SlotA) {
		t.Errorf("running %s, want slot a's binary", exe)
	}
	if got := sup.Exits(); len(got) != 1 || got[0] != exitRestartForUpdate {
		t.Errorf("exits %v, want [75] (restart into the update)", got)
	}
	// The node logs it just after it wrote the state.
	waitFor(t, 10*time.Second, `"v1.1.0 proved healthy" in the log`, sup, func() bool { return strings.Contains(sup.Logs(), "v1.1.0 proved healthy") })
	st := n.status(t, old)
	if !strings.Contains(st, "active:        v1.1.0 (slot a)") || !strings.Contains(st, "previous:      the installed binary (v1.0.0)") {
		t.Errorf("update status:\n%s", st)
	}

	// v1.2.0 exits at start (a binary that cannot even run the node): the
	// supervisor starts gridmesh again, and the launcher goes back to
	// v1.1.0 by itself.
	bad := filepath.Join(t.TempDir(), "gridmesh-bad")
	os.WriteFile(bad, []byte("#!/bin/sh\necho 'bad build: exiting at start' >&2\nexit 3\n"), 0o755)
	rel = signRelease(t, keyFile, "v1.2.0", bad)
	if out, code := n.apply(t, old, rel, nil, "--trial", "60s", "--min-peers", "0", "--settle", "1s"); code != 0 {
		t.Fatalf("apply v1.2.0: exit %d\n%s", code, out)
	}
	waitFor(t, 60*time.Second, "v1.2.0 rolled back", sup, func() bool {
		st := n.state(t)
		return st.LastRollback != nil && st.LastRollback.Version == "v1.2.0" && st.Trial == nil
	})
	waitFor(t, 60*time.Second, "v1.1.0 answering again from slot a", sup, func() bool {
		return n.answers() && sup.Exe() == n.slots.Binary(update.SlotA)
	})
	if st := n.state(t); st.Active != update.SlotA || !strings.Contains(st.LastRollback.Reason, "stopped before it proved healthy") {
		t.Errorf("after the crashing release: active %q, rollback %+v", st.Active, st.LastRollback)
	}
	if got := sup.Exits(); len(got) != 3 || got[1] != exitRestartForUpdate || got[2] != 3 {
		t.Errorf("exits %v, want [75 75 3]", got)
	}
	status := n.status(t, old)
	if !strings.Contains(status, "last rollback: v1.2.0") || !strings.Contains(status, "active:        v1.1.0 (slot a)") {
		t.Errorf("update status after the rollback:\n%s", status)
	}
	// The same release is refused from now on.
	if out, code := n.apply(t, old, rel, nil); code != 1 || !strings.Contains(out, "rolled back on this device before") {
		t.Errorf("re-apply v1.2.0: exit %d\n%s", code, out)
	}

	// v1.3.0 runs but never becomes healthy (it needs a peer and there is
	// none): it rolls itself back when its trial window passes (exit 76).
	rel = signRelease(t, keyFile, "v1.3.0", good)
	if out, code := n.apply(t, old, rel, nil, "--trial", "4s", "--min-peers", "1", "--settle", "1s"); code != 0 {
		t.Fatalf("apply v1.3.0: exit %d\n%s", code, out)
	}
	waitFor(t, 60*time.Second, "v1.3.0 rolled back", sup, func() bool {
		st := n.state(t)
		return st.LastRollback != nil && st.LastRollback.Version == "v1.3.0" && st.Trial == nil
	})
	waitFor(t, 60*time.Second, "v1.1.0 answering again from slot a", sup, func() bool {
		return n.answers() && sup.Exe() == n.slots.Binary(update.SlotA)
	})
	if r := n.state(t).LastRollback.Reason; !strings.Contains(r, "v1.3.0 was not healthy within 4s: 0 peer(s), 1 needed") {
		t.Errorf("rollback reason %q", r)
	}
	if got := sup.Exits(); len(got) != 5 || got[4] != exitTrialFailed {
		t.Errorf("exits %v, want [75 75 3 75 76]", got)
	}

	// v1.4.0 runs the node, healthy, but dies after 3 s, before it has
	// been healthy for --settle 10s: not kept, rolled back at the next start.
	dies := filepath.Join(t.TempDir(), "gridmesh-dies")
	os.WriteFile(dies, []byte("#!/bin/sh\n"+good+" \"$@\" &\nsleep 3\nkill -9 $!\nexit 3\n"), 0o755)
	rel = signRelease(t, keyFile, "v1.4.0", dies)
	if out, code := n.apply(t, old, rel, nil, "--trial", "60s", "--min-peers", "0", "--settle", "10s"); code != 0 {
		t.Fatalf("apply v1.4.0: exit %d\n%s", code, out)
	}
	waitFor(t, 60*time.Second, "v1.4.0 rolled back", sup, func() bool {
		st := n.state(t)
		return st.LastRollback != nil && st.LastRollback.Version == "v1.4.0" && st.Trial == nil
	})
	waitFor(t, 60*time.Second, "v1.1.0 answering again from slot a", sup, func() bool {
		return n.answers() && sup.Exe() == n.slots.Binary(update.SlotA)
	})
	if st := n.state(t); st.Active != update.SlotA || st.Highest != "v1.1.0" {
		t.Errorf("after v1.4.0: active %q, highest %q; want a, v1.1.0", st.Active, st.Highest)
	}
	if os.Getenv("GRIDMESH_UPDATE_LOGS") != "" {
		t.Log(sup.Logs())
	}
}

// snapshotDir returns every file under dir with its contents, but
// refused.json (the note of the last refusal), network.json (the running
// node writes it whenever what the chain says about releases changes) and
// the lock file.
func snapshotDir(dir string) map[string]string {
	files := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "refused.json" || d.Name() == "network.json" || strings.HasSuffix(d.Name(), ".lock") {
			return nil
		}
		b, _ := os.ReadFile(p)
		files[p] = fmt.Sprintf("%x", b)
		return nil
	})
	return files
}

// writeSigned writes a release directory by hand (for manifests `release
// sign` would not write), signed by key.
func writeSigned(t *testing.T, key minisign.PrivateKey, bin []byte, edit func(*update.Manifest)) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "gridmesh-bin"), bin, 0o755)
	sum, size, _ := update.FileSHA256(filepath.Join(dir, "gridmesh-bin"))
	now := time.Now().UTC().Truncate(time.Second)
	m := update.Manifest{Format: update.ManifestFormat, Version: "v1.1.0", Created: now.Add(-time.Hour), Expires: now.Add(time.Hour),
		Targets: map[string]update.Target{platform(): {File: "gridmesh-bin", SHA256: sum, Size: size}}}
	if edit != nil {
		edit(&m)
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := update.Sign(key, b)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
	os.WriteFile(filepath.Join(dir, "manifest.json.minisig"), sig, 0o644)
	return dir
}

// TestUpdateRefused: bad signature, wrong hash, truncated download,
// downgrade and expired manifest are each refused by `update apply` with a
// clear message; nothing in the slots changes and the running node is not
// restarted. `update status` shows the last refusal.
func TestUpdateRefused(t *testing.T) {
	old, good := buildVersions(t)
	keyFile, pub := releaseKey(t)
	key, err := update.LoadPrivateKey(keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := minisign.GenerateKey(nil)
	n := newUpdNode(t, pub)
	sup := supervise(t, old, "run", "-c", n.cfg)
	waitFor(t, 60*time.Second, "the node answering", sup, n.answers)
	bin, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// A loopback server that cuts the binary short.
	truncated := writeSigned(t, key, bin, nil)
	files := http.FileServer(http.Dir(truncated))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gridmesh-bin" {
			w.Header().Set("Content-Length", fmt.Sprint(len(bin)))
			w.Write(bin[:len(bin)/2])
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()

	wrongHash := writeSigned(t, key, bin, nil)
	flipped := append([]byte(nil), bin...)
	flipped[len(flipped)/2] ^= 1
	os.WriteFile(filepath.Join(wrongHash, "gridmesh-bin"), flipped, 0o755)

	before := snapshotDir(n.slots.Dir)
	for _, tc := range []struct {
		name, from, want string
	}{
		{"bad signature", writeSigned(t, otherKey, bin, nil), "update refused: update: bad signature: the manifest is not signed by any of the network's release keys"},
		{"wrong hash", wrongHash, "update refused: update: the binary does not match the manifest: gridmesh-bin has sha256"},
		{"truncated download", srv.URL + "/", fmt.Sprintf("update refused: update: truncated download: gridmesh-bin: got %d of %d bytes", len(bin)/2, len(bin))},
		{"downgrade", writeSigned(t, key, bin, func(m *update.Manifest) { m.Version = "v0.9.0" }), "update refused: update: not newer than the running version: v0.9.0 offered, v1.0.0 running"},
		{"same version", writeSigned(t, key, bin, func(m *update.Manifest) { m.Version = "v1.0.0" }), "v1.0.0 offered, v1.0.0 running"},
		{"expired", writeSigned(t, key, bin, func(m *update.Manifest) {
			m.Created, m.Expires = m.Created.Add(-48*time.Hour), m.Created.Add(-24*time.Hour)
		}), "update refused: update: the manifest has expired: v1.1.0 expired at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := n.apply(t, old, tc.from, nil, "--min-peers", "0", "--settle", "1s")
			if code != 1 || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, output\n%s\nwant exit 1 and %q", code, out, tc.want)
			}
			if after := snapshotDir(n.slots.Dir); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("the slots changed: before %d files, after %d: %v", len(before), len(after), slices.Sorted(maps.Keys(after)))
			}
			if st := n.status(t, old); !strings.Contains(st, "last refused:") {
				t.Errorf("update status shows no refusal:\n%s", st)
			}
		})
	}
	time.Sleep(2 * updateTimings.watch)
	if got := sup.Exits(); len(got) != 0 || sup.Exe() != old {
		t.Errorf("the node restarted (exits %v) or runs %s", got, sup.Exe())
	}
}

// TestUpdateKilledAtEveryStep: `update apply` SIGKILLed after each of its
// steps leaves a node that starts on a verified binary: the installed one
// up to the install, the new one on trial once it is marked; and a later
// apply still works.
func TestUpdateKilledAtEveryStep(t *testing.T) {
	old, good := buildVersions(t)
	keyFile, pub := releaseKey(t)
	rel := signRelease(t, keyFile, "v1.1.0", good)
	for _, step := range []update.Step{update.StepVerified, update.StepStaged, update.StepCleared, update.StepInstalled, update.StepMarked} {
		t.Run(step.String(), func(t *testing.T) {
			n := newUpdNode(t, pub)
			if out, code := n.apply(t, old, rel, []string{envKillAfter + "=" + step.String()}, "--min-peers", "0", "--settle", "1s", "--trial", "60s"); code != -1 {
				t.Fatalf("apply killed after %s: exit %d, want killed\n%s", step, code, out)
			}
			sup := supervise(t, old, "run", "-c", n.cfg)
			waitFor(t, 60*time.Second, "the node answering", sup, n.answers)
			want := old
			if step == update.StepMarked {
				want = n.slots.Binary(update.SlotA)
				waitFor(t, 60*time.Second, "v1.1.0 kept", sup, func() bool { st := n.state(t); return st.Active == update.SlotA && st.Trial == nil })
			}
			if exe := sup.Exe(); exe != want {
				t.Errorf("killed after %s: runs %s, want %s", step, exe, want)
			}
			if step != update.StepMarked {
				// The interrupted update can be applied again; the running
				// node restarts into it.
				if out, code := n.apply(t, old, rel, nil, "--min-peers", "0", "--settle", "1s", "--trial", "60s"); code != 0 {
					t.Fatalf("apply after the crash: exit %d\n%s", code, out)
				}
				waitFor(t, 60*time.Second, "v1.1.0 kept", sup, func() bool { st := n.state(t); return st.Active == update.SlotA && st.Trial == nil })
			}
			sup.Stop()
		})
	}
}

// TestUpdateCheck: check says what apply would do and writes nothing.
func TestUpdateCheck(t *testing.T) {
	keyFile, pub := releaseKey(t)
	n := newUpdNode(t, pub)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rel := signRelease(t, keyFile, "v99.0.0", self)
	stdout, stderr, code := gridmesh(t, "update", "check", "-c", n.cfg, "--from", filepath.Join(rel, "manifest.json"))
	if code != 0 || !strings.Contains(stdout, "v99.0.0 is signed by a release key of test-1") || !strings.Contains(stdout, "into slot a") {
		t.Errorf("check: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(n.slots.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("check wrote %s", n.slots.Dir)
	}
	if _, stderr, code := gridmesh(t, "update", "check", "-c", n.cfg); code != 2 || !strings.Contains(stderr, "--from") {
		t.Errorf("check without --from: exit %d, %s", code, stderr)
	}
	// A network that pins no keys takes no update.
	g, _ := config.LoadGenesis(filepath.Join(n.dir, "genesis.toml"))
	g.Updates.Keys = nil
	os.WriteFile(filepath.Join(n.dir, "genesis.toml"), g.TOML(), 0o644)
	if _, stderr, code := gridmesh(t, "update", "check", "-c", n.cfg, "--from", rel); code != 1 || !strings.Contains(stderr, "pins no release keys") {
		t.Errorf("no pinned keys: exit %d, %s", code, stderr)
	}
	// status of a node that never updated.
	stdout, _, code = gridmesh(t, "update", "status", "-c", n.cfg)
	if code != 0 || !strings.HasPrefix(stdout, "active:        the installed binary") {
		t.Errorf("status: exit %d\n%s", code, stdout)
	}
	stdout, _, _ = gridmesh(t, "update", "status", "-c", n.cfg, "--json")
	var r statusReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.State.Active != "" {
		t.Errorf("status --json: %v\n%s", err, stdout)
	}
}

func TestUpdateHelp(t *testing.T) {
	for _, args := range [][]string{
		{"update", "--help"}, {"update", "check", "--help"}, {"update", "apply", "--help"}, {"update", "status", "--help"},
		{"release", "--help"}, {"release", "keygen", "--help"}, {"release", "sign", "--help"}, {"help", "update"},
		{"release", "announce", "--help"}, {"release", "keys", "--help"},
	} {
		stdout, stderr, code := gridmesh(t, args...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, "Usage: gridmesh") {
			t.Errorf("gridmesh %s: exit %d, stderr %q, stdout %q", strings.Join(args, " "), code, stderr, stdout)
		}
	}
	for _, args := range [][]string{{"update"}, {"update", "bogus"}, {"release"}, {"release", "sign", "--out", "x"}, {"release", "sign", "--out", "x", "--target", "linux/arm64=f", "--version", "1.2"}} {
		if _, stderr, code := gridmesh(t, args...); code != 2 {
			t.Errorf("gridmesh %s: exit %d (%s), want 2", strings.Join(args, " "), code, stderr)
		}
	}
}

// TestUpdateApplyNeedsFixedAPIPort: with api.listen on port 0 the trial
// could never check its health, so apply refuses before it writes.
func TestUpdateApplyNeedsFixedAPIPort(t *testing.T) {
	keyFile, pub := releaseKey(t)
	n := newUpdNode(t, pub)
	c, _ := config.LoadNode(n.cfg)
	c.API.Listen = "127.0.0.1:0"
	os.WriteFile(n.cfg, c.TOML(), 0o600)
	self, _ := os.Executable()
	rel := signRelease(t, keyFile, "v99.0.0", self)
	if _, stderr, code := gridmesh(t, "update", "apply", "-c", n.cfg, "--from", rel); code != 1 || !strings.Contains(stderr, "api.listen: expected a fixed port") {
		t.Errorf("exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(n.slots.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("apply wrote %s", n.slots.Dir)
	}
}

// TestReleaseSignVerifiedByMinisign: Debian's minisign verifies what
// `gridmesh release sign` writes, with the key `release keygen` wrote.
func TestReleaseSignVerifiedByMinisign(t *testing.T) {
	tool, err := exec.LookPath("minisign")
	if err != nil {
		msg := "minisign not installed (apt-get install minisign); CI=true or GRIDMESH_REQUIRE_ALL=1 makes this a failure"
		if requireAll() {
			t.Fatal(msg)
		}
		t.Skip(msg) // only off CI: CI=true or GRIDMESH_REQUIRE_ALL=1 failed above
	}
	keyFile, _ := releaseKey(t)
	self, _ := os.Executable()
	rel := signRelease(t, keyFile, "v2.0.0", self)
	pubFile := strings.TrimSuffix(keyFile, ".key") + ".pub"
	out, err := exec.Command(tool, "-V", "-p", pubFile, "-m", filepath.Join(rel, "manifest.json")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "gridmesh release v2.0.0") {
		t.Errorf("minisign -V: %v\n%s", err, out)
	}
}

// TestUpdateDamagedSlot: a slot binary damaged after install (an SD card's
// bit rot) is not run: the launcher checks its sha256 at every start and
// runs the installed binary instead, and says why.
func TestUpdateDamagedSlot(t *testing.T) {
	old, good := buildVersions(t)
	keyFile, pub := releaseKey(t)
	n := newUpdNode(t, pub)
	rel := signRelease(t, keyFile, "v1.1.0", good)
	if out, code := n.apply(t, old, rel, nil, "--trial", "60s", "--min-peers", "0", "--settle", "1s"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	sup := supervise(t, old, "run", "-c", n.cfg)
	waitFor(t, 60*time.Second, "v1.1.0 kept", sup, func() bool { st := n.state(t); return st.Active == update.SlotA && st.Trial == nil })
	sup.Stop()

	f, err := os.OpenFile(n.slots.Binary(update.SlotA), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff}, 4096)
	f.Close()
	sup = supervise(t, old, "run", "-c", n.cfg)
	waitFor(t, 60*time.Second, "the installed binary answering", sup, func() bool { return n.answers() && sup.Exe() == old })
	if st := n.status(t, old); !strings.Contains(st, "active:        the installed binary (v1.0.0)") || !strings.Contains(st, "is not the v1.1.0 its manifest names") {
		t.Errorf("update status after the damage:\n%s", st)
	}
	if !strings.Contains(sup.Logs(), "slot a's binary") {
		t.Errorf("the log does not say why slot a was not run:\n%s", sup.Logs())
	}
}
