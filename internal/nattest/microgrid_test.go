//go:build linux

package nattest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/internal/cluster"
)

// mgSpec is one microgrid run: how many processes (4 of them authorities),
// the slot length and how many slots are measured.
type mgSpec struct {
	Processes   int   `json:"processes"`
	SlotSeconds int64 `json:"slot_seconds"`
	Slots       int   `json:"slots_measured"`
}

// mgSpecFromEnv is the CI run (10 processes, 5 s slots, 16 slots: about
// 3 minutes) or, with GRIDMESH_MICROGRID=N, a run of N processes, with
// GRIDMESH_MICROGRID_SLOT seconds per slot (default 15) and
// GRIDMESH_MICROGRID_SLOTS slots measured (default 30).
func mgSpecFromEnv(t *testing.T) mgSpec {
	spec := mgSpec{Processes: 10, SlotSeconds: 5, Slots: 16}
	v := os.Getenv("GRIDMESH_MICROGRID")
	if v == "" {
		return spec
	}
	num := func(key string, def, lo, hi int) int {
		s := os.Getenv(key)
		if s == "" {
			return def
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			t.Fatalf("%s=%q: expected a number %d..%d", key, s, lo, hi)
		}
		return n
	}
	spec.Processes = num("GRIDMESH_MICROGRID", 50, 6, 200)
	spec.SlotSeconds = int64(num("GRIDMESH_MICROGRID_SLOT", 15, 2, 900))
	spec.Slots = num("GRIDMESH_MICROGRID_SLOTS", 30, 3, 1000)
	return spec
}

