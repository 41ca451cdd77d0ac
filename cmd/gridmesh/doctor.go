package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/firmware/enrol"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/node"
	"github.com/gridmesh/gridmesh/unit"
)

// A doctor check's verdict.
const (
	checkOK   = "ok"
	checkWarn = "warn"
	checkFail = "fail"
)

// check is one line of the installer's checklist.
type check struct {
	Name   string `json:"check"`
	Status string `json:"status"` // checkOK, checkWarn or checkFail
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"` // what to do, when not ok
}

type doctorReport struct {
	OK            bool    `json:"ok"` // no check failed
	Config        string  `json:"config"`
	Account       string  `json:"account,omitempty"`
	EnrolmentCode string  `json:"enrolment_code,omitempty"`
	Checks        []check `json:"checks"`
}

// doctorEnv is where doctor looks; tests point it at fake files.
type doctorEnv struct {
	sys, proc    string                 // "/sys", "/proc"
	runDir       string                 // "/run" (avahi-daemon's socket: checkLANName)
	hostname     func() (string, error) // os.Hostname; nil: no lan-name line
	clockSynced  func() (bool, bool)    // the kernel's NTP state: synced, known
	meterTimeout time.Duration
}

// nodeStatus is what doctor reads of GET /api/v1/status (node.Status).
// Admitted and EnrolmentCode are read when the node reports them (proposed
// fields); an older node leaves them out.
type nodeStatus struct {
	NodeID        string `json:"node_id"`
	Account       string `json:"account"`
	Role          string `json:"role"`
	Network       string `json:"network"`
	Height        uint64 `json:"height"`
	Peers         int    `json:"peers"`
	ClockSynced   bool   `json:"clock_synced"`
	Voting        bool   `json:"voting"`
	Authorities   int    `json:"authorities"`
	Upstream      string `json:"upstream"`
	UpstreamVia   string `json:"upstream_via"`
	FollowDepth   int    `json:"follow_depth"`
	Admitted      *bool  `json:"admitted"`
	StoreRepaired string `json:"store_repaired"`
	Audit         *struct {
		File  string `json:"file"`
		Bytes int64  `json:"bytes"`
		Full  bool   `json:"full"`
	} `json:"audit"`
}

func cmdDoctor(ctx context.Context, args []string, stdout io.Writer) error {
	c := newCommand("doctor", "[-c node.toml] [--json]", `
The installer's checklist: one line per check, ok, warn or fail, and what to
do about each that is not ok. It checks the config (and genesis and key),
that the meter answers with plausible readings, that the clock is
synchronised, that the node runs and its API answers, that it reaches the
authorities, whether it is admitted (with the enrolment code to give the
operator), the name it is found by on the LAN (HOSTNAME.local, answered by
avahi-daemon), that it follows the chain, disk space and SD card writes, and on a
Raspberry Pi under-voltage, throttling and temperature. Exit status 1 if any
check fails.`)
	path := c.fs.String("c", "/etc/gridmesh/node.toml", "the node config file")
	asJSON := c.fs.Bool("json", false, "print the report as one JSON object")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	env := doctorEnv{sys: "/sys", proc: "/proc", runDir: "/run", hostname: os.Hostname, clockSynced: kernelClockState, meterTimeout: 5 * time.Second}
	r := env.run(ctx, *path)
	if *asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printDoctor(stdout, r)
	}
	if !r.OK {
		n := 0
		for _, c := range r.Checks {
			if c.Status == checkFail {
				n++
			}
		}
		return fmt.Errorf("doctor: %d of %d checks failed", n, len(r.Checks))
	}
	return nil
}

