package serialtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Require fails the test (CI=true or GRIDMESH_REQUIRE_ALL=1) or skips it
// when the program is not installed; what names the package to install.
func Require(t testing.TB, program, what string) {
	t.Helper()
	if _, err := exec.LookPath(program); err == nil {
		return
	}
	Missing(t, program+" is not installed (apt-get install -y "+what+")")
}

// Missing ends a test that cannot run because a tool is not installed: it
// fails in CI (CI=true) or with GRIDMESH_REQUIRE_ALL=1, and skips elsewhere.
func Missing(t testing.TB, why string) {
	t.Helper()
	msg := why + "; CI=true or GRIDMESH_REQUIRE_ALL=1 makes this a failure"
	if os.Getenv("CI") == "true" || os.Getenv("GRIDMESH_REQUIRE_ALL") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Pair is a running socat joining two pseudo terminals, reachable as the
// symlinks A and B.
type Pair struct {
	A, B string
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
}

// NewPair starts socat with links in a temporary directory and waits until
// both exist. It is stopped when the test ends.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	Require(t, "socat", "socat")
	dir := t.TempDir()
	p := &Pair{A: filepath.Join(dir, "a"), B: filepath.Join(dir, "b"), t: t}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Start (re)starts socat on the pair's links.
func (p *Pair) Start() {
	p.t.Helper()
	p.cmd = exec.Command("socat", "pty,raw,echo=0,link="+p.A, "pty,raw,echo=0,link="+p.B)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("socat: %v", err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(p.cmd, p.done)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, ea := os.Stat(p.A)
		_, eb := os.Stat(p.B)
		if ea == nil && eb == nil {
			return
		}
		select {
		case <-ctx.Done():
			p.Stop()
			p.t.Fatalf("socat made no pty links within 5 s")
		case <-p.done:
			p.t.Fatalf("socat exited before making its links")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Stop ends socat: both ports vanish, as when an adapter is unplugged.
func (p *Pair) Stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
	os.Remove(p.A)
	os.Remove(p.B)
}
