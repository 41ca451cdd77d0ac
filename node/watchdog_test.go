package node

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/firmware/sdnotify"
	"github.com/gridmesh/gridmesh/node/nodetest"
)

// notifySocket listens on a unix datagram socket as systemd's notify socket
// does and points NOTIFY_SOCKET and WATCHDOG_USEC at it (a ping due every
// half of usec).
func notifySocket(t *testing.T, usec string) *net.UnixConn {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", usec)
	t.Setenv("WATCHDOG_PID", "")
	return ln
}

// readUntil returns the next datagram on ln, or ok false once deadline has
// passed with none.
func readUntil(t *testing.T, ln *net.UnixConn, deadline time.Time) (msg string, ok bool) {
	t.Helper()
	ln.SetReadDeadline(deadline)
	buf := make([]byte, 4096)
	n, err := ln.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "", false
	}
	if err != nil {
		t.Fatalf("notify socket: %v", err)
	}
	return string(buf[:n]), true
}

// TestWatchdogStopsWhenLoopBlocked runs an authority with systemd's notify
// protocol (sdnotify.Notifier from NOTIFY_SOCKET and WATCHDOG_USEC, as
// `gridmesh run` wires it) against a real unix datagram socket. Nothing
// arrives before Load has returned; READY=1 comes once Run has the node up;
// WATCHDOG=1 pings follow. Then the loop goroutine itself is blocked, for
// real: an order clears at its gate and the OnEvent hook, which the loop
// calls for the SlotCleared event, does not return until the test lets it.
// While it is held no ping may arrive (systemd would restart the node after
// WatchdogSec); once it is let go the pings resume.
func TestWatchdogStopsWhenLoopBlocked(t *testing.T) {
	const watchdog = 400 * time.Millisecond
	ln := notifySocket(t, "400000")
	sd, err := sdnotify.FromEnv(false)
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	paths := demoNet(t, 1, 1, nil) // the authority, and a home whose key signs the order

	blocked, release := make(chan struct{}), make(chan struct{})
	held := false // read and written by the loop goroutine only
	opts := Options{
		Ready:     func() { sd.Ready("up") },
		Heartbeat: sd.Heartbeat,
		OnEvent: func(ev chain.Event) {
			if _, ok := ev.(chain.SlotCleared); !ok || held {
				return
			}
			held = true
			close(blocked)
			<-release // the loop goroutine is stuck here
		},
	}
	n, err := Load(context.Background(), paths[0], opts)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := readUntil(t, ln, time.Now().Add(50*time.Millisecond)); ok {
		t.Fatalf("before Run: got %q on the notify socket; want nothing until the node runs", m)
	}
	r := nodetest.Go(n.cfg.Node.Name, n.Run)
	defer r.Halt(t)
	freed := false
	defer func() {
		if !freed {
			close(release) // a failed test still lets the loop stop
		}
	}()

	m, ok := readUntil(t, ln, time.Now().Add(30*time.Second))
	if !ok || !strings.HasPrefix(m, "READY=1\n") {
		t.Fatalf("first notification: got %q (ok %v); want READY=1", m, ok)
	}
	if st := n.Status(); st.Network == "" || st.Name == "" {
		t.Errorf("READY=1 with status %+v; want the chain loaded", st)
	}
	pings := func(until time.Time) int {
		c := 0
		for {
			m, ok := readUntil(t, ln, until)
			if !ok {
				return c
			}
			if m == "WATCHDOG=1" {
				c++
			}
		}
	}
	if got := pings(time.Now().Add(5 * watchdog)); got < 3 {
		t.Fatalf("WATCHDOG=1 pings in %v of a running loop: got %d; want at least 3", 5*watchdog, got)
	}

	// Block the loop: an order for slot 0 (the demo's first traded slot;
	// it opens a few seconds after start), cleared at its gate.
	waitFor(t, "slot 0 open", 30*time.Second, func() bool { return slices.Contains(n.Status().OpenSlots, 0) })
	postTx(t, n, sellOrder(n, nodeKey(t, paths[1]), 1, 0))
	select {
	case <-blocked:
	case <-time.After(60 * time.Second):
		t.Fatal("no SlotCleared event: the loop was never blocked")
	}
	// Every ping the loop sent before it blocked is already in the socket's
	// buffer (a datagram is queued before Heartbeat returns, and Heartbeat
	// runs on the loop before OnEvent): take those out. (A read whose
	// deadline has passed returns at once, queued datagrams or not, hence
	// the few milliseconds.)
	pings(time.Now().Add(20 * time.Millisecond))
	if got := pings(time.Now().Add(5 * watchdog)); got != 0 {
		t.Errorf("WATCHDOG=1 pings while the loop was blocked for %v: got %d; want 0", 5*watchdog, got)
	}
	if st := n.Status(); st.Height == 0 {
		t.Errorf("status while blocked: height %d; want the node otherwise alive", st.Height)
	}

	freed = true
	close(release)
	if got := pings(time.Now().Add(5 * watchdog)); got < 1 {
		t.Errorf("WATCHDOG=1 pings after the loop was let go: got %d in %v; want them resumed", got, 5*watchdog)
	}
}