func printDoctor(w io.Writer, r doctorReport) {
	warns, fails := 0, 0
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-5s %-12s %s\n", c.Status, c.Name, c.Detail)
		if c.Fix != "" {
			fmt.Fprintf(w, "%18s→ %s\n", "", c.Fix)
		}
		switch c.Status {
		case checkWarn:
			warns++
		case checkFail:
			fails++
		}
	}
	if r.EnrolmentCode != "" {
		fmt.Fprintf(w, "\nenrolment code: %s\n", r.EnrolmentCode)
		if slices.ContainsFunc(r.Checks, func(c check) bool { return c.Name == "admission" && c.Status != checkOK }) {
			fmt.Fprintf(w, "\n%s", enrolQR(r.EnrolmentCode))
		}
	}
	fmt.Fprintf(w, "\n%d checks: %d ok, %d warn, %d fail\n", len(r.Checks), len(r.Checks)-warns-fails, warns, fails)
}

func (e doctorEnv) run(ctx context.Context, path string) doctorReport {
	r := doctorReport{Config: path}
	add := func(name, status, detail, fix string) {
		r.Checks = append(r.Checks, check{Name: name, Status: status, Detail: detail, Fix: fix})
	}
	cc := checkConfig(path, "")
	n := cc.node
	switch {
	case !cc.decoded:
		add("config", checkFail, flatten(errors.Join(cc.errs...)), "write the node config (gridmesh provision, or gridmesh init), then gridmesh config check -c "+path)
		e.addPi(add)
		r.OK = false
		return r
	case len(cc.errs) > 0:
		add("config", checkFail, flatten(errors.Join(cc.errs...)), "fix each problem named, then gridmesh config check -c "+path)
	default:
		add("config", checkOK, fmt.Sprintf("%s %q, network %s (%s)", n.Node.Role, n.Node.Name, cc.gen.ChainID, cc.gpath), "")
	}
	keyPath := n.Path(n.Node.Key)
	if cc.key != nil {
		pub := cc.key.Public().(ed25519.PublicKey)
		r.Account, r.EnrolmentCode = string(ident.AccountOf(pub)), enrol.Code(pub)
		add("key", checkOK, keyPath+" (mode 0600)", "")
	} else if _, err := os.Lstat(keyPath); errors.Is(err, fs.ErrNotExist) {
		add("key", checkWarn, keyPath+" not made yet: the node makes its key at its first start",
			"start the node: sudo systemctl start gridmesh (or gridmesh keygen -c "+path+")")
	} else {
		add("key", checkFail, flatten(cc.keyErr), "fix the key file's mode (chmod 600) or restore it from a backup; never copy a key between devices")
	}

	st, stErr := fetchStatus(ctx, n.API.Listen)
	running := stErr == nil

	if n.Node.Role == config.RoleHome {
		add(e.checkMeter(ctx, n, path, running))
	}
	add(e.checkClock(n, st, running))
	if running {
		add("node", checkOK, fmt.Sprintf("running: %s %s, API %s", st.Role, st.NodeID, n.API.Listen), "")
	} else {
		add("node", checkFail, "not running: its API at "+n.API.Listen+" does not answer ("+shortErr(stErr)+")",
			"sudo systemctl start gridmesh; if it stops again: journalctl -u gridmesh -n 50")
	}
	if running {
		add(checkPeers(n, st))
		add(checkAdmission(n, cc.gen, r.Account, &st, &r))
		add(checkSync(n, st))
	} else if cc.gen != nil && r.Account != "" {
		add(checkAdmission(n, cc.gen, r.Account, nil, &r))
	}
	if name, status, detail, fix := e.checkLANName(); name != "" {
		add(name, status, detail, fix)
	}
	if n.Network.AuditFile != "" {
		add(checkAudit(n, path, st, running))
	}
	add(e.checkDisk(n))
	if name, status, detail, fix := e.checkWrites(); name != "" {
		add(name, status, detail, fix)
	}
	e.addPi(add)
	r.OK = !slices.ContainsFunc(r.Checks, func(c check) bool { return c.Status == checkFail })
	return r
}

