package deb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// requireAll reports whether a missing tool is a failure rather than a skip:
// in CI, or when asked for (as cmd/gridmesh's qemu tests do).
func requireAll() bool {
	return os.Getenv("CI") == "true" || os.Getenv("GRIDMESH_REQUIRE_ALL") == "1"
}

// tool returns the path of a tool from a Debian package, or skips the test
// (fails it when requireAll) if it is not installed.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("%s not installed (apt-get install %s); CI=true or GRIDMESH_REQUIRE_ALL=1 makes this a failure", name, pkg)
		if requireAll() {
			t.Fatal(msg)
		}
		t.Skip(msg) // not under CI=true or GRIDMESH_REQUIRE_ALL=1: t.Fatal above
	}
	return p
}

var (
	built    = map[string]string{}
	buildErr = map[string]error{}
	buildMu  sync.Mutex
)

// pkg builds the package for arch once per test binary (the cross-build is
// the slow part) and returns its path.
func pkg(t *testing.T, arch string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[arch]; ok || buildErr[arch] != nil {
		if buildErr[arch] != nil {
			t.Fatal(buildErr[arch])
		}
		return p
	}
	out, err := os.MkdirTemp("", "gridmesh-deb-test-")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(context.Background(), Options{Arch: arch, Version: "0.1.0", Root: "../..", Out: out})
	built[arch], buildErr[arch] = p, err
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRefuses32Bit(t *testing.T) {
	for _, a := range []string{"arm", "armhf", "386"} {
		if err := checkArch(a); !errors.Is(err, ErrNeed64Bit) || !strings.Contains(err.Error(), "silently loses data") {
			t.Errorf("checkArch(%q) = %v; want ErrNeed64Bit with the reason", a, err)
		}
		if _, err := Build(context.Background(), Options{Arch: a, Version: "1", Out: t.TempDir()}); !errors.Is(err, ErrNeed64Bit) {
			t.Errorf("Build(%q) = %v; want ErrNeed64Bit", a, err)
		}
	}
	if err := checkArch("riscv64"); err == nil || errors.Is(err, ErrNeed64Bit) {
		t.Errorf("checkArch(riscv64) = %v; want an unsupported-architecture error", err)
	}
}

// TestNfpmNotInGridmesh: the packager stays out of the device's binary.
func TestNfpmNotInGridmesh(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./cmd/gridmesh")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Fields(string(out)) {
		if strings.HasPrefix(l, "github.com/goreleaser/") || strings.HasSuffix(l, "/firmware/deb") {
			t.Errorf("cmd/gridmesh depends on %s", l)
		}
	}
}

