package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// listen opens a unix datagram socket as systemd's manager would and returns
// what arrives on it, with the time it arrived.
type datagram struct {
	at   time.Time
	text string
}

func listen(t *testing.T) (path string, got func() []datagram) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path = filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var all []datagram
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			all = append(all, datagram{time.Now(), string(buf[:n])})
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return path, func() []datagram {
		mu.Lock()
		defer mu.Unlock()
		return append([]datagram(nil), all...)
	}
}

// waitFor polls got until it holds want datagrams or a generous deadline passes.
func texts(d []datagram) []string {
	s := make([]string, len(d))
	for i, x := range d {
		s[i] = x.text
	}
	return s
}

func waitFor(got func() []datagram, want int) []datagram {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if d := got(); len(d) >= want {
			return d
		}
	}
	return got()
}

func TestReadyAndStatus(t *testing.T) {
	path, got := listen(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "")
	n, err := FromEnv(false)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if !n.Enabled() || n.Watchdog() != 0 {
		t.Fatalf("Enabled %v, Watchdog %v; want true, 0", n.Enabled(), n.Watchdog())
	}
	if os.Getenv("NOTIFY_SOCKET") != "" {
		t.Error("NOTIFY_SOCKET left in the environment for child processes")
	}
	n.Heartbeat() // no watchdog asked for: nothing sent
	if err := n.Ready("height 3\nsynced"); err != nil {
		t.Fatal(err)
	}
	n.Stopping()
	d := waitFor(got, 2)
	if len(d) != 2 || d[0].text != "READY=1\nSTATUS=height 3 synced" || d[1].text != "STOPPING=1" {
		t.Errorf("datagrams %q; want READY=1 with one status line, then STOPPING=1", texts(d))
	}
}

// TestWatchdogStopsWithItsSource: a source calling Heartbeat every 5 ms
// gets a ping out at most every half interval; when the source blocks (a
// stuck loop), the pings stop.
func TestWatchdogStopsWithItsSource(t *testing.T) {
	path, got := listen(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "100000") // 100 ms: a ping every 50 ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	n, err := FromEnv(false)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.Watchdog() != 100*time.Millisecond {
		t.Fatalf("Watchdog %v, want 100ms", n.Watchdog())
	}
	block := make(chan struct{})
	stopped := make(chan time.Time)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		deadline := time.Now().Add(400 * time.Millisecond)
		for now := range tick.C {
			if now.After(deadline) {
				stopped <- time.Now()
				<-block // stuck: no more heartbeats
				return
			}
			n.Heartbeat()
		}
	}()
	stuckAt := <-stopped
	defer close(block)
	time.Sleep(300 * time.Millisecond) // three intervals with the source stuck
	d := got()
	if len(d) < 3 {
		t.Fatalf("%d pings in 400 ms of heartbeats every 5 ms; want about 8", len(d))
	}
	for i, p := range d {
		if p.text != "WATCHDOG=1" {
			t.Errorf("datagram %d = %q, want WATCHDOG=1", i, p.text)
		}
		if i > 0 && p.at.Sub(d[i-1].at) < 40*time.Millisecond {
			t.Errorf("pings %d and %d %v apart; want at least half the 100 ms interval", i-1, i, p.at.Sub(d[i-1].at))
		}
		if p.at.After(stuckAt.Add(20 * time.Millisecond)) {
			t.Errorf("ping %d at %v after the source stuck; want none", i, p.at.Sub(stuckAt))
		}
	}
	if len(d) > 12 {
		t.Errorf("%d pings for 80 heartbeats over 400 ms; want them limited to one per 50 ms", len(d))
	}
}

func TestNotForThisProcess(t *testing.T) {
	path, got := listen(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1)) // the parent's watchdog
	n, err := FromEnv(false)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	n.Heartbeat()
	if n.Watchdog() != 0 {
		t.Errorf("Watchdog %v for another pid's WATCHDOG_PID; want 0", n.Watchdog())
	}
	n.Status("x")
	if d := waitFor(got, 1); len(d) != 1 || d[0].text != "STATUS=x" {
		t.Errorf("datagrams %q; want only STATUS=x", texts(d))
	}
}

func TestOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n, err := FromEnv(false)
	if err != nil || n.Enabled() {
		t.Fatalf("FromEnv = %v, %v; want a disabled Notifier", n.Enabled(), err)
	}
	if err := n.Ready("x"); err != nil {
		t.Error(err)
	}
	n.Heartbeat()
	for _, bad := range []struct{ sock, usec, want string }{
		{"relative/path", "", "NOTIFY_SOCKET"},
		{"/nonexistent/sock", "", "NOTIFY_SOCKET /nonexistent/sock"},
		{"/x", "ten", "WATCHDOG_USEC"},
	} {
		t.Setenv("NOTIFY_SOCKET", bad.sock)
		t.Setenv("WATCHDOG_USEC", bad.usec)
		t.Setenv("WATCHDOG_PID", "")
		if _, err := FromEnv(true); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("NOTIFY_SOCKET=%q WATCHDOG_USEC=%q: err %v; want one naming %s", bad.sock, bad.usec, err, bad.want)
		}
	}
}
