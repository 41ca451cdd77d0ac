package portlease

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// Leases hold ports on Linux only (lease_other.go): these tests are built there.

// soReusePort is SO_REUSEPORT on Linux (the syscall package lacks it).
const soReusePort = 0xf

// reuseport listens the way a libp2p TCP transport does.
func reuseport(port int) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			for _, opt := range []int{syscall.SO_REUSEADDR, soReusePort} {
				if serr == nil {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 1)
				}
			}
		})
		return errors.Join(err, serr)
	}}
	return lc.Listen(context.Background(), "tcp", fmt.Sprintf("127.0.0.1:%d", port))
}

func TestLeaseHoldsThePortForReuseportListenersOnly(t *testing.T) {
	port, err := TCP(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Nobody else may take it while it is leased.
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		l.Close()
		t.Fatalf("a plain listener bound leased port %d; want address in use", port)
	}
	// Nothing answers on it: the lease does not listen.
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Fatalf("a connection to leased port %d was accepted; want refused", port)
	}
	// The node's listener binds it and gets its connections.
	l, err := reuseport(port)
	if err != nil {
		t.Fatalf("a reuseport listener on leased port %d: %v; want it bound", port, err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		t.Fatalf("dial the listener on leased port %d: %v", port, err)
	}
	c.Close()
}

func TestLeaseIsReleased(t *testing.T) {
	port, err := TCP(50 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d still held 10 s after a 50 ms lease: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond) // polls for the AfterFunc that releases the lease
	}
}
