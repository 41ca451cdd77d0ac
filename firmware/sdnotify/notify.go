package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Notifier sends notifications to the service manager. Its methods are safe
// for concurrent use and never block for long: a datagram to a unix socket
// either goes at once or is dropped (the manager then sees a missed ping).
type Notifier struct {
	conn     *net.UnixConn // nil: not started by systemd, every method is a no-op
	watchdog time.Duration // WATCHDOG_USEC; 0: no watchdog

	mu     sync.Mutex
	lastWD time.Time // when the last WATCHDOG=1 was sent
	now    func() time.Time
}

// FromEnv returns the Notifier of this process: the socket of NOTIFY_SOCKET
// (a path, or "@name" for the abstract namespace) and the watchdog interval of
// WATCHDOG_USEC when WATCHDOG_PID is unset or this process's pid. Without
// NOTIFY_SOCKET it returns a Notifier that does nothing. Unless keepEnv, the
// variables are removed from the environment so that child processes do not
// notify in this service's name (as sd_notify's unset_environment does).
func FromEnv(keepEnv bool) (*Notifier, error) {
	sock := os.Getenv("NOTIFY_SOCKET")
	usec, pid := os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID")
	if !keepEnv {
		for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
			os.Unsetenv(k)
		}
	}
	n := &Notifier{now: time.Now}
	if sock == "" {
		return n, nil
	}
	if usec != "" && (pid == "" || pid == strconv.Itoa(os.Getpid())) {
		v, err := strconv.ParseUint(usec, 10, 63)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("sdnotify: WATCHDOG_USEC: expected microseconds > 0, got %q", usec)
		}
		n.watchdog = time.Duration(v) * time.Microsecond
	}
	name := sock
	if strings.HasPrefix(sock, "@") {
		name = "\x00" + sock[1:]
	} else if !strings.HasPrefix(sock, "/") {
		return nil, fmt.Errorf("sdnotify: NOTIFY_SOCKET: expected a socket path or @name, got %q", sock)
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("sdnotify: NOTIFY_SOCKET %s: %w", sock, err)
	}
	n.conn = c
	return n, nil
}

// Enabled reports whether a service manager listens.
func (n *Notifier) Enabled() bool { return n.conn != nil }

// Watchdog is the watchdog interval systemd asked for (WatchdogSec=); 0 when
// there is none.
func (n *Notifier) Watchdog() time.Duration { return n.watchdog }

// Ready says the service is up (READY=1) with a status line.
func (n *Notifier) Ready(status string) error {
	return n.send("READY=1\nSTATUS=" + oneLine(status))
}

// Status sets the line `systemctl status` shows.
func (n *Notifier) Status(status string) error { return n.send("STATUS=" + oneLine(status)) }

// Stopping says the service is shutting down.
func (n *Notifier) Stopping() error { return n.send("STOPPING=1") }

// Heartbeat pets the watchdog (WATCHDOG=1), at most once every half watchdog
// interval however often it is called. Call it from the loop whose liveness
// the watchdog stands for: when that loop stops calling it, the pings stop
// and systemd restarts the service after WatchdogSec.
func (n *Notifier) Heartbeat() {
	if n.conn == nil || n.watchdog == 0 {
		return
	}
	n.mu.Lock()
	now := n.now()
	due := n.lastWD.IsZero() || now.Sub(n.lastWD) >= n.watchdog/2
	if due {
		n.lastWD = now
	}
	n.mu.Unlock()
	if due {
		n.send("WATCHDOG=1")
	}
}

// Close releases the socket.
func (n *Notifier) Close() error {
	if n.conn == nil {
		return nil
	}
	return n.conn.Close()
}

func (n *Notifier) send(state string) error {
	if n.conn == nil {
		return nil
	}
	n.conn.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := n.conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// oneLine keeps a status to one line: the protocol is newline-separated.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
