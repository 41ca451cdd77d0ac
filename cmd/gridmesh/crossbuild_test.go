package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/config"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// requireAll reports whether a missing tool (qemu) is a failure rather than
// a skip: in CI, or when asked for.
func requireAll() bool {
	return os.Getenv("CI") == "true" || os.Getenv("GRIDMESH_REQUIRE_ALL") == "1"
}

// crossBuild builds ./cmd/gridmesh (this directory) for linux/goarch with
// cgo off and returns the binary's path.
func crossBuild(t *testing.T, dir, goarch, goarm string) string {
	t.Helper()
	bin := filepath.Join(dir, "gridmesh-"+goarch+goarm)
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if goarm != "" {
		cmd.Env = append(cmd.Env, "GOARM="+goarm)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=linux GOARCH=%s GOARM=%s CGO_ENABLED=0 go build ./cmd/gridmesh: %v\n%s", goarch, goarm, err, out)
	}
	return bin
}

// emulator returns the path of a qemu user-mode emulator, or skips the test
// (fails it when requireAll) if it is not installed.
func emulator(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := name + " not installed (apt-get install qemu-user-static); CI=true or GRIDMESH_REQUIRE_ALL=1 makes this a failure"
		if requireAll() {
			t.Fatal(msg)
		}
		t.Skip(msg) // only off CI: CI=true or GRIDMESH_REQUIRE_ALL=1 failed above
	}
	return p
}

// emulate runs bin under qemu in dir and returns its output and exit status.
func emulate(t *testing.T, qemu, dir, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(qemu, append([]string{bin}, args...)...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("%s %s %s: %v", qemu, bin, strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// TestCrossBuild builds the binary for the Pi's platforms as the release
// does (CGO_ENABLED=0) and runs it under qemu-user: `version` on arm64, and
// on 32-bit arm `run` and `demo` must refuse to start before touching a file.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross builds take minutes; run without -short")
	}
	out := t.TempDir()

	t.Run("linux/amd64", func(t *testing.T) {
		crossBuild(t, out, "amd64", "")
	})

	t.Run("linux/arm64", func(t *testing.T) {
		bin := crossBuild(t, out, "arm64", "")
		qemu := emulator(t, "qemu-aarch64-static")
		stdout, stderr, code := emulate(t, qemu, t.TempDir(), bin, "version")
		if code != 0 || !strings.Contains(stdout, "linux/arm64") {
			t.Errorf("gridmesh version on arm64: exit %d, stdout %q, stderr %q; want exit 0 and linux/arm64", code, stdout, stderr)
		}
	})

	t.Run("linux/arm/v7 refuses", func(t *testing.T) {
		bin := crossBuild(t, out, "arm", "7")
		qemu := emulator(t, "qemu-arm-static")
		work := t.TempDir()
		n := config.DefaultNode()
		n.Node.Name, n.Node.Role = "pi", config.RoleHome
		if err := os.WriteFile(filepath.Join(work, "node.toml"), n.TOML(), 0o644); err != nil {
			t.Fatal(err)
		}
		want := "gridmesh: " + errNeed64Bit.Error() + "\n"
		for _, args := range [][]string{
			{"run", "-c", "node.toml"},
			{"demo", "--data", "demo-data", "--for", "2s"},
		} {
			stdout, stderr, code := emulate(t, qemu, work, bin, args...)
			if code != 1 || stderr != want || stdout != "" {
				t.Errorf("gridmesh %s on armv7: exit %d, stdout %q, stderr %q; want exit 1 and %q", strings.Join(args, " "), code, stdout, stderr, want)
			}
		}
		for _, e := range must(os.ReadDir(work)) {
			if e.Name() != "node.toml" {
				t.Errorf("run/demo on armv7 created %s in the working directory", e.Name())
			}
		}
		// The 32-bit build still answers `version`: only the data paths refuse.
		if stdout, _, code := emulate(t, qemu, work, bin, "version"); code != 0 || !strings.Contains(stdout, "linux/arm") {
			t.Errorf("gridmesh version on armv7: exit %d, stdout %q", code, stdout)
		}
	})
}

// TestMarketGoldenCrossArch runs the market's golden test vectors on the Pi's
// platforms under qemu-user: clearing and settlement must give identical results
// on amd64, arm64 and 32-bit armv7 (the market is pure integer code and runs
// anywhere, unlike the stores).
func TestMarketGoldenCrossArch(t *testing.T) {
	if testing.Short() {
		t.Skip("cross builds take minutes; run without -short")
	}
	marketDir, err := filepath.Abs(filepath.Join("..", "..", "market"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ goarch, goarm, qemu string }{
		{"arm64", "", "qemu-aarch64-static"},
		{"arm", "7", "qemu-arm-static"},
	} {
		t.Run(p.goarch+p.goarm, func(t *testing.T) {
			qemu := emulator(t, p.qemu)
			bin := filepath.Join(t.TempDir(), "market.test")
			cmd := exec.Command("go", "test", "-c", "-o", bin, "github.com/gridmesh/gridmesh/market")
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+p.goarch, "CGO_ENABLED=0", "GOARM="+p.goarm)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build market tests for %s: %v\n%s", p.goarch, err, out)
			}
			stdout, stderr, code := emulate(t, qemu, marketDir, bin, "-test.run", "^TestGolden$", "-test.v")
			if code != 0 || !strings.Contains(stdout, "--- PASS: TestGolden") {
				t.Errorf("market golden vectors on %s%s: exit %d\n%s%s", p.goarch, p.goarm, code, stdout, stderr)
			}
		})
	}
}
