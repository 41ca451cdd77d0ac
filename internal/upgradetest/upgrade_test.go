package upgradetest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/internal/cluster"
)

const slotSeconds = 4

// binaries builds the previous release (previous, from git) and this
// tree's gridmesh. Without git it skips, except under CI=true, where it
// fails: CI runs on a clone of the repository, which has git.
func binaries(t *testing.T) (old, cur string) {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	start := time.Now()
	old, err = buildCommit(root, previous, dir)
	if errors.Is(err, errNoGit) && os.Getenv("CI") != "true" && os.Getenv("GRIDMESH_REQUIRE_ALL") == "" {
		t.Skipf("%v: the previous release is built from git; set GRIDMESH_REQUIRE_ALL=1 (CI=true does) to fail instead of skipping", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	cur = filepath.Join(dir, "gridmesh-new")
	if err := build(root, cur); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s (previous release) and this tree in %s", previous[:12], time.Since(start).Round(time.Second))
	return old, cur
}

// TestRollingUpgrade is issue 17's rolling-upgrade test with two real
// binaries: a network of 4 authorities and 2 trading homes starts on the
// previous release's binary; while the homes trade in 4 s slots, every node
// in turn is stopped (SIGTERM, as systemd stops it for an update) and
// started again on the same data directory with this tree's binary, so the
// network runs mixed through the whole switch. Then, every node being new,
// three of the four authorities vote the release's upgrade
// (tariff-seq-next), which comes into force on every node at the voted
// height and applies its rule. Afterwards: no slot was
// lost (every slot from the first cleared one to the last settled one has
// cleared and settled, on every node), trades happened, every node has the
// same state hash at a common height, and no incarnation exited by itself.
func TestRollingUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two gridmesh binaries and runs six nodes as processes (not with -short)")
	}
	old, cur := binaries(t)
	c, err := cluster.Write(t.TempDir(), cluster.Options{
		Binary: cur, Authorities: 4, Homes: 2, SlotSeconds: slotSeconds, TradingHomes: true, ChainID: "gridmesh-rolling",
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	procs := slices.Concat(c.Nodes, c.Homes)
	defer func() {
		c.Stop(10 * time.Second)
		if t.Failed() {
			for _, p := range procs {
				dumpLog(t, p)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	for _, p := range procs {
		p.SetBinary(old)
		if err := c.StartProc(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitPeers(ctx, procs, 3); err != nil {
		t.Fatal(err)
	}
	first, err := waitCleared(ctx, c, c.Nodes[0], 0)
	if err != nil {
		t.Fatalf("the old network never cleared a slot: %v", err)
	}
	t.Logf("old network trading: slot %d cleared", first)

	// Authorities and homes alternately, so that old and new serve each
	// other in both roles.
	order := []*cluster.Proc{c.Nodes[0], c.Homes[0], c.Nodes[1], c.Homes[1], c.Nodes[2], c.Nodes[3]}
	for _, p := range order {
		if err := upgrade(ctx, c, p, cur, procs); err != nil {
			t.Fatalf("upgrading %s: %v", p.Name, err)
		}
	}
	// Every node runs the new release: the authorities vote its upgrade.
	activate(t, ctx, c, procs)
	st, err := c.Status(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	last, err := waitSettled(ctx, c, c.Nodes[0], st.LastCleared+2)
	if err != nil {
		t.Fatalf("the upgraded network stopped settling: %v", err)
	}
	t.Logf("slots %d..%d through the switch", first, last)
	checkSlots(t, ctx, c, procs, first, last)
	checkStateHash(t, ctx, c, procs)
	for _, p := range procs {
		if u := p.Unwanted(); len(u) > 0 {
			t.Errorf("%s: %v; want no incarnation to exit by itself", p.Name, u)
		}
	}
}

// activate has three of the four authorities vote that tariff-seq-next
// activates 8 blocks ahead, waits until every node shows it in force, and
// checks its rule: a tariff that skips a seq is refused, the next one taken.
func activate(t *testing.T, ctx context.Context, c *cluster.Cluster, procs []*cluster.Proc) {
	t.Helper()
	st, err := c.Status(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	at := st.Height + 8
	keys := make([]ed25519.PrivateKey, len(c.Nodes))
	for i, p := range c.Nodes {
		if keys[i], err = config.LoadKey(filepath.Join(p.Dir, "node.key")); err != nil {
			t.Fatal(err)
		}
	}
	signed := func(k ed25519.PrivateKey, tx chain.Tx) []byte {
		tx.ChainID, tx.From = c.Genesis.ChainID, ident.AccountOf(k.Public().(ed25519.PublicKey))
		tx.Sign(k)
		return tx.Encode()
	}
	for i := range 3 {
		tx := signed(keys[i], chain.Tx{Kind: chain.TxUpgrade, Upgrade: &chain.UpgradeVote{Name: chain.UpgradeTariffSeqNext, Height: at}})
		if err := c.PostTx(ctx, i, tx); err != nil {
			t.Fatalf("authority-%d's vote for %s at %d: %v", i+1, chain.UpgradeTariffSeqNext, at, err)
		}
	}
	for _, p := range procs {
		for {
			st, err := c.StatusOf(ctx, p)
			if err == nil && len(st.Upgrades) == 1 && st.Upgrades[0].Active {
				if u := st.Upgrades[0]; u.Name != chain.UpgradeTariffSeqNext || u.Height != at || !u.Known {
					t.Errorf("%s: upgrades %+v; want %s at %d, known", p.Name, st.Upgrades, chain.UpgradeTariffSeqNext, at)
				}
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: upgrade %s at height %d never in force (height %d, upgrades %+v)", p.Name, chain.UpgradeTariffSeqNext, at, st.Height, st.Upgrades)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("upgrade %s voted by 3 of 4 authorities, in force from height %d on every node", chain.UpgradeTariffSeqNext, at)
	g := c.Genesis.Tariff
	tariff := func(seq uint64) []byte {
		return signed(keys[0], chain.Tx{Kind: chain.TxTariff, Tariff: &chain.Tariff{Floor: g.Floor, Ceiling: g.Ceiling, Fee: g.Fee, Seq: seq}})
	}
	if err := c.PostTx(ctx, 0, tariff(2)); !errors.Is(err, cluster.ErrRejected) || !strings.Contains(err.Error(), chain.UpgradeTariffSeqNext) {
		t.Errorf("tariff seq 2 after seq 0 with %s in force: %v; want it refused by that rule", chain.UpgradeTariffSeqNext, err)
	}
	if err := c.PostTx(ctx, 0, tariff(1)); err != nil {
		t.Errorf("tariff seq 1 after seq 0: %v; want it taken", err)
	}
}

// upgrade stops p, starts it on bin over the same data directory, and
// waits until it has caught up with the others and the network has cleared
// and settled a slot since it came back.
func upgrade(ctx context.Context, c *cluster.Cluster, p *cluster.Proc, bin string, all []*cluster.Proc) error {
	p.Stop(10 * time.Second)
	p.SetBinary(bin)
	if err := c.StartProc(p); err != nil {
		return err
	}
	if err := c.WaitPeers(ctx, []*cluster.Proc{p}, 3); err != nil {
		return err
	}
	var top uint64
	for _, q := range all {
		if q == p {
			continue
		}
		if st, err := c.StatusOf(ctx, q); err == nil {
			top = max(top, st.Height)
		}
	}
	for {
		st, err := c.StatusOf(ctx, p)
		if err == nil && st.Height >= top {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("never reached height %d (at %d): %w", top, st.Height, ctx.Err())
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := c.StatusOf(ctx, p)
	if err != nil {
		return err
	}
	_, err = waitSettled(ctx, c, p, st.LastSettled+1)
	return err
}

// waitCleared waits until p has cleared slot s or a later one and returns
// its last cleared slot.
func waitCleared(ctx context.Context, c *cluster.Cluster, p *cluster.Proc, s int64) (int64, error) {
	return waitFor(ctx, c, p, func(st cluster.Status) (int64, bool) { return st.LastCleared, st.LastCleared >= s })
}

// waitSettled waits until p has settled slot s or a later one and returns
// its last settled slot.
func waitSettled(ctx context.Context, c *cluster.Cluster, p *cluster.Proc, s int64) (int64, error) {
	return waitFor(ctx, c, p, func(st cluster.Status) (int64, bool) { return st.LastSettled, st.LastSettled >= s })
}

func waitFor(ctx context.Context, c *cluster.Cluster, p *cluster.Proc, done func(cluster.Status) (int64, bool)) (int64, error) {
	var last cluster.Status
	for {
		st, err := c.StatusOf(ctx, p)
		if err == nil {
			last = st
			if v, ok := done(st); ok {
				return v, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s: %w (height %d, last cleared %d, last settled %d)", p.Name, ctx.Err(), last.Height, last.LastCleared, last.LastSettled)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkSlots checks that every slot in [first, last] cleared and settled on
// every node, and that the slots traded.
func checkSlots(t *testing.T, ctx context.Context, c *cluster.Cluster, procs []*cluster.Proc, first, last int64) {
	t.Helper()
	for _, p := range procs {
		if _, err := waitSettled(ctx, c, p, last); err != nil {
			t.Errorf("%s: %v", p.Name, err)
			continue
		}
		rows, err := c.Slots(ctx, p, first, last+1)
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
			continue
		}
		got := map[int64]cluster.Slot{}
		trades := 0
		for _, r := range rows {
			got[r.Slot] = r
			trades += r.Trades
		}
		var lost []string
		for s := first; s <= last; s++ {
			r, ok := got[s]
			switch {
			case !ok:
				lost = append(lost, fmt.Sprintf("%d (not cleared)", s))
			case !r.Settled:
				lost = append(lost, fmt.Sprintf("%d (not settled)", s))
			}
		}
		if len(lost) > 0 {
			t.Errorf("%s: slots lost: %s; want every slot of %d..%d cleared and settled", p.Name, strings.Join(lost, ", "), first, last)
		}
		if trades == 0 {
			t.Errorf("%s: 0 trades in slots %d..%d; want the homes to have traded", p.Name, first, last)
		}
		if p == procs[0] {
			t.Logf("%s: %d slots cleared and settled, %d trades", p.Name, last-first+1, trades)
		}
	}
}

// checkStateHash checks that every node has the same state hash at the
// lowest height they all have.
func checkStateHash(t *testing.T, ctx context.Context, c *cluster.Cluster, procs []*cluster.Proc) {
	t.Helper()
	h := uint64(1<<64 - 1)
	for _, p := range procs {
		st, err := c.StatusOf(ctx, p)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		h = min(h, st.Height)
	}
	var want string
	for _, p := range procs {
		b, err := c.BlockOf(ctx, p, h)
		if err != nil {
			t.Errorf("%s: block %d: %v", p.Name, h, err)
			continue
		}
		if want == "" {
			want = b.StateHash
		}
		if b.StateHash != want {
			t.Errorf("%s: state hash at height %d is %s, %s has %s; want one state", p.Name, h, b.StateHash, procs[0].Name, want)
		}
	}
	t.Logf("every node at height %d: state %s", h, want)
}

func dumpLog(t *testing.T, p *cluster.Proc) {
	b, err := os.ReadFile(p.Stderr)
	if err != nil {
		return
	}
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	t.Logf("%s stderr (end):\n%s", p.Name, b)
}
