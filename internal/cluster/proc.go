package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Start starts authority i (`gridmesh run -c node.toml`) on its data directory.
func (c *Cluster) Start(i int) error { return c.StartProc(c.Nodes[i]) }

// StartProc starts p, an authority or a home, on its data directory.
func (c *Cluster) StartProc(p *Proc) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("cluster: %s is already running", p.Name)
		}
	}
	stderr, err := os.OpenFile(p.Stderr, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	stdout, err := os.OpenFile(p.Stdout, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		stderr.Close()
		return err
	}
	p.starts++
	fmt.Fprintf(stderr, "--- cluster: start %d of %s at %s\n", p.starts, p.Name, time.Now().UTC().Format(time.RFC3339Nano))
	args := []string{"run", "-c", p.Config}
	if d := os.Getenv("GRIDMESH_CPUPROFILE_DIR"); d != "" {
		// A CPU profile per start, for finding where a benchmark's time goes.
		args = append(args, "--cpuprofile", filepath.Join(d, fmt.Sprintf("%s-%d.prof", p.Name, p.starts)))
	}
	if d := os.Getenv("GRIDMESH_MEMPROFILE_DIR"); d != "" {
		// A heap profile per incarnation, written when it stops.
		args = append(args, "--memprofile", filepath.Join(d, fmt.Sprintf("%s-%d.heap", p.Name, p.starts)))
	}
	bin := c.binary
	if p.binary != "" {
		bin = p.binary
	}
	fmt.Fprintf(stderr, "--- cluster: binary %s\n", bin)
	cmd := exec.Command(bin, args...)
	if p.netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", p.netns, bin}, args...)...)
		cmd.SysProcAttr = dieWithParent()
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	if err := cmd.Start(); err != nil {
		stderr.Close()
		stdout.Close()
		return fmt.Errorf("cluster: start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.killed, p.exitErr = cmd, done, false, nil
	start := p.starts
	go func() {
		err := cmd.Wait()
		stderr.Close()
		stdout.Close()
		p.mu.Lock()
		p.exitErr = err
		if !p.killed {
			p.unwanted = append(p.unwanted, fmt.Sprintf("start %d exited by itself: %v", start, err))
		}
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// SetBinary makes bin the executable of p's next incarnations (a rolling
// upgrade replaces a node's binary between two of them); "" goes back to the
// cluster's.
func (p *Proc) SetBinary(bin string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.binary = bin
}

// Kill sends SIGKILL to authority i and waits until the process is gone.
func (c *Cluster) Kill(i int) error { return c.Nodes[i].Kill() }

// Kill sends SIGKILL to p's current incarnation and waits until it is gone.
func (p *Proc) Kill() error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd == nil {
		p.mu.Unlock()
		return fmt.Errorf("cluster: %s was never started", p.Name)
	}
	p.killed = true
	p.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("cluster: kill %s: %w", p.Name, err)
	}
	<-done
	return nil
}

// Stop ends every running node, authorities and homes, with SIGTERM (SIGKILL
// after the grace period) and waits for them.
func (c *Cluster) Stop(grace time.Duration) {
	var wg sync.WaitGroup
	for _, p := range slices.Concat(c.Nodes, c.Homes) {
		wg.Go(func() { p.Stop(grace) })
	}
	wg.Wait()
	c.client.CloseIdleConnections()
}

// Stop ends p's current incarnation, if any, with SIGTERM (SIGKILL after the
// grace period) and waits until it is gone, as systemd stops a service.
func (p *Proc) Stop(grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd != nil {
		p.killed = true
	}
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// Running reports whether authority i's current incarnation is alive.
func (c *Cluster) Running(i int) bool { return c.Nodes[i].Running() }

// Running reports whether p's current incarnation is alive.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Pid is the process id of authority i's current incarnation (0 if none).
func (c *Cluster) Pid(i int) int { return c.Nodes[i].Pid() }

// Pid is the process id of p's current incarnation (0 if none).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Unwanted lists authority i's incarnations that ended without being killed
// or stopped by the cluster.
func (c *Cluster) Unwanted(i int) []string { return c.Nodes[i].Unwanted() }

// Unwanted lists p's incarnations that ended without being killed or stopped
// by the cluster.
func (p *Proc) Unwanted() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.unwanted...)
}

// Starts is how many times authority i was started.
func (c *Cluster) Starts(i int) int { return c.Nodes[i].Starts() }

// Starts is how many times p was started.
func (p *Proc) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}
