package node

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/node/nodetest"
	"github.com/gridmesh/gridmesh/unit"
)

// Issue 19's outage tests (a)–(d) on real nodes over loopback. The scaled
// clock: the network's slot is 2 s and stands for 15 minutes, so 3 hours are
// outageSlots = 12 slots (24 s), and the late window of outageLate = 30
// slots (60 s) stands for 7.5 hours: 36 s more than the outage, for the
// node coming back to reconnect, or the returning authority to restart and
// the chain to resume (17.5 s at load 18, when 6 slots of margin failed
// TestOutageTwoAuthorities). Nodes: authorities 0–3, then home-1
// (panels: it sells while its simulated sun shines) and home-2 (it buys),
// so every trade is between the two homes.
//
// The homes' simulated meters run outageMeterSpeed times faster than real
// time, not the demo's 450× (a slot's 15 minutes): their simulated day
// starts at 10:00 at the epoch and the sun sets at 20:00, which at 450× is
// 80 s into the network. On a loaded machine a test ran past that, home-1
// bought like home-2 and no trade could resume (TestOutageTwoAuthorities
// at slot 68, 2026-12-07). At 60× the sun shines for 600 s of the test,
// longer than all its waits together; a slot then meters 2 simulated
// minutes, hundreds of Wh from home-1's panels, which is all a trade needs.
const (
	outageSlot       = 2 * time.Second
	outageSlots      = 12
	outageLate       = 30 * 2 // seconds
	outageMeterSpeed = 60
)

type outageNet struct {
	t     *testing.T
	paths []string
	nodes []*running
	gen   chain.Genesis
}

// newOutageNet writes and starts the network and waits until a slot with
// trades has settled.
func newOutageNet(t *testing.T) *outageNet {
	if testing.Short() {
		t.Skip("a multi-node outage run of about a minute; runs without -short")
	}
	parallelNetwork(t)
	paths := slotNet(t, 2, 4, outageSlot)
	nodetest.EditGenesis(t, paths, func(g *config.Genesis) { g.Tariff.LateSeconds = outageLate })
	// home-1 without its simulated battery: a restarted simulated battery
	// starts empty and soaks up the panels' surplus for simulated hours, so
	// the power-cut test would see no sale after the cut.
	// More panels and a small load: it sells whenever its sun shines
	// (outageMeterSpeed), so a test whose outage ran late still sees
	// trading resume.
	editConfig(t, paths[4], func(c *config.Node) {
		c.Battery = config.DefaultNode().Battery
		c.Meter.Sim.PVPeakW, c.Meter.Sim.LoadW = 10_000, 300
	})
	// Orders at the homeowner's limit at once (no ramp): an order on chain
	// when an outage starts is one that trades, not a cautious first price
	// whose replacements the outage held back.
	for _, p := range paths[4:] {
		editConfig(t, p, func(c *config.Node) {
			c.Trading.MaxReplaces = 0
			c.Meter.Sim.Speed = outageMeterSpeed
		})
	}
	o := &outageNet{t: t, paths: paths}
	for _, p := range paths {
		o.nodes = append(o.nodes, start(t, p, Options{Log: debugLog(t)}))
	}
	o.gen = o.auth().gen
	if o.gen.LateSeconds != outageLate {
		t.Fatalf("genesis late window %d s; want %d", o.gen.LateSeconds, outageLate)
	}
	o.waitTrades("a first settled slot with trades", 0)
	return o
}

func (o *outageNet) auth() *Node { return o.nodes[0].n }

func (o *outageNet) slotNow() unit.Slot { return o.gen.SlotAt(time.Now().UnixMilli()) }

// waitSlots waits until n slots have begun after from (the outage's length).
func (o *outageNet) waitSlots(from unit.Slot, n int) {
	o.t.Helper()
	waitFor(o.t, fmt.Sprintf("slot %d", from+unit.Slot(n)), time.Duration(n+5)*outageSlot, func() bool {
		return o.slotNow() >= from+unit.Slot(n)
	})
}