// TestMicrogrid runs a real microgrid (see doc.go): 4 authorities and the
// other processes as trading homes on 3 LANs behind NAT routers, with
// shaped links, and checks that every measured slot cleared and settled on
// every node, that every node has the same state hash and that the balances
// sum to 0; it logs the report (a table per slot, one per node, and JSON;
// with GRIDMESH_MICROGRID_OUT=dir also written there).
func TestMicrogrid(t *testing.T) {
	if testing.Short() {
		t.Skip("builds network namespaces and runs gridmesh nodes in them (-short)")
	}
	need(t, "tc", "/dev/net/tun")
	spec := mgSpecFromEnv(t)
	started := time.Now()
	bin := buildGridmesh(t)
	g := newGrid(t, config.MinAuthorities, spec.Processes-config.MinAuthorities)
	c, err := cluster.Write(t.TempDir(), cluster.Options{
		Binary: bin, Authorities: config.MinAuthorities, Homes: len(g.homes), SlotSeconds: spec.SlotSeconds,
		TradingHomes: true, ChainID: "gridmesh-microgrid",
		Place: func(role config.Role, i int) cluster.Place {
			l := g.homes[i]
			if role == config.RoleAuthority {
				l = g.authorities[i]
			}
			return cluster.Place{Netns: l.ns, IP: l.ip}
		},
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	procs := slices.Concat(c.Nodes, c.Homes)
	// Registered after the namespaces' cleanups, so it runs before them.
	t.Cleanup(func() {
		c.Stop(10 * time.Second)
		if t.Failed() {
			for _, p := range procs {
				dumpTail(t, p)
			}
		}
	})
	budget := 90*time.Second + time.Duration(int64(spec.Slots+8)*spec.SlotSeconds)*time.Second + time.Duration(spec.Processes)*2*time.Second
	if d, ok := t.Deadline(); ok && time.Until(d)-30*time.Second < budget {
		budget = time.Until(d) - 30*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	for _, p := range procs {
		if err := c.StartProc(p); err != nil {
			t.Fatal(err)
		}
	}
	sctx, scancel := context.WithTimeout(ctx, 60*time.Second+time.Duration(len(procs))*3*time.Second)
	err = c.WaitPeers(sctx, procs, 1)
	scancel()
	if err != nil {
		var alone []string
		for _, p := range procs {
			if st, serr := c.StatusOf(ctx, p); serr != nil || st.Peers == 0 {
				alone = append(alone, fmt.Sprintf("%s (%d peers, %v)", p.Name, st.Peers, serr))
			}
		}
		t.Fatalf("%v; without a peer: %s", err, strings.Join(alone, ", "))
	}
	t.Logf("%d processes up and connected %.0f s after the test started", len(procs), time.Since(started).Seconds())

	w := &watch{c: c, procs: procs, links: slices.Concat(g.authorities, g.homes), spec: spec}
	rep := w.run(ctx, t)
	rep.Seconds = time.Since(started).Seconds()
	text := rep.text()
	t.Logf("microgrid report:\n%s", text)
	js := rep.json()
	t.Logf("microgrid report (JSON):\n%s", js)
	if dir := os.Getenv("GRIDMESH_MICROGRID_OUT"); dir != "" {
		for name, b := range map[string][]byte{"microgrid.txt": []byte(text), "microgrid.json": js} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	w.check(ctx, t, rep)
}

// watch measures one run: it polls the first authority for cleared and
// settled slots and reads every node's /proc and p2p counters at the start
// and end of the measured slots.
type watch struct {
	c     *cluster.Cluster
	procs []*cluster.Proc
	links []gridLink // in procs' order
	spec  mgSpec

	mu      sync.Mutex
	cleared map[int64]time.Time // first seen cleared on the first authority
	settled map[int64]time.Time
}

// slotStart is when slot s begins.
func (w *watch) slotStart(s int64) time.Time {
	g := w.c.Genesis
	return time.Unix(g.Epoch+s*g.SlotSeconds, 0)
}

// run waits for the measured slots to settle and returns the report.
func (w *watch) run(ctx context.Context, t *testing.T) *mgReport {
	g := w.c.Genesis
	w.cleared, w.settled = map[int64]time.Time{}, map[int64]time.Time{}
	// The first measured slot opens for orders within a slot from now
	// (open_lead is two slots): every home has its whole order window.
	first := (time.Now().Unix()-g.Epoch)/g.SlotSeconds + 3
	last := first + int64(w.spec.Slots) - 1
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.poll(pctx) })
	before := w.sample(ctx)
	t0 := time.Now()
	// Settlement is due at the end of the attestation window; give it three
	// slots more.
	due := w.slotStart(last + 1).Add(time.Duration(g.AttestWindowSeconds+3*g.SlotSeconds) * time.Second)
	for time.Now().Before(due) && ctx.Err() == nil {
		w.mu.Lock()
		_, done := w.settled[last]
		w.mu.Unlock()
		if done {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	after := w.sample(ctx)
	elapsed := time.Since(t0)
	stop()
	wg.Wait()
	rows, err := w.c.Slots(ctx, w.c.Nodes[0], first, last+1)
	if err != nil {
		t.Errorf("slots of %s: %v", w.c.Nodes[0].Name, err)
	}
	return w.report(first, last, rows, before, after, elapsed)
}

// poll records, every 200 ms, the slots the first authority has cleared and
// settled, and when it first saw them.
func (w *watch) poll(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if st, err := w.c.StatusOf(ctx, w.c.Nodes[0]); err == nil {
			now := time.Now()
			w.mu.Lock()
			for s := max(st.LastCleared-8, 0); s <= st.LastCleared; s++ {
				if _, ok := w.cleared[s]; !ok {
					w.cleared[s] = now
				}
			}
			for s := max(st.LastSettled-8, 0); s <= st.LastSettled; s++ {
				if _, ok := w.settled[s]; !ok {
					w.settled[s] = now
				}
			}
			w.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// nodeSample is one node's counters at one moment.
type nodeSample struct {
	cpu              time.Duration
	rssKiB, peakKiB  int64
	p2pIn, p2pOut    int64
	wireRx, wireTx   int64
	height           uint64
	upstream, status string
	id               string // the node's peer id
}

func (w *watch) sample(ctx context.Context) []nodeSample {
	out := make([]nodeSample, len(w.procs))
	var wg sync.WaitGroup
	for i, p := range w.procs {
		wg.Go(func() {
			s := &out[i]
			pid := p.Pid()
			s.cpu, _ = cluster.CPUTime(pid)
			s.rssKiB, _ = cluster.RSS(pid)
			s.peakKiB, _ = cluster.PeakRSS(pid)
			s.wireRx, s.wireTx, _ = cluster.NetBytes(pid, "eth0")
			st, err := w.c.StatusOf(ctx, p)
			if err != nil {
				s.status = err.Error()
				return
			}
			s.p2pIn, s.p2pOut, s.height, s.upstream, s.id = st.P2PBytesIn, st.P2PBytesOut, st.Height, st.Upstream, st.NodeID
		})
	}
	wg.Wait()
	return out
}

func dumpTail(t *testing.T, p *cluster.Proc) {
	b, err := os.ReadFile(p.Stderr)
	if err != nil {
		return
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	t.Logf("%s stderr (end):\n%s", p.Name, b)
}

// check is the run's assertions: every measured slot cleared and settled on
// every node, one state hash, balances summing to 0, no node exited.
func (w *watch) check(ctx context.Context, t *testing.T, rep *mgReport) {
	for _, s := range rep.Slots {
		if !s.Cleared || !s.Settled {
			t.Errorf("slot %d: cleared %v, settled %v on %s; want both", s.Slot, s.Cleared, s.Settled, w.c.Nodes[0].Name)
		}
	}
	for _, p := range w.procs[1:] {
		var st cluster.Status
		ok := eventually(20*time.Second, func() bool {
			var err error
			st, err = w.c.StatusOf(ctx, p)
			return err == nil && st.LastSettled >= rep.Last
		})
		if !ok {
			t.Errorf("%s: last settled slot %d; want at least %d (the last measured)", p.Name, st.LastSettled, rep.Last)
			continue
		}
		rows, err := w.c.Slots(ctx, p, rep.First, rep.Last+1)
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
			continue
		}
		if got, want := settledCount(rows), rep.Last-rep.First+1; got != want {
			t.Errorf("%s: %d of slots %d..%d cleared and settled; want %d", p.Name, got, rep.First, rep.Last, want)
		}
	}
	w.checkState(ctx, t)
	var sum int64
	for _, m := range slices.Concat(w.c.Genesis.Authorities, w.c.Genesis.Participants) {
		b, err := w.c.Balance(ctx, w.c.Nodes[0], m.Key)
		if err != nil {
			t.Errorf("balance of %s: %v", m.Name, err)
		}
		sum += int64(b)
	}
	if sum != 0 {
		t.Errorf("balances on %s sum to %d; want 0", w.c.Nodes[0].Name, sum)
	}
	if rep.Trades == 0 {
		t.Errorf("0 trades in slots %d..%d; want the homes to have traded", rep.First, rep.Last)
	}
	for _, p := range w.procs {
		if u := p.Unwanted(); len(u) > 0 {
			t.Errorf("%s: %v; want no process to exit by itself", p.Name, u)
		}
	}
}

func settledCount(rows []cluster.Slot) int64 {
	var n int64
	for _, r := range rows {
		if r.Settled {
			n++
		}
	}
	return n
}

// checkState compares every node's state hash at the lowest height they
// all have.
func (w *watch) checkState(ctx context.Context, t *testing.T) {
	h := uint64(1<<64 - 1)
	for _, p := range w.procs {
		st, err := w.c.StatusOf(ctx, p)
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
			return
		}
		h = min(h, st.Height)
	}
	var want string
	for _, p := range w.procs {
		b, err := w.c.BlockOf(ctx, p, h)
		switch {
		case err != nil:
			t.Errorf("%s: block %d: %v", p.Name, h, err)
		case want == "":
			want = b.StateHash
		case b.StateHash != want:
			t.Errorf("%s: state hash at height %d is %s, %s has %s; want one state", p.Name, h, b.StateHash, w.procs[0].Name, want)
		}
	}
	t.Logf("every node at height %d: state %s", h, want)
}