// TestPackage lists the package, unpacks it into a scratch root, runs its
// maintainer scripts there (with the commands that would touch the host's
// users and services replaced by ones that log their arguments) through
// install, upgrade, remove and purge, and verifies the unit.
func TestPackage(t *testing.T) {
	dpkgDeb := tool(t, "dpkg-deb", "dpkg")
	deb := pkg(t, "amd64")
	st, err := os.Stat(deb)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes", filepath.Base(deb), st.Size())

	out, err := exec.Command(dpkgDeb, "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) >= 6 {
			modes["/"+strings.TrimPrefix(f[5], "./")] = f[0] + " " + f[1]
		}
	}
	for path, want := range map[string]string{
		"/usr/bin/gridmesh":                     "-rwxr-xr-x root/root",
		"/lib/systemd/system/gridmesh.service":  "-rw-r--r-- root/root",
		"/etc/gridmesh/node.toml":               "-rw-r--r-- root/root",
		"/usr/share/doc/gridmesh/copyright":     "-rw-r--r-- root/root",
		"/usr/share/lintian/overrides/gridmesh": "-rw-r--r-- root/root",
	} {
		if modes[path] != want {
			t.Errorf("%s: %q, want %q", path, modes[path], want)
		}
	}
	for path := range modes {
		if strings.HasPrefix(path, "/var/lib/gridmesh") || strings.HasSuffix(path, ".key") {
			t.Errorf("the package carries %s: state and keys are made on the device", path)
		}
	}

	root, ctrl := t.TempDir(), t.TempDir()
	for _, args := range [][]string{{"-x", deb, root}, {"-e", deb, ctrl}} {
		if out, err := exec.Command(dpkgDeb, args...).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb %v: %v\n%s", args, err, out)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ctrl, "conffiles")); string(b) != "/etc/gridmesh/node.toml\n" {
		t.Errorf("conffiles %q, want /etc/gridmesh/node.toml", b)
	}
	control, _ := os.ReadFile(filepath.Join(ctrl, "control"))
	for _, want := range []string{"Package: gridmesh\n", "Architecture: amd64\n", "Depends: adduser\n"} {
		if !bytes.Contains(control, []byte(want)) {
			t.Errorf("control lacks %q:\n%s", want, control)
		}
	}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("PRIVATE KEY-----")) {
				t.Errorf("%s holds key material", p)
			}
		}
		return nil
	})

	// The home template the package installs is a valid config of the layout.
	tmpl, err := os.ReadFile(filepath.Join(root, "etc/gridmesh/node.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`role = "home"`, `key = "/var/lib/gridmesh/node.key"`, `data = "/var/lib/gridmesh/data"`, `genesis = "/etc/gridmesh/genesis.toml"`, `listen = "127.0.0.1:8080"`} {
		if !bytes.Contains(tmpl, []byte(want)) {
			t.Errorf("node.toml lacks %s", want)
		}
	}

	sh := newScripts(t, root, ctrl)
	sh.run("postinst", "configure")
	sh.logged("addgroup --quiet --system gpio",
		"adduser --quiet --system --group --home /var/lib/gridmesh --no-create-home --gecos gridmesh energy-trading node gridmesh",
		"adduser --quiet gridmesh dialout", "adduser --quiet gridmesh gpio",
		"install -d -o gridmesh -g gridmesh -m 0750 "+root+"/var/lib/gridmesh",
		"chown root:gridmesh "+root+"/etc/gridmesh "+root+"/etc/gridmesh/node.toml",
		"deb-systemd-helper enable gridmesh.service")
	for p, want := range map[string]os.FileMode{"etc/gridmesh": 0o750 | fs.ModeDir, "etc/gridmesh/node.toml": 0o640, "var/lib/gridmesh": 0o750 | fs.ModeDir} {
		if st, err := os.Stat(filepath.Join(root, p)); err != nil || st.Mode() != want {
			t.Errorf("%s after postinst: %v, %v; want mode %v", p, st.Mode(), err, want)
		}
	}
	// The device runs: its key, its chain and the network's genesis appear.
	for _, p := range []string{"var/lib/gridmesh/node.key", "var/lib/gridmesh/data/MANIFEST", "etc/gridmesh/genesis.toml"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kept := func(when string) {
		t.Helper()
		for _, p := range []string{"var/lib/gridmesh/node.key", "var/lib/gridmesh/data/MANIFEST", "etc/gridmesh/genesis.toml", "etc/gridmesh/node.toml"} {
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("%s: %s gone: %v", when, p, err)
			}
		}
	}
	// Upgrade: old prerm upgrade, new postinst configure OLD-VERSION.
	sh.run("prerm", "upgrade", "0.1.1")
	sh.run("postrm", "upgrade", "0.1.1")
	sh.run("postinst", "configure", "0.0.9")
	kept("upgrade")
	// Remove keeps data and config.
	sh.run("prerm", "remove")
	sh.run("postrm", "remove")
	kept("remove")
	sh.logged("deb-systemd-helper mask gridmesh.service")
	// Purge deletes them.
	sh.run("postrm", "purge")
	for _, p := range []string{"var/lib/gridmesh", "etc/gridmesh"} {
		if _, err := os.Stat(filepath.Join(root, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after purge %s: %v; want it gone", p, err)
		}
	}
	sh.logged("deb-systemd-helper purge gridmesh.service")

	t.Run("systemd", func(t *testing.T) { checkUnit(t, root) })
}

// maint runs maintainer scripts from ctrl against the scratch root.
type maint struct {
	t               *testing.T
	root, ctrl, log string
	stubs           string
}

func newScripts(t *testing.T, root, ctrl string) *maint {
	s := &maint{t: t, root: root, ctrl: ctrl, stubs: t.TempDir()}
	s.log = filepath.Join(s.stubs, "log")
	stub := func(name, body string) {
		b := "#!/bin/sh\necho \"" + name + " $*\" >> " + s.log + "\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(s.stubs, name), []byte(b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stub("getent", "exit 2") // no such user or group yet
	stub("addgroup", "")
	stub("adduser", "")
	stub("chown", "")
	// install -d -o USER ...: make the directory with its mode; the owner is logged.
	stub("install", `for a; do d=$a; done; mkdir -p "$d"; chmod 0750 "$d"`)
	stub("deb-systemd-helper", "")
	stub("deb-systemd-invoke", "")
	stub("systemctl", "")
	return s
}

func (s *maint) run(name string, args ...string) {
	s.t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-e", filepath.Join(s.ctrl, name)}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+s.stubs+":"+os.Getenv("PATH"), "DPKG_ROOT="+s.root)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func (s *maint) logged(lines ...string) {
	s.t.Helper()
	b, _ := os.ReadFile(s.log)
	for _, l := range lines {
		if !strings.Contains(string(b), l+"\n") {
			s.t.Errorf("maintainer scripts did not run %q; they ran:\n%s", l, b)
		}
	}
}

// securityRE is systemd-analyze security's verdict line.
var securityRE = regexp.MustCompile(`Overall exposure level for gridmesh.service: ([0-9.]+)`)

// checkUnit verifies the unpacked unit with ExecStart pointing at the
// unpacked binary (verify checks that it is executable), and scores it.
func checkUnit(t *testing.T, root string) {
	sa := tool(t, "systemd-analyze", "systemd")
	b, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/gridmesh.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "gridmesh.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(b, []byte("/usr/bin/gridmesh"), []byte(filepath.Join(root, "usr/bin/gridmesh"))), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sa, "verify", unit).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(sa, "security", "--offline=yes", unit).CombinedOutput()
	m := securityRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security --offline=yes: %v, no verdict in\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security --offline=yes: %.1f", score)
	if score > 2.5 {
		t.Errorf("exposure %.1f, want at most 2.5:\n%s", score, out)
	}
}

// TestLintian: no errors (E:) on the package; warnings are listed in
// firmware/README.md.
func TestLintian(t *testing.T) {
	lintian := tool(t, "lintian", "lintian")
	deb := pkg(t, "amd64")
	out, err := exec.Command(lintian, "--tag-display-limit", "0", deb).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "E: ") {
			t.Errorf("lintian: %s", l)
		}
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("lintian: %v\n%s", err, out)
	}
	t.Logf("lintian:\n%s", out)
}
