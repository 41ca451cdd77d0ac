package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
)

// gridmesh runs the command in-process as main would and returns what it
// printed and its exit status.
func gridmesh(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	code = exitCode(err, &errb)
	return out.String(), errb.String(), code
}

// oneLine checks that stderr is exactly one "gridmesh: " line.
func oneLine(t *testing.T, stderr string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "gridmesh: ") || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr = %q, want one line starting with \"gridmesh: \"", stderr)
	}
	return lines[0]
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"},
		{"help", "demo"}, {"help", "init"},
		{"init", "--help"}, {"init", "-h"},
		{"run", "--help"}, {"run", "-h"},
		{"demo", "--help"}, {"demo", "-h"},
		{"config", "--help"}, {"config", "-h"},
		{"config", "check", "--help"}, {"config", "check", "-h"},
		{"version", "--help"}, {"version", "-h"},
		{"sim", "--help"}, {"market", "--help"}, {"market", "clear", "--help"},
		{"authority", "--help"}, {"admit", "--help"}, {"activate", "--help"}, {"tariff", "--help"},
	} {
		stdout, stderr, code := gridmesh(t, args...)
		if code != 0 || stderr != "" {
			t.Errorf("gridmesh %s: exit %d, stderr %q; want exit 0, no stderr", strings.Join(args, " "), code, stderr)
		}
		if !strings.Contains(stdout, "Usage: gridmesh") && !strings.Contains(stdout, "Usage:\n  gridmesh") {
			t.Errorf("gridmesh %s: stdout lacks the usage:\n%s", strings.Join(args, " "), stdout)
		}
	}
	stdout, _, _ := gridmesh(t, "demo", "--help")
	for _, flag := range []string{"-homes", "-authorities", "-slot", "-for", "-seed", "-data", "-json"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("demo --help lacks %s", flag)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "gridmesh: no command given (see gridmesh --help)"},
		{[]string{"fly"}, `gridmesh: unknown command "fly" (see gridmesh --help)`},
		{[]string{"demo", "--bogus"}, "gridmesh: demo: flag provided but not defined: -bogus (see gridmesh demo --help)"},
		{[]string{"demo", "--homes", "0"}, "gridmesh: demo: --homes: expected at least 1, got 0"},
		{[]string{"demo", "--slot", "soon"}, `gridmesh: demo: invalid value "soon" for flag -slot: parse error (see gridmesh demo --help)`},
		{[]string{"demo", "--for", "-1s"}, "gridmesh: demo: --for: expected a duration > 0, got -1s"},
		{[]string{"run", "-c"}, "gridmesh: run: flag needs an argument: -c (see gridmesh run --help)"},
		{[]string{"run", "node.toml"}, `gridmesh: run: unexpected argument "node.toml" (see gridmesh run --help)`},
		{[]string{"init", "--role", "landlord"}, `gridmesh: init: --role: expected "home" or "authority", got "landlord"`},
		{[]string{"config"}, "gridmesh: config: expected a command: check (see gridmesh config --help)"},
		{[]string{"config", "fix"}, `gridmesh: config: unknown command "fix" (see gridmesh config --help)`},
		{[]string{"version", "now"}, `gridmesh: version: unexpected argument "now" (see gridmesh version --help)`},
		{[]string{"authority", "promote", "ab"}, "gridmesh: authority: expected add|remove KEY (see gridmesh authority --help)"},
		{[]string{"authority", "add", "ab"}, "gridmesh: authority add: KEY: ident: malformed account: 2 characters, want 64"},
		{[]string{"activate", "warp-drive", "--height", "9"}, "gridmesh: activate: this release does not know upgrade \"warp-drive\" (it knows release-votes, tariff-seq-next)"},
		{[]string{"activate", "tariff-seq-next"}, "gridmesh: activate tariff-seq-next: --height H is required"},
		{[]string{"admit"}, "gridmesh: admit: expected KEY (see gridmesh admit --help)"},
		{[]string{"release", "announce"}, "gridmesh: release announce: expected DIR or MANIFEST (see gridmesh release announce --help)"},
		{[]string{"release", "keys"}, "gridmesh: release keys: expected 1 to 8 minisign public keys (see gridmesh release keys --help)"},
		{[]string{"tariff", "--floor", "1"}, "gridmesh: tariff: --floor, --ceiling, --fee (>= 0) and --seq (> 0) are all required"},
	} {
		stdout, stderr, code := gridmesh(t, tc.args...)
		if code != 2 {
			t.Errorf("gridmesh %q: exit %d, want 2", tc.args, code)
		}
		if got := oneLine(t, stderr); got != tc.want {
			t.Errorf("gridmesh %q:\n got %s\nwant %s", tc.args, got, tc.want)
		}
		if stdout != "" {
			t.Errorf("gridmesh %q: stdout %q, want nothing", tc.args, stdout)
		}
	}
}

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pi")
	stdout, stderr, code := gridmesh(t, "init", "--dir", dir, "--role", "authority", "--name", "co-op")
	if code != 0 {
		t.Fatalf("init: exit %d, stderr %q", code, stderr)
	}
	keyPath, cfgPath := filepath.Join(dir, "node.key"), filepath.Join(dir, "node.toml")
	for _, want := range []string{"created " + keyPath, "created " + cfgPath, "public key: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("init stdout lacks %q:\n%s", want, stdout)
		}
	}
	st, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("key mode = %04o, want 0600", st.Mode().Perm())
	}
	key, err := config.LoadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	n, err := config.LoadNode(cfgPath)
	if err != nil {
		t.Fatalf("starter config does not load: %v", err)
	}
	if n.Node.Name != "co-op" || n.Node.Role != config.RoleAuthority || n.Path(n.Node.Key) != keyPath {
		t.Errorf("starter config: name %q role %q key %q; want co-op, authority, %s", n.Node.Name, n.Node.Role, n.Path(n.Node.Key), keyPath)
	}
	cfg, _ := os.ReadFile(cfgPath)

	// A second init refuses and changes nothing.
	_, stderr, code = gridmesh(t, "init", "--dir", dir)
	if code != 1 {
		t.Errorf("second init: exit %d, want 1", code)
	}
	if got, want := oneLine(t, stderr), "gridmesh: init: "+keyPath+" already exists; refusing to overwrite it"; got != want {
		t.Errorf("second init:\n got %s\nwant %s", got, want)
	}
	if again, _ := config.LoadKey(keyPath); !key.Equal(again) {
		t.Error("second init changed the key")
	}
	if again, _ := os.ReadFile(cfgPath); !bytes.Equal(cfg, again) {
		t.Error("second init changed node.toml")
	}

	// An existing config alone also stops init, before a key is written.
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, "node.toml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code = gridmesh(t, "init", "--dir", dir2); code != 1 || !strings.Contains(stderr, "refusing to overwrite") {
		t.Errorf("init over a config: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir2, "node.key")); err == nil {
		t.Error("init wrote a key next to an existing config")
	}
}

