package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// InNetns runs f on an OS thread inside the network namespace ns
// (/run/netns/ns, as `ip netns add` makes it) and returns when f has. A
// socket or a TUN device belongs to the namespace of the thread that
// created it and keeps it after f returns, so f may make connections and
// devices that the caller then uses from anywhere. f must not start
// goroutines that expect to run in ns. If the thread cannot go back to its
// own namespace it stays locked and ends with f's goroutine, so that no
// other goroutine ever runs in ns.
func InNetns(ns string, f func()) error {
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		return fmt.Errorf("cluster: namespace %s: %w", ns, err)
	}
	defer target.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("cluster: enter namespace %s: %w", ns, err)
			return
		}
		f()
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- nil
	}()
	return <-done
}

// dialIn dials addr from inside the network namespace ns.
func dialIn(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	var conn net.Conn
	var derr error
	if err := InNetns(ns, func() { conn, derr = (&net.Dialer{}).DialContext(ctx, network, addr) }); err != nil {
		return nil, err
	}
	return conn, derr
}

// dieWithParent makes a child process get SIGKILL when the process that
// started it dies (a test binary killed by its timeout leaves no node
// behind in a namespace).
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
