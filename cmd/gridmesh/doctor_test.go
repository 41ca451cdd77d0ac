package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNode runs `gridmesh run -c cfg` in-process until the test ends.
func startNode(t *testing.T, cfg string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"run", "-c", cfg}, io.Discard, io.Discard) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run -c %s: %v", cfg, err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

func writeConfig(t *testing.T, path string, edit func(*config.Node)) {
	t.Helper()
	n, err := config.LoadNode(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(&n)
	if err := os.WriteFile(path, n.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func doctorJSON(t *testing.T, cfg string) (doctorReport, int) {
	t.Helper()
	out, stderr, code := gridmesh(t, "doctor", "--json", "-c", cfg)
	var r doctorReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor --json: %v: %q (stderr %q)", err, out, stderr)
	}
	return r, code
}

func (r doctorReport) status(name string) check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return check{}
}

// TestDoctor runs an authority and a home on loopback, doctors the home
// while it runs (ok but for the simulated meter, the trusted clock and its
// admission, with the code), admits it by that code on the authority, and
// doctors it again once stopped (the node check fails: exit status 1).
func TestDoctor(t *testing.T) {
	authDir, authCfg := newNode(t)
	// newNode's genesis lists its key as the one authority: make it one.
	authP2P, authAPI := freePort(t), freePort(t)
	writeConfig(t, authCfg, func(n *config.Node) {
		n.Node.Role, n.Node.Clock = config.RoleAuthority, config.ClockTrust
		n.Network.Listen, n.Network.MDNS = []string{"/ip4/127.0.0.1/tcp/" + strconv.Itoa(authP2P)}, false
		n.API.Listen = "127.0.0.1:" + strconv.Itoa(authAPI)
	})
	startNode(t, authCfg)
	var authID string
	for deadline := time.Now().Add(30 * time.Second); authID == ""; time.Sleep(100 * time.Millisecond) {
		if st, err := fetchStatus(context.Background(), "127.0.0.1:"+strconv.Itoa(authAPI)); err == nil {
			authID = st.NodeID
		} else if time.Now().After(deadline) {
			t.Fatalf("authority not up: %v", err)
		}
	}

	homeDir := t.TempDir()
	if _, stderr, code := gridmesh(t, "init", "--dir", homeDir, "--name", "h1"); code != 0 {
		t.Fatal(stderr)
	}
	g, err := os.ReadFile(filepath.Join(authDir, "genesis.toml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(homeDir, "genesis.toml"), g, 0o644)
	homeCfg := filepath.Join(homeDir, "node.toml")
	writeConfig(t, homeCfg, func(n *config.Node) {
		n.Node.Clock = config.ClockTrust
		n.Network.Listen, n.Network.MDNS = []string{"/ip4/127.0.0.1/tcp/" + strconv.Itoa(freePort(t))}, false
		n.Network.Bootstrap = []string{"/ip4/127.0.0.1/tcp/" + strconv.Itoa(authP2P) + "/p2p/" + authID}
		n.API.Listen = "127.0.0.1:" + strconv.Itoa(freePort(t))
		n.Trading.Enabled = false
		n.Network.AuditFile = "audit.bin"
	})
	stopHome := startNode(t, homeCfg)

	var r doctorReport
	var code int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		r, code = doctorJSON(t, homeCfg)
		if r.status("authorities").Status == checkOK || time.Now().After(deadline) {
			break
		}
	}
	want := map[string]string{"config": checkOK, "key": checkOK, "meter": checkWarn, "clock": checkWarn, "node": checkOK,
		"authorities": checkOK, "admission": checkWarn, "chain": checkOK, "disk": checkOK, "audit": checkOK}
	for name, st := range want {
		if c := r.status(name); c.Status != st {
			t.Errorf("%s: %s %q (fix %q); want %s", name, c.Status, c.Detail, c.Fix, st)
		}
	}
	if d := r.status("audit").Detail; !strings.Contains(d, "recorded in "+filepath.Join(homeDir, "audit.bin")) {
		t.Errorf("audit: %q; want the running node's capture file", d)
	}
	if code != 0 || !r.OK {
		t.Errorf("doctor of a running home: exit %d, ok %v; want 0, true: %+v", code, r.OK, r.Checks)
	}
	if !strings.Contains(r.status("admission").Fix, "gridmesh admit "+r.EnrolmentCode) || len(r.EnrolmentCode) != 69 {
		t.Errorf("admission fix %q, code %q; want the admit command with the code", r.status("admission").Fix, r.EnrolmentCode)
	}
	text, _, _ := gridmesh(t, "doctor", "-c", homeCfg)
	t.Logf("doctor of a running home:\n%s", text)
	for _, w := range []string{"ok    config ", "warn  meter ", "enrolment code: " + r.EnrolmentCode, "\n" + enrolQR(r.EnrolmentCode), " fail\n"} {
		if !strings.Contains(text, w) {
			t.Errorf("doctor's text lacks %q:\n%s", w, text)
		}
	}

	// The operator admits the home by its code, on the authority.
	out, stderr, code := gridmesh(t, "admit", r.EnrolmentCode, "--name", "h1", "-c", authCfg)
	if code != 0 || !strings.Contains(out, "admission of "+r.Account+" submitted") {
		t.Errorf("admit CODE: exit %d, %q, %q; want the home's account admitted", code, out, stderr)
	}

	stopHome()
	r, code = doctorJSON(t, homeCfg)
	if c := r.status("node"); code != 1 || r.OK || c.Status != checkFail || !strings.Contains(c.Fix, "systemctl start gridmesh") {
		t.Errorf("doctor of a stopped home: exit %d, ok %v, node %+v; want 1, false, a fail saying how to start it", code, r.OK, c)
	}
}

// TestDoctorPi reads the Pi's throttling flags and temperature from files
// laid out as the firmware and the kernel give them.
func TestDoctorPi(t *testing.T) {
	for _, tc := range []struct {
		throttled, temp string
		power, heat     string
	}{
		{"0x0\n", "45277\n", checkOK, checkOK},
		{"0x50000\n", "72000\n", checkWarn, checkWarn}, // under-voltage and throttling since boot
		{"0x50005\n", "85000\n", checkFail, checkFail}, // under-voltage now
		{"0x4\n", "", checkWarn, ""},                   // throttled now; no thermal zone
	} {
		sys := t.TempDir()
		put := func(p, s string) {
			if s == "" {
				return
			}
			os.MkdirAll(filepath.Join(sys, filepath.Dir(p)), 0o755)
			os.WriteFile(filepath.Join(sys, p), []byte(s), 0o644)
		}
		put("devices/platform/soc/soc:firmware/get_throttled", tc.throttled)
		put("class/thermal/thermal_zone0/temp", tc.temp)
		e := doctorEnv{sys: sys}
		if _, st, d, _ := e.checkPower(); st != tc.power {
			t.Errorf("get_throttled %q: %s %q; want %s", tc.throttled, st, d, tc.power)
		}
		if _, st, d, _ := e.checkTemperature(); st != tc.heat {
			t.Errorf("temp %q: %s %q; want %s", tc.temp, st, d, tc.heat)
		}
	}
	if name, _, _, _ := (doctorEnv{sys: t.TempDir()}).checkPower(); name != "" {
		t.Errorf("no Pi files: a %s line; want none", name)
	}
}

// TestDoctorWrites estimates SD card writes per day from a fake /proc laid
// out as Linux has it: the node started 3600 s after boot and has run an
// hour, writing 50 MiB (1.2 GiB a day: a warning).
func TestDoctorWrites(t *testing.T) {
	proc := t.TempDir()
	put := func(p, s string) {
		os.MkdirAll(filepath.Join(proc, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(proc, p), []byte(s), 0o644)
	}
	put("uptime", "7200.00 14000.00\n")
	put("4242/cmdline", "/usr/bin/gridmesh\x00run\x00-c\x00/etc/gridmesh/node.toml\x00")
	// Field 22 (starttime) is 360000 ticks = 3600 s; the comm holds a space and a ")".
	put("4242/stat", "4242 (grid mesh)) S 1 4242 4242 0 -1 4194560 100 0 0 0 10 5 0 0 20 0 12 0 360000 800000000 5000 18446744073709551615\n")
	put("4242/io", "rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 0\nwrite_bytes: 52428800\ncancelled_write_bytes: 0\n")
	put("77/cmdline", "/usr/bin/bash\x00")
	e := doctorEnv{proc: proc}
	name, st, detail, _ := e.checkWrites()
	if name != "sd-writes" || st != checkWarn || !strings.Contains(detail, "about 1.2 GiB/day (50.0 MiB in 1h0m0s") {
		t.Errorf("checkWrites = %s %s %q; want a warning of about 1.2 GiB/day", name, st, detail)
	}
	put("4242/io", "write_bytes: 5242880\n")
	if _, st, detail, _ = e.checkWrites(); st != checkOK || !strings.Contains(detail, "about 120.0 MiB/day") {
		t.Errorf("checkWrites = %s %q; want ok at about 120 MiB/day", st, detail)
	}
	os.Remove(filepath.Join(proc, "4242/cmdline"))
	if name, _, _, _ := e.checkWrites(); name != "" {
		t.Errorf("no node process: a %s line; want none", name)
	}
}

// TestDoctorLANName finds the Pi's .local name when avahi-daemon's socket is
// under run, and warns with the fix when it is not.
func TestDoctorLANName(t *testing.T) {
	run := t.TempDir()
	e := doctorEnv{runDir: run, hostname: func() (string, error) { return "home-12.lan", nil }}
	if name, st, detail, fix := e.checkLANName(); name != "lan-name" || st != checkWarn || !strings.Contains(detail, "not found as home-12.local") || !strings.Contains(fix, "avahi-daemon") {
		t.Errorf("without avahi: %s %s %q (fix %q); want a warning naming home-12.local and how to install avahi-daemon", name, st, detail, fix)
	}
	os.MkdirAll(filepath.Join(run, "avahi-daemon"), 0o755)
	os.WriteFile(filepath.Join(run, "avahi-daemon", "socket"), nil, 0o644) // stands for the socket: only its presence is read
	if _, st, detail, _ := e.checkLANName(); st != checkOK || detail != "home-12.local (mDNS, avahi-daemon)" {
		t.Errorf("with avahi: %s %q; want ok, home-12.local (mDNS, avahi-daemon)", st, detail)
	}
	if name, _, _, _ := (doctorEnv{}).checkLANName(); name != "" {
		t.Errorf("no host name source: a %s line; want none", name)
	}
}
