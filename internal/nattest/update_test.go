package nattest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/update"
)

// envServe makes the test binary serve a directory over HTTP on :8000 (a
// download server for releases) until it is killed.
const envServe = "GRIDMESH_NATTEST_SERVE"

func runServe(dir string) int {
	fmt.Fprintln(os.Stderr, http.ListenAndServe(":8000", http.FileServer(http.Dir(dir))))
	return 1
}

// TestUpdateFromPeerBehindNAT: node A, an authority on the public side,
// runs release v9.9.0 from its update slot and serves it on update/1; its
// namespace also has a download server with the release. Node B, a home
// behind a NAT router whose firewall lets out only the p2p port, cannot
// reach that server (update check --from its URL fails) but takes the
// release from A over libp2p (`update apply --from-peer`), verified
// against the genesis' release key, into its inactive slot on trial; its
// running node then exits with status 75 to restart into it.
func TestUpdateFromPeerBehindNAT(t *testing.T) {
	if testing.Short() {
		t.Skip("builds network namespaces and runs gridmesh nodes in them (-short)")
	}
	need(t)
	bin := buildGridmesh(t)
	l := newLab(t)
	// homeA's router lets out only the p2p port (TCP and QUIC): no web.
	l.in(l.routerA, `
table ip onlyp2p {
	chain forward {
		type filter hook forward priority filter - 1; policy accept;
		iifname "lan" tcp dport != `+port+` reject with tcp reset
		iifname "lan" udp dport != `+port+` reject
	}
}
`, "nft", "-f", "-")
	dir := t.TempDir()
	a := &gridmeshNode{name: "A", ns: l.auth, dir: filepath.Join(dir, "A")}
	b := &gridmeshNode{name: "B", ns: l.homeA, dir: filepath.Join(dir, "B")}
	for _, n := range []*gridmeshNode{a, b} {
		if err := os.MkdirAll(n.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		var err error
		if n.key, err = config.WriteKey(filepath.Join(n.dir, "node.key")); err != nil {
			t.Fatal(err)
		}
	}
	account := func(n *gridmeshNode) string { return string(ident.AccountOf(n.key.Public().(ed25519.PublicKey))) }
	idA, err := p2p.PeerID(a.key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}

	// The utility's release key and release v9.9.0 (this very binary).
	keyFile := filepath.Join(dir, "release.key")
	gm := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("gridmesh %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	gm("release", "keygen", "--unencrypted", "--out", keyFile)
	pubFile, err := os.ReadFile(filepath.Join(dir, "release.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pubLines := strings.Split(strings.TrimSpace(string(pubFile)), "\n")
	pubText := pubLines[len(pubLines)-1]
	rel := filepath.Join(dir, "release-v9.9.0")
	gm("release", "sign", "--key", keyFile, "--version", "v9.9.0", "--target", runtime.GOOS+"/"+runtime.GOARCH+"="+bin, "--out", rel)

	gen := config.DefaultGenesis()
	gen.ChainID = "nattest-update"
	gen.Dev = true // one authority
	gen.Epoch = time.Now().Unix()
	gen.Tariff = config.TariffSection{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}
	gen.Authorities = []config.Member{{Name: "A", Key: account(a)}}
	gen.Operator = account(a)
	gen.Participants = []config.Member{{Name: "B", Key: account(b)}}
	gen.Updates.Keys = []string{pubText}
	addrA := "/ip4/" + authorityIP + "/tcp/" + port + "/p2p/" + idA
	for _, n := range []*gridmeshNode{a, b} {
		c := config.DefaultNode()
		c.Node.Name, c.Node.Role, c.Node.Clock = n.name, config.RoleHome, config.ClockTrust
		c.Network.MDNS = false
		c.Network.Bootstrap = []string{addrA}
		c.Meter.Driver = "sim"
		c.Trading.Enabled = false
		if n == a {
			c.Node.Role = config.RoleAuthority
			c.Network.Listen = []string{"/ip4/" + authorityIP + "/tcp/" + port, "/ip4/" + authorityIP + "/udp/" + port + "/quic-v1"}
			c.Network.Bootstrap = nil
		}
		path := filepath.Join(n.dir, "node.toml")
		if err := c.Validate(path); err != nil {
			t.Fatalf("%s config: %v", n.name, err)
		}
		if err := os.WriteFile(filepath.Join(n.dir, "genesis.toml"), gen.TOML(), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, c.TOML(), 0o600); err != nil {
			t.Fatal(err)
		}
		n.cfg = c
	}

	// A took v9.9.0 from the download server earlier and kept it: it runs
	// from slot a (the slots beside its data directory).
	keys, err := update.ParseKeys(gen.Updates.Keys)
	if err != nil {
		t.Fatal(err)
	}
	slotsA := update.Slots{Dir: filepath.Join(a.dir, "slots")}
	src, err := update.NewSource(rel, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	opts := update.Options{Keys: keys, Running: "v1.0.0", Platform: runtime.GOOS + "/" + runtime.GOARCH, Now: now, Window: time.Minute}
	if _, err := slotsA.Apply(context.Background(), src, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := slotsA.Launch("v1.0.0", now); err != nil {
		t.Fatal(err)
	}
	if _, err := slotsA.Commit(update.SlotA); err != nil {
		t.Fatal(err)
	}

	// The download server, in A's namespace.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	web := exec.Command("ip", "netns", "exec", l.auth, exe)
	web.Env = append(os.Environ(), envServe+"="+rel)
	if err := web.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { web.Process.Kill(); web.Wait() })

	l.runGridmesh(bin, a)
	l.runGridmesh(bin, b)
	if !eventually(30*time.Second, func() bool {
		code, _ := l.call(l.auth, "GET", "http://127.0.0.1:8000/manifest.json", nil)
		sa, okA := l.status(a.ns)
		sb, okB := l.status(b.ns)
		return code == http.StatusOK && okA && okB && sa.NodeID != "" && sb.Peers > 0
	}) {
		t.Fatal("within 30 s: want the download server answering in A's namespace, both nodes' APIs, and B connected to a peer")
	}

	// B cannot reach the download server.
	if ok, msg := l.dial(b.ns, authorityIP+":8000"); ok {
		t.Fatalf("B reaches the download server (%s); want its router to refuse", msg)
	}
	out, err := exec.Command("ip", "netns", "exec", b.ns, bin, "update", "check", "-c", filepath.Join(b.dir, "node.toml"),
		"--from", "http://"+authorityIP+":8000/").CombinedOutput()
	if err == nil {
		t.Fatalf("update check from the download server worked from B:\n%s\nwant it refused by the router", out)
	}
	t.Logf("from the download server, B gets: %s", strings.TrimSpace(string(out)))

	// B takes the release from A over libp2p.
	start := time.Now()
	out, err = exec.Command("ip", "netns", "exec", b.ns, bin, "update", "apply", "-c", filepath.Join(b.dir, "node.toml"),
		"--from-peer", addrA, "--min-peers", "1", "--settle", "5s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "installed v9.9.0") {
		t.Fatalf("update apply --from-peer in B: %v\n%s", err, out)
	}
	t.Logf("B took v9.9.0 (%d bytes) from A over libp2p in %.1f s: %s", fileSize(t, bin), time.Since(start).Seconds(), strings.TrimSpace(string(out)))
	slotsB := update.Slots{Dir: filepath.Join(b.dir, "slots")}
	st, err := slotsB.Load()
	if err != nil {
		t.Fatal(err)
	}
	if st.Trial == nil || st.Trial.Version != "v9.9.0" || st.Trial.Slot != update.SlotA || st.Active != "" {
		t.Errorf("B's slots: got active %q, trial %+v; want the installed binary active and v9.9.0 on trial in slot a", st.Active, st.Trial)
	}
	got, _ := os.ReadFile(slotsB.Binary(update.SlotA))
	want, _ := os.ReadFile(bin)
	if !bytes.Equal(got, want) {
		t.Errorf("B's slot a: %d bytes, want the release's %d identical", len(got), len(want))
	}

	// A counted what it served; B's node leaves to restart into the trial.
	var served struct {
		UpdateServing *update.ServerStats `json:"update_serving"`
	}
	code, body := l.call(a.ns, "GET", api+"/api/v1/status", nil)
	if code != http.StatusOK || json.Unmarshal(body, &served) != nil || served.UpdateServing == nil || served.UpdateServing.Bytes < int64(len(want)) {
		t.Errorf("A's status: %d %+v; want update_serving with at least the %d bytes of the binary", code, served.UpdateServing, len(want))
	} else {
		t.Logf("A's update_serving: %+v", *served.UpdateServing)
	}
	if !eventually(10*time.Second, func() bool { _, ok := l.status(b.ns); return !ok }) {
		t.Error("B's node still answers 10 s after the install; want it to exit (status 75) to start the release on trial")
	}
	if log, _ := os.ReadFile(filepath.Join(b.dir, "log")); !bytes.Contains(log, []byte("exiting with status 75")) {
		t.Errorf("B's log does not say it exits to start v9.9.0:\n%s", log)
	}
}

func fileSize(t *testing.T, p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