// waitTrades waits for a slot at or after from to settle with trades on the
// first authority.
func (o *outageNet) waitTrades(what string, from unit.Slot) unit.Slot {
	o.t.Helper()
	found := unit.Slot(-1)
	defer func() {
		if found < 0 {
			o.dump()
		}
	}()
	waitFor(o.t, what, 60*time.Second, func() bool {
		a := o.auth()
		a.mu.RLock()
		defer a.mu.RUnlock()
		for s := from; s <= a.chain.Status().LastSettled; s++ {
			if st, ok := a.chain.Settlement(s); ok && st.Energy > 0 {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// dump logs every node's status, for a test that failed.
func (o *outageNet) dump() {
	for _, r := range o.nodes {
		st := r.n.Status()
		o.t.Logf("%s running %v: height %d, peers %d, last cleared %d, last settled %d, voting %v, pending %d",
			r.n.cfg.Node.Name, !r.Halted(), st.Height, st.Peers, st.LastCleared, st.LastSettled, st.Voting, st.PendingTxs)
		for _, b := range st.OpenBook {
			if b.MyOrder != nil {
				o.t.Logf("  slot %d: own order %+v", b.Slot, *b.MyOrder)
			}
		}
	}
	a := o.auth()
	a.mu.RLock()
	defer a.mu.RUnlock()
	for s := max(a.chain.Status().LastCleared-24, 0); s <= a.chain.Status().LastCleared; s++ {
		r, _ := a.chain.Result(s)
		st, ok := a.chain.Settlement(s)
		o.t.Logf("slot %d: %d orders, %d trades, %d Wh; settled %v, %d Wh", s, len(a.chain.Orders(s)), len(r.Trades), r.Volume, ok, st.Energy)
	}
}

// waitSettled waits until every slot up to last that cleared trades has
// settled on the first authority (a late window may hold some).
func (o *outageNet) waitSettled(last unit.Slot) {
	o.t.Helper()
	waitFor(o.t, fmt.Sprintf("every traded slot up to %d settled", last), 90*time.Second, func() bool {
		a := o.auth()
		a.mu.RLock()
		defer a.mu.RUnlock()
		if a.chain.Status().LastCleared < last {
			return false
		}
		for s := unit.Slot(0); s <= last; s++ {
			if r, ok := a.chain.Result(s); ok && len(r.Trades) > 0 {
				if _, ok := a.chain.Settlement(s); !ok {
					return false
				}
			}
		}
		return true
	})
}

// homeTraded reports whether home took part in a trade of slot s (on the
// first authority's chain).
func (o *outageNet) homeTraded(home *Node, s unit.Slot) bool {
	a := o.auth()
	a.mu.RLock()
	defer a.mu.RUnlock()
	r, _ := a.chain.Result(s)
	for _, t := range r.Trades {
		if t.Buyer == string(home.self) || t.Seller == string(home.self) {
			return true
		}
	}
	return false
}

// attested returns the attestations on the first authority's chain by slot,
// for the account of home.
func (o *outageNet) attested(home *Node) map[unit.Slot]chain.Attest {
	a := o.auth()
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := map[unit.Slot]chain.Attest{}
	for h := uint64(1); h <= a.chain.Status().Height; h++ {
		b, _, err := a.chain.Block(h)
		if err != nil {
			o.t.Fatalf("block %d: %v", h, err)
		}
		for _, tx := range b.Txs {
			if tx.Kind == chain.TxAttest && tx.From == home.self {
				out[tx.Attest.Slot] = *tx.Attest
			}
		}
	}
	return out
}

// checkMetered checks that no metered interval of a running home was lost:
// every slot up to last in which it traded has its attestation counted on
// chain (applyAttest takes none for a settled slot, so one in a block was
// counted), equal to its journal's energy over the slot; skip leaves slots
// out (a power cut). It returns how many slots in [from, to] it checked for
// homes[0], so a test can insist the outage was exercised.
func (o *outageNet) checkMetered(homes []*Node, last unit.Slot, skip func(*Node, unit.Slot) bool, from, to unit.Slot) int {
	o.t.Helper()
	inWindow := 0
	for i, h := range homes {
		att := o.attested(h)
		for s := unit.Slot(0); s <= last; s++ {
			if !o.homeTraded(h, s) || skip != nil && skip(h, s) {
				continue
			}
			imp, exp, ok := h.journal.Energy(time.UnixMilli(o.gen.SlotStart(s)), time.UnixMilli(o.gen.SlotStart(s+1)))
			if !ok {
				o.t.Errorf("%s traded in slot %d but its journal does not cover it: a metered interval lost", h.cfg.Node.Name, s)
				continue
			}
			a, ok := att[s]
			if !ok {
				// The rule for a gap in readings (a power cut) holds for
				// any gap: a loaded machine that stalls the sampler past
				// maxReadGap is one, and the slot is rightly not attested.
				from, to := time.UnixMilli(o.gen.SlotStart(s)), time.UnixMilli(o.gen.SlotStart(s+1))
				gap := max(readGap(o.t, h.journal, from), readGap(o.t, h.journal, to))
				if limit := h.maxReadGap(); gap > limit {
					o.t.Logf("%s slot %d not attested: its meter was not read for %v across the slot's start or end (more than %v)", h.cfg.Node.Name, s, gap, limit)
					continue
				}
				o.t.Errorf("%s traded in slot %d but no attestation of it is on chain (readings %v apart at most across its start and end): a metered interval lost", h.cfg.Node.Name, s, gap)
				continue
			}
			if a.Import != imp || a.Export != exp {
				o.t.Errorf("%s slot %d: attested import %d, export %d; its journal says %d, %d", h.cfg.Node.Name, s, a.Import, a.Export, imp, exp)
			}
			if i == 0 && s >= from && s <= to {
				inWindow++
			}
		}
	}
	return inWindow
}

// checkLedger checks, on every running node, that balances sum to 0, that
// its state hash at its height is the first authority's, and, for every
// home, that its statement on its own node and on the first authority add
// up to its balance there and agree line by line on the slots both settled.
func (o *outageNet) checkLedger() {
	o.t.Helper()
	a := o.auth()
	var homes []*Node
	for _, r := range o.nodes {
		n := r.n
		if r.Halted() {
			continue
		}
		st := n.Status()
		waitFor(o.t, "the first authority to reach "+n.cfg.Node.Name+"'s height", 30*time.Second, func() bool {
			return a.Status().Height >= st.Height
		})
		a.mu.RLock()
		b, _, err := a.chain.Block(st.Height)
		a.mu.RUnlock()
		if err != nil {
			o.t.Fatalf("block %d: %v", st.Height, err)
		}
		if st.StateHash != b.Header.StateHash.String() {
			o.t.Errorf("%s at height %d has state hash %s; the chain's block says %s", n.cfg.Node.Name, st.Height, st.StateHash, b.Header.StateHash)
		}
		n.mu.RLock()
		var sum unit.Money
		for _, v := range n.chain.Balances() {
			sum += v
		}
		n.mu.RUnlock()
		if sum != 0 {
			o.t.Errorf("%s: balances sum to %d; want 0", n.cfg.Node.Name, sum)
		}
		if n.journal != nil {
			homes = append(homes, n)
		}
	}
	if len(homes) == 0 {
		o.t.Fatal("no running home to check")
	}
	for _, h := range homes {
		mine, mineBal := statementOf(h, h)
		if len(mine) == 0 {
			o.t.Errorf("%s: empty statement; want its settled trades", h.cfg.Node.Name)
		}
		theirs, theirBal := statementOf(a, h)
		if sumNet(mine) != mineBal || sumNet(theirs) != theirBal {
			o.t.Errorf("%s: statement nets %d (own node) and %d (authority); balances %d and %d; want each equal", h.cfg.Node.Name, sumNet(mine), sumNet(theirs), mineBal, theirBal)
		}
		byslot := map[unit.Slot]chain.StatementLine{}
		for _, l := range theirs {
			byslot[l.Slot] = l
		}
		for _, l := range mine {
			// The authority is at the home's height or beyond, and a settled
			// slot never changes: it has every line the home has.
			if got, ok := byslot[l.Slot]; !ok || got != l {
				o.t.Errorf("%s slot %d: own statement line %+v; the authority's %+v (present %v)", h.cfg.Node.Name, l.Slot, l, got, ok)
			}
		}
	}
}

// statementOf is home's statement and balance on n's chain, read together.
func statementOf(n, home *Node) ([]chain.StatementLine, unit.Money) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.chain.Statement(home.self, 0, math.MaxInt64), n.chain.Balances()[home.self]
}

func sumNet(ls []chain.StatementLine) unit.Money {
	var s unit.Money
	for _, l := range ls {
		s += l.Net
	}
	return s
}

func debugLog(t *testing.T) *slog.Logger {
	if os.Getenv("OUTAGE_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// readGap is the time between the journal's last reading at or before t and
// its first after t (0 for a reading at t), looking a minute either side.
func readGap(t *testing.T, j *meter.Journal, at time.Time) time.Duration {
	t.Helper()
	before, after := readingsAround(j, at, time.Minute)
	switch {
	case before.Equal(at):
		return 0
	case before.IsZero() || after.IsZero():
		return 2 * time.Minute
	}
	return after.Sub(before)
}

// readingsIn counts the journal's readings in [from, to).
func readingsIn(t *testing.T, j *meter.Journal, from, to time.Time) int {
	t.Helper()
	n := 0
	if err := j.Scan(from, to, func(e meter.Entry) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	return n
}

// cut blocks every other node's peer on n's host (its internet is down);
// heal lifts it.
func (o *outageNet) cut(n *Node, block bool) {
	o.t.Helper()
	for _, r := range o.nodes {
		if r.n == n {
			continue
		}
		var err error
		if block {
			err = n.host.Block(r.n.host.ID())
		} else {
			err = n.host.Unblock(r.n.host.ID())
		}
		if err != nil {
			o.t.Fatal(err)
		}
	}
}

// homeOrdered waits until home has an order on chain for a slot at or after
// the next one, so that an outage that starts now catches a traded slot.
func (o *outageNet) homeOrdered(home *Node) {
	o.t.Helper()
	found := false
	defer func() {
		if !found {
			o.dump()
		}
	}()
	// With a crossing order of the other home in the same slot: a slot the
	// home only offered in may clear without a trade (on a loaded machine
	// the other home's order can miss the gate), and the outage would then
	// span no traded slot (TestOutagePower failed so at load 18).
	waitFor(o.t, home.cfg.Node.Name+"'s order for a coming slot, crossed by another's", 30*time.Second, func() bool {
		a := o.auth()
		a.mu.RLock()
		defer a.mu.RUnlock()
		for s := o.slotNow() + 1; s <= o.slotNow()+2; s++ {
			if crossed(a.chain.Orders(s), string(home.self)) {
				found = true
				return true
			}
		}
		return false
	})
}

// crossed reports whether one of owner's orders meets an order of another
// owner on the other side with crossing limit prices (before the fee).
func crossed(orders []market.Order, owner string) bool {
	for _, o := range orders {
		if o.Owner != owner {
			continue
		}
		for _, p := range orders {
			if p.Owner == owner || p.Side == o.Side {
				continue
			}
			buy, sell := o, p
			if o.Side == market.Sell {
				buy, sell = p, o
			}
			if buy.Price >= sell.Price {
				return true
			}
		}
	}
	return false
}

// (a) home-1's internet is down for 3 hours: it goes on reading its meter
// into the journal; the attestations of the slots it traded in reach the
// chain when it is back, within the late window, and count.
func TestOutageInternet(t *testing.T) {
	o := newOutageNet(t)
	home := o.nodes[4].n
	o.homeOrdered(home)
	cutAt := time.Now()
	down := o.slotNow()
	o.cut(home, true)
	o.waitSlots(down, outageSlots)
	if p := home.host.Peers(); len(p) != 0 {
		t.Errorf("home-1 offline has peers %v; want none", p)
	}
	heal := time.Now()
	o.cut(home, false)
	back := o.slotNow()
	o.waitTrades("trading after home-1 is back", back)
	o.waitSettled(back)
	if n := readingsIn(t, home.journal, cutAt, heal); n < outageSlots {
		t.Errorf("home-1's journal holds %d readings from its 3 hours offline; want at least one a slot (%d)", n, outageSlots)
	}
	homes := []*Node{home, o.nodes[5].n}
	// The slots home-1 traded whose attestation window ended while it was offline.
	if n := o.checkMetered(homes, back, nil, down, o.gen.SlotAt(heal.UnixMilli()-o.gen.AttestWindowSeconds*1000)-1); n == 0 {
		t.Errorf("no slot home-1 traded had its attestation window end while it was offline: the late path was not exercised")
	}
	o.checkLedger()
}

// (b) home-1's power is cut for 3 hours: no readings exist; the slots it
// had traded settle by the missing-attestation rule (a seller without one
// delivered nothing) once the late window ends; no money is created; back,
// it reads and trades again.
func TestOutagePower(t *testing.T) {
	o := newOutageNet(t)
	r := o.nodes[4]
	o.homeOrdered(r.n)
	down := o.slotNow()
	cutAt := time.Now() // the meter's last reading is before this
	r.Halt(t)
	o.waitSlots(down, outageSlots)
	powered := time.Now()
	r = start(t, o.paths[4], Options{Log: debugLog(t)})
	o.nodes[4] = r
	home := r.n
	back := o.slotNow()
	o.waitTrades("trading after home-1's power is back", back)
	o.waitSettled(back)
	if n := readingsIn(t, home.journal, cutAt, powered); n != 0 {
		t.Errorf("home-1's journal holds %d readings from while its power was cut; want 0", n)
	}
	// A slot the cut spans is one whose end the meter did not read before
	// the cut (the rule: never attested across a gap in readings). Its end
	// may lie just before cutAt: the cut can fall between the slot's end and
	// the first reading after it (a meter interval, more under load).
	cutSlots := func(s unit.Slot) bool {
		end := time.UnixMilli(o.gen.SlotStart(s + 1))
		read := end.Before(cutAt) && readingsIn(t, home.journal, end, cutAt) > 0
		return !read && o.gen.SlotStart(s) < powered.UnixMilli()
	}
	att := o.attested(home)
	missed := 0
	a := o.auth()
	for s := down; s <= back; s++ {
		if !cutSlots(s) || !o.homeTraded(home, s) {
			continue
		}
		if _, ok := att[s]; ok {
			continue // attested before the cut
		}
		missed++
		a.mu.RLock()
		st, _ := a.chain.Settlement(s)
		a.mu.RUnlock()
		for _, tr := range st.Trades {
			if tr.Seller == string(home.self) && tr.Settled != 0 {
				t.Errorf("slot %d: home-1 sold without an attestation and %d Wh were settled; want 0 (a seller without one delivered nothing)", s, tr.Settled)
			}
		}
	}
	if missed == 0 {
		t.Errorf("no slot home-1 had traded went unattested through the cut: the missing-attestation rule was not exercised")
	}
	skip := func(n *Node, s unit.Slot) bool { return n == home && cutSlots(s) }
	o.checkMetered([]*Node{home, o.nodes[5].n}, back, skip, 0, -1)
	o.checkLedger()
}

// (c) one authority of four is down for 3 hours: the chain goes on; back,
// it catches up and votes again.
func TestOutageOneAuthority(t *testing.T) {
	o := newOutageNet(t)
	down := o.slotNow()
	o.nodes[3].Halt(t)
	o.waitTrades("trading with one authority down", down+1)
	o.waitSlots(down, outageSlots)
	o.nodes[3] = start(t, o.paths[3], Options{})
	back := o.nodes[3].n
	from := back.Status().Height
	waitFor(t, "authority-4 to catch up and propose a block again", 60*time.Second, func() bool {
		return back.Status().Voting && proposedSince(o.auth(), from, back.self)
	})
	last := o.slotNow()
	o.waitSettled(last)
	o.checkMetered([]*Node{o.nodes[4].n, o.nodes[5].n}, last, nil, 0, -1)
	o.checkLedger()
}

// (d) two authorities of four are down for 3 hours: the chain halts (no
// block without a quorum); the homes go on reading and journaling; when one
// authority returns, blocks and trading resume by themselves and the
// attestations of the slots traded before the halt count.
func TestOutageTwoAuthorities(t *testing.T) {
	o := newOutageNet(t)
	o.homeOrdered(o.nodes[4].n)
	down := o.slotNow()
	o.nodes[3].Halt(t)
	o.nodes[2].Halt(t)
	haltAt := time.Now()
	stuck := o.auth().Status().Height
	o.waitSlots(down, outageSlots)
	for _, r := range o.nodes[:2] {
		// One block may have been decided with the votes in flight.
		if h := r.n.Status().Height; h > stuck+1 {
			t.Errorf("%s reached height %d with two authorities of four down; want the chain halted at %d", r.n.cfg.Node.Name, h, stuck)
		}
	}
	resume := time.Now()
	for _, r := range o.nodes[4:] {
		if n := readingsIn(t, r.n.journal, haltAt, resume); n < outageSlots {
			t.Errorf("%s journaled %d readings while the chain was halted; want at least one a slot (%d)", r.n.cfg.Node.Name, n, outageSlots)
		}
	}
	o.nodes[2] = start(t, o.paths[2], Options{})
	back := o.slotNow()
	waitFor(t, "blocks to resume", 60*time.Second, func() bool { return o.auth().Status().Height > stuck+1 })
	t.Logf("blocks resumed %s after authority-3 was started again", time.Since(resume).Round(100*time.Millisecond))
	o.waitTrades("trading to resume with three authorities", back)
	o.waitSettled(back)
	for _, r := range o.nodes {
		if !r.Halted() && r.n.Status().Evidence != 0 {
			t.Errorf("%s saw %d conflicting signed messages; want 0", r.n.cfg.Node.Name, r.n.Status().Evidence)
		}
	}
	if n := o.checkMetered([]*Node{o.nodes[4].n, o.nodes[5].n}, back, nil, down, o.gen.SlotAt(resume.UnixMilli())); n == 0 {
		t.Errorf("no slot home-1 traded fell in the halt: the late path was not exercised")
	}
	o.checkLedger()
}

// TestReadAround: a slot border is measured when the readings either side
// of it are at most the gap apart, and not across a power cut.
func TestReadAround(t *testing.T) {
	j, err := meter.OpenJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	t0 := time.Unix(1_700_000_000, 0)
	// A reading every second for 10 s, none from 10 s to 40 s (the cut), then
	// one a second again.
	for i := 0; i <= 50; i++ {
		if i > 10 && i < 40 {
			continue
		}
		if err := j.Append(meter.Reading{Time: t0.Add(time.Duration(i) * time.Second), Import: unit.Wh(i), Export: 0}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{
		{5 * time.Second, true},           // on a reading
		{5500 * time.Millisecond, true},   // between two a second apart
		{10 * time.Second, true},          // the last reading before the cut
		{10500 * time.Millisecond, false}, // inside the cut: 30 s between readings
		{25 * time.Second, false},
		{40 * time.Second, true},  // the first reading after it
		{60 * time.Second, false}, // after the last reading
		{-time.Second, false},     // before the first
	} {
		if got := readAround(j, t0.Add(tc.at), 2*time.Second); got != tc.want {
			t.Errorf("readAround(t0+%s, 2s) = %v; want %v", tc.at, got, tc.want)
		}
	}
}
