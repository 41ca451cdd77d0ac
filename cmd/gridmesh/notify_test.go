package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
)

// loopbackNode is newNode with a config that runs for real on loopback only.
func loopbackNode(t *testing.T) (dir, cfgPath string) {
	t.Helper()
	dir, cfgPath = newNode(t)
	c, err := config.LoadNode(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	c.Network.Listen, c.Network.MDNS, c.API.Listen = []string{"/ip4/127.0.0.1/tcp/0"}, false, "127.0.0.1:0"
	c.Node.Clock = config.ClockTrust
	if err := os.WriteFile(cfgPath, c.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfgPath
}

// TestRunNotifiesSystemd runs `gridmesh run` as systemd would start it
// (NOTIFY_SOCKET, WATCHDOG_USEC): READY=1 comes once the node is loaded and
// its API answers, then WATCHDOG=1 pings from the node's loop; STOPPING=1 at
// the end.
func TestRunNotifiesSystemd(t *testing.T) {
	_, cfgPath := loopbackNode(t)
	sockDir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "400000") // a ping every 200 ms
	t.Setenv("WATCHDOG_PID", "")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"run", "-c", cfgPath}, pw, io.Discard)
		pw.Close()
		done <- err
	}()
	go io.Copy(io.Discard, pr)

	read := func() string {
		t.Helper()
		ln.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 4096)
		n, err := ln.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
	var ready string
	for ready == "" {
		switch m := read(); {
		case strings.HasPrefix(m, "READY=1\n"):
			ready = m
		case strings.HasPrefix(m, "STATUS="):
		default:
			t.Fatalf("before READY=1: %q", m)
		}
	}
	// READY names the API; it answers by then.
	i := strings.Index(ready, "http://")
	if i < 0 {
		t.Fatalf("READY %q names no status URL", ready)
	}
	resp, err := http.Get(strings.Fields(ready[i:])[0])
	if err != nil {
		t.Fatalf("READY sent but the API does not answer: %v", err)
	}
	resp.Body.Close()
	pings := 0
	start := time.Now()
	for pings < 3 {
		if m := read(); m == "WATCHDOG=1" {
			pings++
		}
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("3 pings in %v; want them limited to one per 200 ms", el)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	for {
		if m := read(); m == "STOPPING=1" {
			break
		}
	}
}
