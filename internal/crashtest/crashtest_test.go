package crashtest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/internal/cluster"
)

var (
	seedFlag  = flag.Uint64("crashtest.seed", 0, "seed of the kill moments and victims (0: from the clock, printed)")
	killsFlag = flag.Int("crashtest.kills", 50, "how many times an authority is SIGKILLed")
	spanFlag  = flag.Duration("crashtest.span", 90*time.Second, "the window in which the kills fall")
)

// buildGridmesh builds the gridmesh binary into a temporary directory.
func buildGridmesh(t *testing.T) string {
	t.Helper()
	bin, err := Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// kill is one planned SIGKILL.
type kill struct {
	At     time.Duration // after the load started
	Victim int
}

func (k kill) String() string { return fmt.Sprintf("%.2fs:authority-%d", k.At.Seconds(), k.Victim+1) }

// plan draws n kill moments in [0, span) and a victim for each from seed.
func plan(seed uint64, n, authorities int, span time.Duration) []kill {
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	ks := make([]kill, n)
	for i := range ks {
		ks[i] = kill{At: time.Duration(rng.Int64N(int64(span))), Victim: rng.IntN(authorities)}
	}
	slices.SortFunc(ks, func(a, b kill) int { return int(a.At - b.At) })
	return ks
}

func TestPlan(t *testing.T) {
	a, b := plan(7, 50, 4, time.Minute), plan(7, 50, 4, time.Minute)
	if !slices.Equal(a, b) {
		t.Fatalf("plan(7) twice: got %v and %v, want the same plan", a, b)
	}
	if c := plan(8, 50, 4, time.Minute); slices.Equal(a, c) {
		t.Errorf("plan(7) and plan(8) are equal: the seed is not used")
	}
	victims := map[int]bool{}
	for i, k := range a {
		if k.At < 0 || k.At >= time.Minute || k.Victim < 0 || k.Victim >= 4 {
			t.Errorf("kill %d = %v: want a moment in [0, 1m) and a victim in 0..3", i, k)
		}
		if i > 0 && k.At < a[i-1].At {
			t.Errorf("kill %d at %v before kill %d at %v: want them sorted", i, k.At, i-1, a[i-1].At)
		}
		victims[k.Victim] = true
	}
	if len(victims) != 4 {
		t.Errorf("50 kills hit %d of 4 authorities, want all", len(victims))
	}
}

// TestSIGKILL is issue 4's crash test: 4 authorities as processes under light
// load; one of them, chosen by the seed, is SIGKILLed at each of 50 seeded random
// moments and restarted at once on the same data directory. Afterwards every
// authority must be up and deciding new heights, all must agree on the state hash
// at a common height, nobody may have seen a double-sign, and no incarnation may
// have panicked or exited by itself.
func TestSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: builds gridmesh and runs 4 processes for about two minutes")
	}
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	const authorities = 4
	kills := plan(seed, *killsFlag, authorities, *spanFlag)
	where := fmt.Sprintf("seed %d (rerun: go test ./internal/crashtest -run TestSIGKILL -crashtest.seed=%d)", seed, seed)
	t.Logf("%s; kills %v", where, kills)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\nkills: %v\n%s", fmt.Sprintf(format, args...), kills, where)
	}

	bin := buildGridmesh(t)
	dir := t.TempDir()
	cl, err := cluster.Write(dir, cluster.Options{Binary: bin, Authorities: authorities, Accounts: 16}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	all := []int{0, 1, 2, 3}
	for _, i := range all {
		if err := cl.Start(i); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { cl.Stop(5 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	err = cl.WaitConnected(wctx, all)
	wcancel()
	if err != nil {
		fail("%v", err)
	}
	obs, err := cl.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()

	// Light load: 5 orders a second, round-robin over the authorities; a POST to
	// an authority that is down or starting simply fails.
	var accepted, refused atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		orders := cl.NewOrders(seed)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for k := 0; ; k++ {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
			tx := orders.Next()
			if err := cl.PostTx(loadCtx, k%authorities, tx.Encode()); err == nil {
				accepted.Add(1)
			} else {
				refused.Add(1)
			}
		}
	}()
	defer func() { stopLoad(); wg.Wait() }()

	t0 := time.Now()
	for n, k := range kills {
		if d := time.Until(t0.Add(k.At)); d > 0 {
			time.Sleep(d)
		}
		if err := cl.Kill(k.Victim); err != nil {
			fail("kill %d (%v): %v", n, k, err)
		}
		if err := cl.Start(k.Victim); err != nil {
			fail("restart after kill %d (%v): %v", n, k, err)
		}
	}
	t.Logf("%d kills in %.1fs; %d orders accepted, %d refused (while a node was down or starting)",
		len(kills), time.Since(t0).Seconds(), accepted.Load(), refused.Load())

	// Settle: every authority must get past the highest height any of them had
	// when the last kill happened, with the load still running.
	var target uint64
	for _, i := range all {
		if st, err := cl.Status(ctx, i); err == nil {
			target = max(target, st.Height)
		}
	}
	target++
	heights := make([]uint64, authorities)
	settle := time.Now().Add(60 * time.Second)
	for {
		behind := -1
		for _, i := range all {
			st, err := cl.Status(ctx, i)
			if err == nil {
				heights[i] = st.Height
			}
			if err != nil || st.Height < target {
				behind = i
			}
		}
		if behind < 0 {
			break
		}
		if time.Now().After(settle) {
			fail("node %s did not progress to height %d within 60s of the last kill (heights %v; stderr in %s)",
				cl.Nodes[behind].Name, target, heights, cl.Nodes[behind].Stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	stopLoad()
	wg.Wait()

	// Nobody signed two different things for one height, round and type, as
	// far as the observer saw (it sees every height, also old ones re-signed
	// after a restart), and the observer did see the votes.
	seen, bad := obs.Messages()
	if c := obs.Conflicts(); len(c) > 0 {
		fail("the observer saw %d double-signs, first: %v", len(c), c[0])
	}
	if seen < 100 {
		fail("the observer saw only %d signed consensus messages (%d bad): the double-sign check saw too little", seen, bad)
	}

	// Agreement at a common height, evidence, and how every incarnation ended.
	common := slices.Min(heights)
	var want string
	for _, i := range all {
		p := cl.Nodes[i]
		if !cl.Running(i) {
			fail("node %s is not running at the end", p.Name)
		}
		if u := cl.Unwanted(i); len(u) > 0 {
			fail("node %s: %s (stderr in %s)", p.Name, strings.Join(u, "; "), p.Stderr)
		}
		b, err := cl.Block(ctx, i, common)
		if err != nil {
			fail("node %s: block %d: %v", p.Name, common, err)
		}
		if want == "" {
			want = b.StateHash
		} else if b.StateHash != want {
			fail("node %s: state hash at height %d: got %s, want %s (as %s)", p.Name, common, b.StateHash, want, cl.Nodes[0].Name)
		}
		st, err := cl.Status(ctx, i)
		if err != nil {
			fail("node %s: status: %v", p.Name, err)
		}
		if st.Evidence != 0 {
			fail("node %s reports evidence %d: an authority signed conflicting messages", p.Name, st.Evidence)
		}
		logs, err := os.ReadFile(p.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		// The status counter starts at 0 in each incarnation; the log keeps
		// what every incarnation saw.
		for _, bad := range []string{"panic", "authority signed conflicting messages"} {
			if j := bytes.Index(logs, []byte(bad)); j >= 0 {
				fail("node %s: stderr has %q: %s (in %s)", p.Name, bad, excerpt(logs, j), p.Stderr)
			}
		}
	}
	starts := make([]int, authorities)
	for _, i := range all {
		starts[i] = cl.Starts(i)
	}
	t.Logf("all %d authorities agree at height %d (heights %v, starts %v); no evidence, no double-sign among %d consensus messages observed (%d undecodable), no panics",
		authorities, common, heights, starts, seen, bad)
}

// excerpt is the line of b around offset j.
func excerpt(b []byte, j int) string {
	start := bytes.LastIndexByte(b[:j], '\n') + 1
	end := bytes.IndexByte(b[j:], '\n')
	if end < 0 {
		end = len(b) - j
	}
	return string(b[start : j+end])
}