// addPi adds the Raspberry Pi's power and temperature lines where its files exist.
func (e doctorEnv) addPi(add func(name, status, detail, fix string)) {
	if name, status, detail, fix := e.checkPower(); name != "" {
		add(name, status, detail, fix)
	}
	if name, status, detail, fix := e.checkTemperature(); name != "" {
		add(name, status, detail, fix)
	}
}

func shortErr(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// fetchStatus reads the running node's status from its API.
func fetchStatus(ctx context.Context, listen string) (nodeStatus, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nodeStatus{}, err
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/api/v1/status", nil)
	if err != nil {
		return nodeStatus{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nodeStatus{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nodeStatus{}, fmt.Errorf("status %s", resp.Status)
	}
	var st nodeStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return nodeStatus{}, fmt.Errorf("status: %w", err)
	}
	return st, nil
}

func (e doctorEnv) checkMeter(ctx context.Context, n config.Node, path string, running bool) (name, status, detail, fix string) {
	name = "meter"
	m := n.Meter
	if m.Driver == config.DriverSim {
		fix = "name the real meter in [meter] of " + path + " (see gridmesh meter read --help), set trading.enabled = true, then sudo systemctl restart gridmesh"
		if n.Trading.Enabled {
			return name, checkFail, "simulated meter with trading on: this home would trade energy it does not have", fix
		}
		return name, checkWarn, "simulated meter (trading is off): this home trades nothing yet", fix
	}
	if m.Driver == config.DriverS0 {
		return name, checkOK, fmt.Sprintf("S0 pulses on %s (%d per kWh): doctor cannot count them while the node does; check the journal's readings", m.S0.ImportPin, m.S0.Impulses), ""
	}
	state, err := os.MkdirTemp("", "gridmesh-doctor-")
	if err != nil {
		return name, checkFail, err.Error(), ""
	}
	defer os.RemoveAll(state)
	dev, err := node.OpenMeter(m, state, time.Now(), slog.New(slog.DiscardHandler))
	if err != nil {
		return name, checkFail, flatten(err), "check [meter] in " + path
	}
	defer dev.Close()
	rctx, cancel := context.WithTimeout(ctx, e.meterTimeout)
	defer cancel()
	if dev.Run != nil {
		runCtx, stop := context.WithCancel(rctx)
		ran := make(chan struct{})
		go func() { defer close(ran); dev.Run(runCtx) }()
		defer func() { stop(); <-ran }()
	}
	first, err := dev.Reader.Read(rctx)
	if err != nil {
		fix = "check the wiring, the port or address and the unit id; gridmesh meter read -c " + path + " shows one reading"
		if running && (m.Driver.IsSerial() || m.Driver == config.DriverModbusRTU) {
			return name, checkWarn, fmt.Sprintf("%s %s: %s (the running node holds the port: stop it to test the meter alone)", m.Driver, dev.Describe, flatten(err)), fix
		}
		return name, checkFail, fmt.Sprintf("%s %s: no reading: %s", m.Driver, dev.Describe, flatten(err)), fix
	}
	if msg := implausible(first, m.MaxPowerW); msg != "" {
		return name, checkFail, fmt.Sprintf("%s %s: %s", m.Driver, dev.Describe, msg), "check the meter profile (" + m.Modbus.Profile + ") and meter.max_power_w, the connection's rating"
	}
	detail = fmt.Sprintf("%s %s: import %s, export %s, power %s", m.Driver, dev.Describe, first.Import, first.Export, first.Power)
	if first.Serial != "" {
		detail += ", serial " + first.Serial
	}
	return name, checkOK, detail, ""
}

// implausible says what is wrong with a reading, or "".
func implausible(r meter.Reading, maxPower unit.W) string {
	switch {
	case r.Import < 0 || r.Export < 0:
		return fmt.Sprintf("negative counters (import %s, export %s)", r.Import, r.Export)
	case r.Power > maxPower || r.Power < -maxPower:
		return fmt.Sprintf("power %s beyond the connection's rating of %s", r.Power, maxPower)
	case r.Import == 0 && r.Export == 0 && r.Power == 0:
		return "every value is zero: the wrong registers (profile) or a meter not measuring"
	}
	return ""
}

func (e doctorEnv) checkClock(n config.Node, st nodeStatus, running bool) (name, status, detail, fix string) {
	name = "clock"
	if n.Node.Clock == config.ClockTrust {
		return name, checkWarn, "node.clock = \"trust\": the host clock is taken as it is, synchronised or not",
			"on a Pi (no real-time clock) set node.clock = \"kernel\" so the node waits for NTP"
	}
	fix = "a Pi has no real-time clock: it needs NTP (timedatectl status; systemctl status systemd-timesyncd) and internet access to UDP 123"
	synced, known := e.clockSynced()
	if running && !st.ClockSynced || known && !synced {
		return name, checkFail, "not synchronised: the node does not trade, attest or propose until it is", fix
	}
	if !known && !running {
		return name, checkWarn, "the kernel's NTP state cannot be read here", fix
	}
	return name, checkOK, "synchronised (NTP)", ""
}

func checkPeers(n config.Node, st nodeStatus) (name, status, detail, fix string) {
	name = "authorities"
	fix = "check network.bootstrap (the authorities' addresses from the operator) and that the router lets this Pi out on TCP and UDP 4001"
	if n.Node.Role == config.RoleAuthority {
		if st.Voting {
			return name, checkOK, fmt.Sprintf("voting, one of %d authorities, %d peers", st.Authorities, st.Peers), ""
		}
		return name, checkWarn, fmt.Sprintf("not voting (not in the current set of %d), %d peers", st.Authorities, st.Peers), "ask the other authorities to vote this key in: gridmesh authority add KEY"
	}
	switch {
	case st.Upstream != "":
		via := st.UpstreamVia
		if via == "" {
			via = "connecting"
		}
		return name, checkOK, fmt.Sprintf("following %s (%s), %d peers", st.Upstream, via, st.Peers), ""
	case st.Peers > 0:
		return name, checkWarn, fmt.Sprintf("%d peers but following no authority yet", st.Peers), fix
	}
	return name, checkFail, "no peers: the node reaches no authority", fix
}

func checkAdmission(n config.Node, g *config.Genesis, account string, st *nodeStatus, r *doctorReport) (name, status, detail, fix string) {
	name = "admission"
	if g != nil {
		for _, a := range g.Authorities {
			if a.Key == account {
				return name, checkOK, "an authority of the network's genesis", ""
			}
		}
		for _, p := range g.Participants {
			if p.Key == account {
				return name, checkOK, "admitted in the network's genesis", ""
			}
		}
	}
	if n.Node.Role == config.RoleAuthority {
		return name, checkFail, "this authority's key is not among the genesis authorities", "use the key the genesis lists, or ask the operator for a genesis that lists this one"
	}
	fix = fmt.Sprintf("give the operator this code: gridmesh admit %s --name %q", r.EnrolmentCode, n.Node.Name)
	if st != nil && st.Admitted != nil {
		if *st.Admitted {
			return name, checkOK, "admitted by an authority", ""
		}
		return name, checkWarn, "not admitted yet: the node follows the chain but may not trade", fix
	}
	return name, checkWarn, "not admitted in genesis; whether an authority admitted it since, this node's status does not say", fix
}

func checkSync(n config.Node, st nodeStatus) (name, status, detail, fix string) {
	name = "chain"
	if st.StoreRepaired != "" {
		return name, checkWarn, fmt.Sprintf("height %d; a corrupt store was moved to %s at start and the chain fetched again", st.Height, st.StoreRepaired), "check the SD card (dmesg for I/O errors) and the power supply"
	}
	if n.Node.Role == config.RoleAuthority || st.Upstream != "" {
		return name, checkOK, fmt.Sprintf("height %d, network %s", st.Height, st.Network), ""
	}
	return name, checkWarn, fmt.Sprintf("height %d, not following anyone: it may be behind", st.Height), "see the authorities line"
}

// checkAudit reports the capture of what the node sends ([network]
// audit_file), when the config asks for one.
func checkAudit(n config.Node, path string, st nodeStatus, running bool) (name, status, detail, fix string) {
	name = "audit"
	file := n.Path(n.Network.AuditFile)
	switch {
	case !running:
		return name, checkOK, "every byte sent to peers will be recorded in " + file + " when the node runs", ""
	case st.Audit == nil:
		return name, checkWarn, "audit_file is set, but the running node records nothing: it was started before", "sudo systemctl restart gridmesh"
	case st.Audit.Full:
		return name, checkWarn, fmt.Sprintf("%s is full (%s, audit_max_mib %d): nothing more is recorded", st.Audit.File, bytesIEC(st.Audit.Bytes), n.Network.AuditMaxMiB),
			"read it with gridmesh audit -c " + path + "; a restart starts it afresh"
	}
	return name, checkOK, fmt.Sprintf("every byte sent to peers is recorded in %s (%s so far; gridmesh audit -c %s shows it)", st.Audit.File, bytesIEC(st.Audit.Bytes), path), ""
}

func (e doctorEnv) checkDisk(n config.Node) (name, status, detail, fix string) {
	name = "disk"
	dir := n.Path(n.Node.Data)
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	free, total, err := diskFree(dir)
	if err != nil {
		return name, checkWarn, "cannot read free space of " + dir + ": " + err.Error(), ""
	}
	detail = fmt.Sprintf("%s free of %s at %s", bytesIEC(free), bytesIEC(total), dir)
	fix = "free space on the SD card (sudo apt-get clean; journalctl --vacuum-size=50M) or use a larger card"
	switch {
	case free < 200<<20:
		return name, checkFail, detail, fix
	case free < 1<<30:
		return name, checkWarn, detail, fix
	}
	return name, checkOK, detail, ""
}

// checkWrites estimates the running node's SD card writes per day from
// /proc/PID/io (bytes written since it started) and its age.
func (e doctorEnv) checkWrites() (name, status, detail, fix string) {
	name = "sd-writes"
	pid, age := e.findNode()
	if pid == 0 {
		return "", "", "", ""
	}
	b, err := os.ReadFile(filepath.Join(e.proc, strconv.Itoa(pid), "io"))
	if err != nil {
		return name, checkOK, fmt.Sprintf("not measured: %s not readable (run doctor with sudo)", filepath.Join(e.proc, strconv.Itoa(pid), "io")), ""
	}
	var written int64 = -1
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
			written, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if written < 0 || age < time.Minute {
		return name, checkOK, "not measured yet: the node started less than a minute ago", ""
	}
	perDay := int64(float64(written) / age.Seconds() * 86400)
	detail = fmt.Sprintf("about %s/day (%s in %s since the node started)", bytesIEC(perDay), bytesIEC(written), age.Truncate(time.Second))
	if perDay > 1<<30 {
		return name, checkWarn, detail, "more than 1 GiB a day wears an SD card out in a few years: report it with the node's status"
	}
	return name, checkOK, detail, ""
}

// findNode finds a running `gridmesh run` and how long it has run.
func (e doctorEnv) findNode() (pid int, age time.Duration) {
	ents, err := os.ReadDir(e.proc)
	if err != nil {
		return 0, 0
	}
	up, err := os.ReadFile(filepath.Join(e.proc, "uptime"))
	if err != nil {
		return 0, 0
	}
	uptime, _ := strconv.ParseFloat(strings.Fields(string(up) + " 0")[0], 64)
	for _, d := range ents {
		p, err := strconv.Atoi(d.Name())
		if err != nil || p == os.Getpid() {
			continue
		}
		cl, err := os.ReadFile(filepath.Join(e.proc, d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cl), "\x00"), "\x00")
		if len(args) < 2 || filepath.Base(args[0]) != "gridmesh" || args[1] != "run" {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(e.proc, d.Name(), "stat"))
		if err != nil {
			continue
		}
		// Field 22 is the start time in clock ticks (USER_HZ, 100 on Linux);
		// fields count from after the ")" that ends the command name.
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 20 {
			continue
		}
		start, _ := strconv.ParseFloat(f[19], 64)
		return p, time.Duration((uptime - start/100) * float64(time.Second))
	}
	return 0, 0
}

// checkPower reads the Pi firmware's throttling flags (get_throttled, as
// vcgencmd get_throttled prints them) or the rpi_volt hwmon alarm.
func (e doctorEnv) checkPower() (name, status, detail, fix string) {
	name = "power"
	fix = "use the official Raspberry Pi power supply (5.1 V; 27 W for a Pi 5) and a short, thick cable: under-voltage corrupts SD cards"
	b, err := os.ReadFile(filepath.Join(e.sys, "devices/platform/soc/soc:firmware/get_throttled"))
	if err == nil {
		v, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"), 16, 32)
		if err != nil {
			return name, checkWarn, "get_throttled: unreadable value " + strconv.Quote(strings.TrimSpace(string(b))), ""
		}
		var now, past []string
		for bit, what := range map[int]string{0: "under-voltage", 1: "frequency capped", 2: "throttled", 3: "soft temperature limit"} {
			if v&(1<<bit) != 0 {
				now = append(now, what)
			}
			if v&(1<<(bit+16)) != 0 {
				past = append(past, what)
			}
		}
		slices.Sort(now)
		slices.Sort(past)
		switch {
		case v&1 != 0:
			return name, checkFail, fmt.Sprintf("now: %s (get_throttled 0x%x)", strings.Join(now, ", "), v), fix
		case len(now) > 0:
			return name, checkWarn, fmt.Sprintf("now: %s (get_throttled 0x%x)", strings.Join(now, ", "), v), "cool the Pi (a case with a heat sink or fan)"
		case len(past) > 0:
			return name, checkWarn, fmt.Sprintf("since boot: %s (get_throttled 0x%x)", strings.Join(past, ", "), v), fix
		}
		return name, checkOK, "no under-voltage or throttling since boot", ""
	}
	hw, _ := filepath.Glob(filepath.Join(e.sys, "class/hwmon/hwmon*/name"))
	for _, p := range hw {
		if nb, _ := os.ReadFile(p); strings.TrimSpace(string(nb)) == "rpi_volt" {
			a, err := os.ReadFile(filepath.Join(filepath.Dir(p), "in0_lcrit_alarm"))
			if err != nil {
				return "", "", "", ""
			}
			if strings.TrimSpace(string(a)) != "0" {
				return name, checkFail, "under-voltage (rpi_volt in0_lcrit_alarm)", fix
			}
			return name, checkOK, "no under-voltage (rpi_volt)", ""
		}
	}
	return "", "", "", "" // not a Raspberry Pi, or its firmware files are not there
}

func (e doctorEnv) checkTemperature() (name, status, detail, fix string) {
	name = "temperature"
	b, err := os.ReadFile(filepath.Join(e.sys, "class/thermal/thermal_zone0/temp"))
	if err != nil {
		return "", "", "", ""
	}
	mc, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return name, checkWarn, "thermal_zone0: unreadable value " + strconv.Quote(strings.TrimSpace(string(b))), ""
	}
	detail = fmt.Sprintf("%d.%d °C", mc/1000, mc%1000/100)
	fix = "give the Pi air: a meter cupboard gets hot; use a case with a heat sink"
	switch {
	case mc >= 80_000:
		return name, checkFail, detail + " (the Pi throttles from 80 °C)", fix
	case mc >= 70_000:
		return name, checkWarn, detail, fix
	}
	return name, checkOK, detail, ""
}

func bytesIEC(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