// newNode runs init in a fresh directory and writes a dev genesis next to it.
func newNode(t *testing.T) (dir, cfgPath string) {
	t.Helper()
	dir = t.TempDir()
	if _, stderr, code := gridmesh(t, "init", "--dir", dir, "--name", "h1"); code != 0 {
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
	g.Authorities = []config.Member{{Name: "a", Key: hexKey(key)}}
	if err := os.WriteFile(filepath.Join(dir, "genesis.toml"), g.TOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(dir, "node.toml")
}

func hexKey(k []byte) string {
	const digits = "0123456789abcdef"
	pub := k[32:]
	b := make([]byte, 0, 64)
	for _, c := range pub {
		b = append(b, digits[c>>4], digits[c&15])
	}
	return string(b)
}

func TestConfigCheck(t *testing.T) {
	dir, cfgPath := newNode(t)
	stdout, stderr, code := gridmesh(t, "config", "check", "-c", cfgPath)
	if code != 0 || stdout != "ok\n" {
		t.Fatalf("config check of a fresh node: exit %d, stdout %q, stderr %q; want ok", code, stdout, stderr)
	}
	if stdout, _, code = gridmesh(t, "config", "check", "--genesis", filepath.Join(dir, "genesis.toml")); code != 0 || stdout != "ok\n" {
		t.Errorf("config check --genesis: exit %d, stdout %q", code, stdout)
	}

	// An authority whose key the genesis does not list.
	other := filepath.Join(t.TempDir(), "other.toml")
	g := config.DefaultGenesis()
	g.ChainID, g.Dev, g.Operator = "test-1", true, strings.Repeat("ab", 32)
	g.Tariff = config.TariffSection{Floor: 1, Ceiling: 2}
	g.Authorities = []config.Member{{Name: "a", Key: strings.Repeat("cd", 32)}}
	if err := os.WriteFile(other, g.TOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, "auth.toml")
	n, _ := config.LoadNode(cfgPath)
	n.Node.Role = config.RoleAuthority
	if err := os.WriteFile(auth, n.TOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code = gridmesh(t, "config", "check", "-c", auth); code != 0 {
		t.Errorf("authority listed in genesis: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = gridmesh(t, "config", "check", "-c", auth, "--genesis", other)
	if got := oneLine(t, stderr); code != 1 || !strings.Contains(got, "node.role: expected this authority's key") {
		t.Errorf("authority not in genesis: exit %d, stderr %q", code, got)
	}

	// Missing key file: one clear line.
	keyPath := filepath.Join(dir, "node.key")
	if err := os.Rename(keyPath, keyPath+".bak"); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = gridmesh(t, "config", "check", "-c", cfgPath)
	if code != 1 {
		t.Errorf("missing key: exit %d, want 1", code)
	}
	if got, want := oneLine(t, stderr), "gridmesh: "+keyPath+": no such key file (run gridmesh init)"; got != want {
		t.Errorf("missing key:\n got %s\nwant %s", got, want)
	}

	// Malformed config: every problem, each on its own line naming the file.
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("version = 1\n[node]\nrole = \"x\"\n[meter]\ninterval = \"abc\"\ncolour = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = gridmesh(t, "config", "check", "-c", bad)
	if code != 1 || stdout != "" {
		t.Errorf("malformed: exit %d stdout %q, want 1 and nothing", code, stdout)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	// config check goes on past a malformed config to the files it names:
	// the key removed above is the fifth problem.
	if len(lines) != 5 || lines[4] != "gridmesh: "+keyPath+": no such key file (run gridmesh init)" {
		t.Errorf("malformed: got %d lines, want 4 (colour, interval, name, role) and the missing key:\n%s", len(lines), stderr)
	}
	for _, l := range lines[:min(4, len(lines))] {
		if !strings.HasPrefix(l, "gridmesh: "+bad+": ") {
			t.Errorf("line does not name the file: %q", l)
		}
	}
	if !strings.Contains(stderr, `meter.interval: expected a duration such as "1s", got "abc"`) {
		t.Errorf("malformed: stderr lacks the interval problem:\n%s", stderr)
	}

	// Missing config file.
	missing := filepath.Join(dir, "none.toml")
	_, stderr, code = gridmesh(t, "config", "check", "-c", missing)
	if got, want := oneLine(t, stderr), "gridmesh: "+missing+": no such file"; code != 1 || got != want {
		t.Errorf("missing config: exit %d\n got %s\nwant %s", code, got, want)
	}
}

func TestRunErrors(t *testing.T) {
	dir, cfgPath := newNode(t)
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("version = 1\n[node\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "node.key")
	// Every case fails before the node opens its p2p host, so nothing listens
	// beyond loopback; the API port is the only one bound.
	setAPI := func(addr string) {
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`(?m)^listen = "[^"]*"`)
		if !re.Match(b) {
			t.Fatalf("%s has no api listen line", cfgPath)
		}
		if err := os.WriteFile(cfgPath, re.ReplaceAll(b, []byte(`listen = "`+addr+`"`)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setAPI("127.0.0.1:0")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name  string
		setup func()
		cfg   string
		want  string // stderr contains
	}{
		{"malformed config", func() {}, bad, bad + ": line "},
		{"missing config", func() {}, filepath.Join(dir, "none.toml"), filepath.Join(dir, "none.toml") + ": no such file"},
		{"port in use", func() { setAPI(busy.Addr().String()) }, cfgPath, "api.listen: listen tcp " + busy.Addr().String() + ": bind: address already in use"},
		// A corrupt chain store is not a start error: it is moved aside and
		// fetched again from peers (node.TestCorruptStoreRepairedFromPeers).
		{"missing key", func() { os.Remove(keyPath) }, cfgPath, keyPath + ": no such key file (run gridmesh init)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errb bytes.Buffer
			err := run(ctx, []string{"run", "-c", tc.cfg}, &out, &errb)
			code := exitCode(err, &errb)
			if code != 1 {
				t.Errorf("exit %d, want 1; stderr %q", code, errb.String())
			}
			if got := oneLine(t, errb.String()); !strings.Contains(got, tc.want) {
				t.Errorf("stderr %q, want it to contain %q", got, tc.want)
			}
		})
	}
}

func TestRefuse32Bit(t *testing.T) {
	defer func(n int) { intSize = n }(intSize)
	intSize = 32
	dir, cfgPath := newNode(t)
	demoData := filepath.Join(dir, "demo-data")
	want := "gridmesh: a 64-bit OS is required: badger, the chain and meter store, silently loses data on 32-bit platforms; install 64-bit Raspberry Pi OS (Pi Zero 2 W, 3, 4, 5)"
	for _, args := range [][]string{
		{"run", "-c", cfgPath},
		{"demo", "--data", demoData, "--for", "1s"},
	} {
		stdout, stderr, code := gridmesh(t, args...)
		if code != 1 || stdout != "" {
			t.Errorf("%q on 32-bit: exit %d, stdout %q; want 1 and nothing", args, code, stdout)
		}
		if got := oneLine(t, stderr); got != want {
			t.Errorf("%q on 32-bit:\n got %s\nwant %s", args, got, want)
		}
	}
	for _, p := range []string{filepath.Join(dir, "data"), demoData} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was created on a 32-bit platform", p)
		}
	}
	// --help still works there.
	if _, _, code := gridmesh(t, "run", "--help"); code != 0 {
		t.Errorf("run --help on 32-bit: exit %d, want 0", code)
	}
}

func TestVersion(t *testing.T) {
	stdout, stderr, code := gridmesh(t, "version")
	if code != 0 || stderr != "" {
		t.Fatalf("version: exit %d stderr %q", code, stderr)
	}
	for _, want := range []string{"gridmesh ", "commit ", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(stdout, want) {
			t.Errorf("version output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestSimUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sim"}, "gridmesh: sim: expected a simulation: chain or p2p"},
		{[]string{"sim", "ledger"}, `gridmesh: sim: unexpected argument "ledger" (see gridmesh sim --help)`},
	} {
		_, stderr, code := gridmesh(t, tc.args...)
		if got := oneLine(t, stderr); code != 2 || got != tc.want {
			t.Errorf("%v: exit %d\n got %s\nwant exit 2 and %s", tc.args, code, got, tc.want)
		}
	}
}

func TestStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	other := errors.New("port in use")
	if err := stopped(ctx, context.Canceled); err == nil {
		t.Error("stopped: a Canceled error without a cancelled ctx was swallowed")
	}
	cancel()
	if err := stopped(ctx, fmt.Errorf("node: %w", context.Canceled)); err != nil {
		t.Errorf("stopped after a signal: got %v, want nil", err)
	}
	if err := stopped(ctx, other); err != other {
		t.Errorf("stopped: got %v, want %v", err, other)
	}
}

// --memprofile writes the heap when the node is asked to stop, or when it
// stops by itself (here at once: its config is missing); a path it cannot
// create is an error before the node starts.
func TestRunMemProfile(t *testing.T) {
	dir, cfgPath := newNode(t)
	// Loopback only, no mDNS: the node runs for real below.
	c, err := config.LoadNode(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	c.Network.Listen, c.Network.MDNS, c.API.Listen = []string{"/ip4/127.0.0.1/tcp/0"}, false, "127.0.0.1:0"
	c.Node.Clock = config.ClockTrust
	if err := os.WriteFile(cfgPath, c.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}
	isProfile := func(path string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("no heap profile: %v", err)
		}
		if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("heap profile of %d bytes starts %x; want a gzipped pprof profile", len(b), b[:min(len(b), 2)])
		}
	}

	stopping := filepath.Join(dir, "stopping.prof")
	ctx, cancel := context.WithCancel(context.Background())
	// The running node logs to io.Discard: libp2p's gossip loop may still
	// log its shutdown after Run returns.
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"run", "-c", cfgPath, "--memprofile", stopping}, io.Discard, io.Discard)
	}()
	time.Sleep(2 * time.Second) // running: the profile is written only when asked to stop
	if _, err := os.Stat(stopping); err != nil {
		t.Fatalf("the profile file is not created at start: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run, stopped: %v", err)
	}
	isProfile(stopping)

	early := filepath.Join(dir, "early.prof")
	var out, errb bytes.Buffer
	err = run(context.Background(), []string{"run", "-c", filepath.Join(dir, "none.toml"), "--memprofile", early}, &out, &errb)
	if code := exitCode(err, &errb); code != 1 {
		t.Errorf("exit %d, want 1 (no config); stderr %q", code, errb.String())
	}
	isProfile(early)

	errb.Reset()
	err = run(context.Background(), []string{"run", "-c", cfgPath, "--memprofile", filepath.Join(dir, "no", "such", "dir.prof")}, &out, &errb)
	if code := exitCode(err, &errb); code != 1 || !strings.Contains(errb.String(), "--memprofile") {
		t.Errorf("unwritable profile path: exit %d, stderr %q; want 1 and a --memprofile error", code, errb.String())
	}
}
