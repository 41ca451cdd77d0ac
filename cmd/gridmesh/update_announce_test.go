package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/internal/cluster"
	"github.com/gridmesh/gridmesh/node"
	"github.com/gridmesh/gridmesh/update"
)

// statusOf GETs the node status at api (host:port).
func statusOf(api string) (node.Status, error) {
	var st node.Status
	resp, err := http.Get("http://" + api + "/api/v1/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// TestAnnouncedUpdateProcesses runs four authorities and two trading homes
// as processes on loopback, all on v1.0.0 but authority-1, which took
// v1.1.0 from a web server (update apply) and so serves it over libp2p.
// home-1 ([updates] auto) runs under a supervisor that restarts it as
// systemd does. The authorities vote release-votes in; one announcement
// vote does nothing; with three of four, home-1 fetches v1.1.0 from its
// peer, installs it into its inactive slot, restarts into it (exit 75) and
// keeps it once healthy; `update status` shows the announcement and the
// new version.
func TestAnnouncedUpdateProcesses(t *testing.T) {
	old, good := buildVersions(t)
	keyFile, pub := releaseKey(t)
	dir := t.TempDir()
	c, err := cluster.Write(dir, cluster.Options{Binary: old, Authorities: 4, Homes: 2, SlotSeconds: 2, TradingHomes: true, ChainID: "test-ann"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(5 * time.Second) })
	c.Genesis.Updates.Keys = []string{update.PublicKeyText(pub)}
	for _, p := range append(slices.Clone(c.Nodes), c.Homes...) {
		if err := os.WriteFile(filepath.Join(p.Dir, "genesis.toml"), c.Genesis.TOML(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	home := c.Homes[0]
	hc, err := config.LoadNode(home.Config)
	if err != nil {
		t.Fatal(err)
	}
	hc.Updates = config.Updates{Auto: true}
	if err := os.WriteFile(home.Config, hc.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}
	hc.Dir = home.Dir
	homeSlots := slotsFor(hc)
	homeAPI := strings.TrimPrefix(home.API, "http://")

	rel := signRelease(t, keyFile, "v1.1.0", good)
	out, err := exec.Command(old, "update", "apply", "-c", c.Nodes[0].Config, "--from", rel, "--min-peers", "0", "--settle", "1s").CombinedOutput()
	if err != nil {
		t.Fatalf("update apply on authority-1: %v\n%s", err, out)
	}
	for i := range c.Nodes {
		if err := c.Start(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.StartProc(c.Homes[1]); err != nil {
		t.Fatal(err)
	}
	sup := supervise(t, old, "run", "-c", home.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := c.WaitConnected(ctx, []int{0, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	var st node.Status
	waitFor(t, 60*time.Second, "home-1 following the chain", sup, func() bool {
		st, err = statusOf(homeAPI)
		return err == nil && st.Height > 0
	})

	at := st.Height + 8
	for _, p := range c.Nodes[:3] {
		if stdout, stderr, code := gridmesh(t, "activate", "release-votes", "--height", strconv.FormatUint(at, 10), "-c", p.Config); code != 0 {
			t.Fatalf("activate on %s: exit %d\n%s%s", p.Name, code, stdout, stderr)
		}
	}
	waitFor(t, 90*time.Second, "release-votes in force on home-1", sup, func() bool {
		st, err = statusOf(homeAPI)
		return err == nil && st.Height >= at
	})
	announce := func(p *cluster.Proc) {
		t.Helper()
		stdout, stderr, code := gridmesh(t, "release", "announce", rel, "-c", p.Config)
		if code != 0 || !strings.Contains(stdout, "vote to announce v1.1.0") {
			t.Fatalf("release announce on %s: exit %d\n%s%s", p.Name, code, stdout, stderr)
		}
	}
	announce(c.Nodes[1])
	waitFor(t, 60*time.Second, "one announcement vote on home-1", sup, func() bool {
		st, err = statusOf(homeAPI)
		return err == nil && len(st.ReleaseVotes) == 1 && st.ReleaseVotes[0].Votes == 1
	})
	time.Sleep(3 * time.Second)
	if st, _ := statusOf(homeAPI); st.Announced != nil || homeSlots.Exists() && homeSlots.OnTrial() {
		t.Fatalf("after 1 of 4 votes: announced %+v; want nothing, and nothing installed", st.Announced)
	}

	announce(c.Nodes[2])
	announce(c.Nodes[3])
	waitFor(t, 3*time.Minute, "home-1 running v1.1.0 from slot a, kept", sup, func() bool {
		s, err := homeSlots.Load()
		return err == nil && s.Active == update.SlotA && s.Trial == nil && s.Slots[update.SlotA].Version == "v1.1.0"
	})
	if exits := sup.Exits(); len(exits) < 1 || exits[0] != exitRestartForUpdate {
		t.Errorf("home-1's exits %v; want the restart into the update (%d) first", exits, exitRestartForUpdate)
	}
	stdout, _, _ := gridmesh(t, "update", "status", "-c", home.Config)
	for _, want := range []string{"active:        v1.1.0 (slot a)", "announced:     v1.1.0 (manifest sha256 ", "by 3 authorities"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("update status on home-1 lacks %q:\n%s", want, stdout)
		}
	}
	t.Logf("update status on home-1:\n%s", stdout)
	if os.Getenv("GRIDMESH_UPDATE_LOGS") != "" {
		t.Log(sup.Logs())
	}
}
