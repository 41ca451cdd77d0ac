package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridmesh/gridmesh/internal/crashtest"
)

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const about = `
Commands:
  chain   finality and throughput of authorities run as separate processes`
	if len(args) == 0 {
		return usagef("bench: expected a command: chain (see gridmesh bench --help)")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprintf(stdout, "Usage: gridmesh bench <command> [flags]\n%s\n", about)
		return nil
	case "chain":
		return cmdBenchChain(ctx, args[1:], stdout, stderr)
	default:
		return usagef("bench: unknown command %q (see gridmesh bench --help)", args[0])
	}
}

// benchOptions are the flags of `gridmesh bench chain`.
type benchOptions struct {
	Authorities int
	Homes       int     // home processes that follow the chain beside the authorities
	Followers   int     // every node's [network] followers (0 = the role's default)
	Rate        float64 // offered tx/s
	For         time.Duration
	StopOne     bool
	Via         int // POST to the first Via authorities only (0 = all)
	Accounts    int
	JSON        bool
	Keep        bool
	Seed        uint64
	Poll        time.Duration // status polling interval of the observer
	Drain       time.Duration // how long to wait for accepted txs after offering ends

	binary string // the gridmesh executable; "" = os.Executable() (tests set it)
}

// maxBenchHomes bounds --homes: each home is a process on this machine.
const maxBenchHomes = 64

func defaultBenchOptions() benchOptions {
	return benchOptions{Authorities: 4, Rate: 100, For: 30 * time.Second, Accounts: 256, Seed: 1,
		Poll: 25 * time.Millisecond, Drain: 15 * time.Second}
}

func (o benchOptions) validate() error {
	switch {
	case o.Authorities < 4:
		return usagef("bench chain: --authorities: expected at least 4 (a network that is not a development network), got %d", o.Authorities)
	case o.Rate <= 0 || o.Rate > 100_000:
		return usagef("bench chain: --rate: expected tx/s in (0, 100000], got %g", o.Rate)
	case o.For <= 0:
		return usagef("bench chain: --for: expected a duration > 0, got %v", o.For)
	case o.Accounts < 1:
		return usagef("bench chain: --accounts: expected at least 1, got %d", o.Accounts)
	case o.Poll < 20*time.Millisecond || o.Poll > 50*time.Millisecond:
		return usagef("bench chain: --poll: expected 20ms to 50ms, got %v", o.Poll)
	case o.Via < 0 || o.Via > o.Authorities:
		return usagef("bench chain: --via: expected 0 (all) to %d authorities, got %d", o.Authorities, o.Via)
	case o.Drain < 0:
		return usagef("bench chain: --drain: expected a duration >= 0, got %v", o.Drain)
	case o.Homes < 0 || o.Homes > maxBenchHomes:
		return usagef("bench chain: --homes: expected 0 to %d, got %d", maxBenchHomes, o.Homes)
	case o.Followers < 0 || o.Followers > 1000:
		return usagef("bench chain: --followers: expected 0 (the role's default) to 1000, got %d", o.Followers)
	}
	return nil
}

func cmdBenchChain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := defaultBenchOptions()
	c := newCommand("bench chain", "[--authorities N] [--homes K] [--rate R] [--for D] [--stop-one] [--accounts N] [--json]", `
Measure the chain as an operator would run it: write a network of N
authorities into a temporary directory, start each as its own process
(gridmesh run -c node.toml) on loopback, wait until they are connected, then
offer signed orders at R tx/s for D, round-robin over the authorities by
POST /api/v1/tx. Each tx's finality is the time from its POST to its block
being seen committed by polling the first authority's status (every --poll,
then fetching the new blocks). Reports offered, accepted and committed counts,
sustained committed tx/s, finality p50/p95/p99, blocks, each authority's peak
RSS and whether all authorities agree on the state hash at a common height.
With --stop-one, the last authority is SIGKILLed after a third of the run.
With --homes K, K home nodes (not admitted, not trading, bootstrapped to
every authority, meeting each other through the DHT) run as processes too,
once the authorities are connected, and follow the chain as a household's
node does: each node serves the head to --followers homes at a time (0:
the default, 2), and the others follow a home (node/follow.go). Traffic: each node's
p2p_bytes_in/out (GET /api/v1/status) is read when offering starts and when
it ends; reported are the mean and the largest kbit/s (in+out) over the
authorities that ran throughout and over the homes, the homes' mean
incoming kbit/s, how many blocks the furthest-behind home trails
authority-1 after the drain, and the homes' largest peak RSS; the
authorities' traffic is also split by libp2p protocol (gossip to the
bench's observer apart). GRIDMESH_CPUPROFILE_DIR=d or
GRIDMESH_MEMPROFILE_DIR=d makes every node write a CPU or heap profile
into d (gridmesh run --cpuprofile/--memprofile).
Budgets (issue 4): p50 < 0.5 s, p99 < 2 s (< 4 s with one stopped),
at least 1,000 tx/s; (issue 6): a home < 100 kbit/s at 4.4 tx/s (1,000
homes' orders per 15-minute slot).`)
	c.fs.IntVar(&o.Authorities, "authorities", o.Authorities, "number of authorities (processes)")
	c.fs.IntVar(&o.Homes, "homes", o.Homes, "number of home nodes (processes) following the chain, 0 to 64")
	c.fs.IntVar(&o.Followers, "followers", o.Followers, "peers each node serves the chain's head to besides authorities (0: the default, 2)")
	c.fs.Float64Var(&o.Rate, "rate", o.Rate, "offered transactions per second")
	c.fs.DurationVar(&o.For, "for", o.For, "how long to offer transactions")
	c.fs.BoolVar(&o.StopOne, "stop-one", o.StopOne, "SIGKILL one authority after a third of the run")
	c.fs.IntVar(&o.Via, "via", o.Via, "offer through the first N authorities only (0: all); the stopped one is the last")
	c.fs.IntVar(&o.Accounts, "accounts", o.Accounts, "participant accounts signing the orders")
	c.fs.BoolVar(&o.JSON, "json", o.JSON, "end with the results as one JSON line")
	c.fs.BoolVar(&o.Keep, "keep", o.Keep, "keep the temporary directory (configs, data, the nodes' stderr)")
	c.fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the generated orders")
	c.fs.DurationVar(&o.Poll, "poll", o.Poll, "status polling interval (the finality's granularity)")
	c.fs.DurationVar(&o.Drain, "drain", o.Drain, "after offering, how long to wait for accepted txs to commit")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	if err := o.validate(); err != nil {
		return err
	}
	if err := require64Bit(); err != nil {
		return err
	}
	res, err := benchChain(ctx, o, stdout)
	if err != nil {
		return err
	}
	res.print(stdout, o.JSON)
	if !res.StateAgree {
		return fmt.Errorf("bench chain: authorities disagree on the state hash at height %d", res.CommonHeight)
	}
	if res.DoubleSigns > 0 || res.Evidence > 0 {
		return fmt.Errorf("bench chain: %d double-signs observed, evidence %d", res.DoubleSigns, res.Evidence)
	}
	return nil
}

// benchResult is what `gridmesh bench chain` reports (the JSON line with --json).
type benchResult struct {
	Authorities  int       `json:"authorities"`
	Homes        int       `json:"homes"`
	Rate         float64   `json:"rate"`
	ForS         float64   `json:"for_s"`
	StopOne      bool      `json:"stop_one"`
	Via          int       `json:"via"`
	Stopped      string    `json:"stopped,omitempty"`
	StoppedAtS   float64   `json:"stopped_at_s,omitempty"`
	Offered      int       `json:"offered"`
	OfferedRate  float64   `json:"offered_tx_s"`
	OfferS       float64   `json:"offer_s"` // how long offering took (more than for_s if the nodes' answers held it up)
	Accepted     int       `json:"accepted"`
	Rejected     int       `json:"rejected"`
	Failed       int       `json:"failed"` // transport errors
	Committed    int       `json:"committed"`
	InWindow     int       `json:"committed_in_window"`
	Sustained    float64   `json:"sustained_tx_s"`
	P50          float64   `json:"p50_ms"`
	P95          float64   `json:"p95_ms"`
	P99          float64   `json:"p99_ms"`
	Max          float64   `json:"max_ms"`
	PollMs       float64   `json:"poll_ms"`
	Blocks       int       `json:"blocks"`
	MaxBlockTxs  int       `json:"max_block_txs"`
	PeakRSSKiB   []int64   `json:"peak_rss_kib"`
	CPUSeconds   []float64 `json:"cpu_s"`
	CommonHeight uint64    `json:"common_height"`
	StateAgree   bool      `json:"state_agree"`
	Evidence     int64     `json:"evidence"`
	// ProposalsFetched is how many proposals, sent as transaction hashes,
	// the authorities had to fetch whole (a transaction not yet in the pool).
	ProposalsFetched int64 `json:"proposals_fetched"`
	DoubleSigns      int   `json:"double_signs"`  // seen by a non-voting gossip observer
	Observed         int64 `json:"observed_msgs"` // consensus messages it saw
	// Traffic over the offering window, in kbit/s (1,000 bit/s) of libp2p
	// stream bytes, in+out unless named: the mean and the largest over the
	// authorities that ran throughout, and over the homes.
	AuthorityKbit    float64 `json:"authority_kbit_s"`
	AuthorityKbitMax float64 `json:"authority_kbit_s_max"`
	HomeKbit         float64 `json:"home_kbit_s"`
	HomeKbitMax      float64 `json:"home_kbit_s_max"`
	HomeInKbit       float64 `json:"home_in_kbit_s"`
	// AuthorityProtocols splits AuthorityKbit by libp2p protocol id (the
	// protocol's mean over the authorities); gossip (/gridmesh/meshsub/...)
	// is the bench's observer feed, which no node subscribes to.
	AuthorityProtocols map[string]float64 `json:"authority_protocols_kbit_s,omitempty"`
	// AuthorityKbitNodes is AuthorityKbit without the gossip to the bench's
	// observer: what an authority exchanges with the other nodes.
	AuthorityKbitNodes float64 `json:"authority_kbit_s_nodes"`
	// HomeLagMax is how many blocks the furthest-behind home trails
	// authority-1 at the end of the drain (0 if none is behind).
	HomeLagMax     uint64 `json:"home_lag_max"`
	HomePeakRSSKiB int64  `json:"home_peak_rss_kib"` // the largest VmHWM of a home
	// HomesOnHomes is how many homes follow another home at the end, and
	// FollowersMax the most peers an authority serves the head to then.
	HomesOnHomes int       `json:"homes_following_homes"`
	FollowersMax int       `json:"authority_followers_max"`
	LoadStart    string    `json:"loadavg_start"`
	LoadEnd      string    `json:"loadavg_end"`
	SignS        float64   `json:"sign_s"`
	Reasons      []string  `json:"reject_reasons,omitempty"`
	Dir          string    `json:"dir,omitempty"`
	finalityMs   []float64 // sorted
	stoppedIndex int
	notCommitted int
}

// benchTx is one offered transaction and what became of it.
type benchTx struct {
	raw       []byte
	post      time.Time // when its POST started
	committed time.Time // when the observer first saw it in a block
	outcome   int32     // 0 not sent, 1 accepted, 2 rejected, 3 failed
}

func benchChain(ctx context.Context, o benchOptions, stdout io.Writer) (res benchResult, err error) {
	res = benchResult{Authorities: o.Authorities, Homes: o.Homes, Rate: o.Rate, Via: o.Via, ForS: o.For.Seconds(), StopOne: o.StopOne,
		PollMs: float64(o.Poll) / float64(time.Millisecond), stoppedIndex: -1,
		PeakRSSKiB: make([]int64, o.Authorities), CPUSeconds: make([]float64, o.Authorities)}
	bin := o.binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return res, fmt.Errorf("bench chain: %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "gridmesh-bench-")
	if err != nil {
		return res, err
	}
	if o.Keep {
		res.Dir = dir
	} else {
		defer os.RemoveAll(dir)
	}
	cl, err := crashtest.Write(dir, crashtest.Options{Binary: bin, Authorities: o.Authorities,
		Accounts: o.Accounts, ChainID: "gridmesh-bench", Homes: o.Homes, Followers: o.Followers}, time.Now())
	if err != nil {
		return res, fmt.Errorf("bench chain: %w", err)
	}

	// Sign everything before the clock starts, so the bench's own signing does
	// not compete with the nodes for the CPU during the run.
	n := int(math.Ceil(o.Rate * o.For.Seconds()))
	txs := make([]benchTx, n)
	index := make(map[string]int, n)
	signStart := time.Now()
	gen := cl.NewOrders(o.Seed)
	for i := range txs {
		tx := gen.Next()
		txs[i].raw = tx.Encode()
		index[tx.Hash().String()] = i
	}
	res.SignS = time.Since(signStart).Seconds()

	res.LoadStart = loadavg()
	defer cl.Stop(5 * time.Second)
	all := make([]int, o.Authorities)
	for i := range all {
		all[i] = i
		if err := cl.Start(i); err != nil {
			return res, err
		}
	}
	fmt.Fprintf(stdout, "bench chain: %d authorities as processes, data in %s; %d orders signed in %.2fs\n",
		o.Authorities, dir, n, res.SignS)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = cl.WaitConnected(wctx, all)
	cancel()
	if err != nil {
		return res, fmt.Errorf("bench chain: %w (see %s/*/stderr.log)", err, dir)
	}
	if len(cl.Homes) > 0 {
		for _, h := range cl.Homes {
			if err := cl.StartProc(h); err != nil {
				return res, err
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = cl.WaitPeers(wctx, cl.Homes, 1)
		cancel()
		if err != nil {
			return res, fmt.Errorf("bench chain: homes: %w (see %s/home-*/stderr.log)", err, dir)
		}
		fmt.Fprintf(stdout, "%d homes as processes, each with a peer\n", len(cl.Homes))
	}
	st, err := cl.Status(ctx, 0)
	if err != nil {
		return res, err
	}
	obs, err := cl.Observe(ctx)
	if err != nil {
		return res, err
	}
	defer obs.Close()
	fmt.Fprintf(stdout, "connected; offering %g tx/s for %s, observing authority-1 every %s\n", o.Rate, o.For, o.Poll)

	// The observer: poll authority 0, fetch each new block, stamp its txs.
	var mu sync.Mutex // guards txs[i].committed, res.Blocks, res.MaxBlockTxs
	obsCtx, stopObs := context.WithCancel(ctx)
	obsDone := make(chan struct{})
	startHeight := st.Height
	var obsHeight atomic.Uint64
	obsHeight.Store(startHeight)
	go func() {
		defer close(obsDone)
		seen := startHeight
		tick := time.NewTicker(o.Poll)
		defer tick.Stop()
		for {
			select {
			case <-obsCtx.Done():
				return
			case <-tick.C:
			}
			st, err := cl.Status(obsCtx, 0)
			if err != nil {
				continue
			}
			for h := seen + 1; h <= st.Height; h++ {
				b, err := cl.Block(obsCtx, 0, h)
				if err != nil {
					break
				}
				now := time.Now()
				mu.Lock()
				res.Blocks++
				res.MaxBlockTxs = max(res.MaxBlockTxs, len(b.Txs))
				for _, hash := range b.Txs {
					if i, ok := index[hash]; ok && txs[i].committed.IsZero() {
						txs[i].committed = now
					}
				}
				mu.Unlock()
				seen = h
				obsHeight.Store(h)
			}
		}
	}()
	defer func() { stopObs(); <-obsDone }()

	// The offer: a dispatcher paces txs at the rate; workers POST them.
	via := all
	if o.Via > 0 {
		via = all[:o.Via:o.Via]
	}
	var targets atomic.Pointer[[]int]
	targets.Store(&via)
	jobs := make(chan int)
	var wg sync.WaitGroup
	var rejMu sync.Mutex
	reasons := map[string]int{}
	workers := min(max(int(o.Rate/10), 16), 256)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				ts := *targets.Load()
				t := ts[i%len(ts)]
				mu.Lock()
				txs[i].post = time.Now()
				mu.Unlock()
				err := cl.PostTx(ctx, t, txs[i].raw)
				var out int32 = 1
				if err != nil {
					out = 3
					if errors.Is(err, crashtest.ErrRejected) {
						out = 2
					}
					rejMu.Lock()
					reasons[shortReason(err)]++
					rejMu.Unlock()
				}
				atomic.StoreInt32(&txs[i].outcome, out)
			}
		}()
	}
	procs := slices.Concat(cl.Nodes, cl.Homes)
	before := readTraffic(ctx, cl, procs)
	t0 := time.Now()
	// --stop-one: SIGKILL the last authority a third of the way through, by the
	// wall clock (not by the offer's progress, which a slow node can hold up).
	stopDone := make(chan error, 1)
	if o.StopOne {
		k := o.Authorities - 1
		timer := time.AfterFunc(o.For/3, func() {
			if pid := cl.Pid(k); pid != 0 {
				res.PeakRSSKiB[k], res.CPUSeconds[k] = procUsage(pid) // until it was killed
			}
			err := cl.Kill(k)
			res.Stopped, res.StoppedAtS, res.stoppedIndex = cl.Nodes[k].Name, time.Since(t0).Seconds(), k
			alive := slices.DeleteFunc(slices.Clone(via), func(i int) bool { return i == k })
			if len(alive) == 0 {
				alive = all[:k:k]
			}
			targets.Store(&alive)
			fmt.Fprintf(stdout, "SIGKILLed %s at %.1fs\n", res.Stopped, res.StoppedAtS)
			stopDone <- err
		})
		defer timer.Stop()
	} else {
		stopDone <- nil
	}
	sent := 0
offer:
	for i := range txs {
		due := t0.Add(time.Duration(float64(i) / o.Rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				break offer
			}
		}
		select {
		case jobs <- i:
			sent++
		case <-ctx.Done():
			break offer
		}
	}
	close(jobs)
	wg.Wait()
	offerEnd := time.Now()
	after := readTraffic(ctx, cl, procs)
	select {
	case err := <-stopDone:
		if err != nil {
			return res, err
		}
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.Offered = sent
	res.OfferS = offerEnd.Sub(t0).Seconds()
	res.OfferedRate = float64(sent) / res.OfferS

	// Drain: wait until every accepted tx is seen committed, or the drain ends.
	deadline := time.Now().Add(o.Drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pending := 0
		mu.Lock()
		for i := range txs[:sent] {
			if atomic.LoadInt32(&txs[i].outcome) == 1 && txs[i].committed.IsZero() {
				pending++
			}
		}
		mu.Unlock()
		if pending == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := homesBehind(ctx, cl, &res); err != nil {
		return res, err
	}
	stopObs()
	<-obsDone
	if err := ctx.Err(); err != nil {
		return res, err
	}
	nA := len(cl.Nodes)
	res.AuthorityKbit, res.AuthorityKbitMax = meanMax(before[:nA], after[:nA], false)
	res.AuthorityProtocols = protocolMeans(before[:nA], after[:nA])
	res.AuthorityKbitNodes = res.AuthorityKbit
	for id, k := range res.AuthorityProtocols {
		if strings.HasPrefix(id, "/gridmesh/meshsub/") {
			res.AuthorityKbitNodes -= k
		}
	}
	res.HomeKbit, res.HomeKbitMax = meanMax(before[nA:], after[nA:], false)
	res.HomeInKbit, _ = meanMax(before[nA:], after[nA:], true)

	windowEnd := t0.Add(o.For)
	for i := range txs[:sent] {
		switch atomic.LoadInt32(&txs[i].outcome) {
		case 1:
			res.Accepted++
		case 2:
			res.Rejected++
		case 3:
			res.Failed++
		}
		if c := txs[i].committed; !c.IsZero() {
			res.Committed++
			if !c.After(windowEnd) {
				res.InWindow++
			}
			res.finalityMs = append(res.finalityMs, float64(c.Sub(txs[i].post))/float64(time.Millisecond))
		} else if atomic.LoadInt32(&txs[i].outcome) == 1 {
			res.notCommitted++
		}
	}
	slices.Sort(res.finalityMs)
	res.P50, res.P95, res.P99 = percentile(res.finalityMs, 50), percentile(res.finalityMs, 95), percentile(res.finalityMs, 99)
	if len(res.finalityMs) > 0 {
		res.Max = res.finalityMs[len(res.finalityMs)-1]
	}
	res.Sustained = float64(res.InWindow) / o.For.Seconds()
	for r, k := range reasons {
		res.Reasons = append(res.Reasons, fmt.Sprintf("%d× %s", k, r))
	}
	slices.Sort(res.Reasons)

	// Agreement: every running authority's state hash at a height all reached.
	alive := all
	if res.stoppedIndex >= 0 {
		alive = slices.DeleteFunc(slices.Clone(all), func(i int) bool { return i == res.stoppedIndex })
	}
	for _, i := range alive {
		res.PeakRSSKiB[i], res.CPUSeconds[i] = procUsage(cl.Pid(i))
		if st, err := cl.Status(ctx, i); err == nil {
			res.ProposalsFetched += st.ProposalsFetched
		}
	}
	res.CommonHeight, res.StateAgree, res.Evidence = agree(ctx, cl, alive, obsHeight.Load())
	res.DoubleSigns = len(obs.Conflicts())
	res.Observed, _ = obs.Messages()
	res.LoadEnd = loadavg()
	return res, nil
}

// homesBehind sets res.HomeLagMax, how many blocks the furthest-behind home
// trails authority-1 (0 if none is behind), res.HomePeakRSSKiB,
// res.HomesOnHomes and res.FollowersMax. A home
// that does not answer is an error.
func homesBehind(ctx context.Context, cl *crashtest.Cluster, res *benchResult) error {
	if len(cl.Homes) == 0 {
		return nil
	}
	// Authority-1 first: a home read after it can only have come closer.
	a, err := cl.Status(ctx, 0)
	if err != nil {
		return fmt.Errorf("bench chain: %s: %w", cl.Nodes[0].Name, err)
	}
	for i := range cl.Nodes {
		if st, err := cl.Status(ctx, i); err == nil { // the stopped one does not answer
			res.FollowersMax = max(res.FollowersMax, st.Followers)
		}
	}
	var sts []crashtest.Status
	for _, h := range cl.Homes {
		st, err := cl.StatusOf(ctx, h)
		if err != nil {
			return fmt.Errorf("bench chain: %s: %w", h.Name, err)
		}
		sts = append(sts, st)
		if a.Height > st.Height {
			res.HomeLagMax = max(res.HomeLagMax, a.Height-st.Height)
		}
		kib, _ := procUsage(h.Pid())
		res.HomePeakRSSKiB = max(res.HomePeakRSSKiB, kib)
	}
	for _, st := range sts {
		if slices.ContainsFunc(sts, func(o crashtest.Status) bool { return o.NodeID == st.Upstream }) {
			res.HomesOnHomes++
		}
	}
	return nil
}

// traffic is one reading of a node's p2p byte counters.
type traffic struct {
	in, out int64
	proto   map[string][2]int64 // in, out per protocol id
	at      time.Time           // midway through the status request
	ok      bool
}

// readTraffic reads the p2p byte counters of every process in ps; a process
// that does not answer has ok false.
func readTraffic(ctx context.Context, cl *crashtest.Cluster, ps []*crashtest.Proc) []traffic {
	ts := make([]traffic, len(ps))
	for i, p := range ps {
		t0 := time.Now()
		st, err := cl.StatusOf(ctx, p)
		if err != nil {
			continue
		}
		ts[i] = traffic{in: st.P2PBytesIn, out: st.P2PBytesOut, at: t0.Add(time.Since(t0) / 2), ok: true,
			proto: make(map[string][2]int64, len(st.P2PProtocols))}
		for id, b := range st.P2PProtocols {
			ts[i].proto[id] = [2]int64{b.In, b.Out}
		}
	}
	return ts
}

// protocolMeans is the mean kbit/s (in+out) per protocol id over the
// processes whose two readings are both there.
func protocolMeans(before, after []traffic) map[string]float64 {
	sums, n := make(map[string]float64), 0
	for i := range before {
		a, b := before[i], after[i]
		if _, ok := kbitS(a, b, false); !ok {
			continue
		}
		n++
		secs := b.at.Sub(a.at).Seconds()
		for id, v := range b.proto {
			w := a.proto[id]
			sums[id] += float64(v[0]-w[0]+v[1]-w[1]) * 8 / 1000 / secs
		}
	}
	for id := range sums {
		sums[id] /= float64(n)
	}
	return sums
}

// kbitS is the traffic between two readings of one process in kbit/s (in+out,
// or in only); ok is false if either reading is missing or the counters went
// back (the process restarted).
func kbitS(a, b traffic, inOnly bool) (kbit float64, ok bool) {
	if !a.ok || !b.ok || !b.at.After(a.at) || b.in < a.in || b.out < a.out {
		return 0, false
	}
	n := b.in - a.in
	if !inOnly {
		n += b.out - a.out
	}
	return float64(n) * 8 / 1000 / b.at.Sub(a.at).Seconds(), true
}

// meanMax is the mean and the largest kbitS over the processes whose two
// readings are both there (0, 0 if none).
func meanMax(before, after []traffic, inOnly bool) (mean, largest float64) {
	n := 0
	for i := range before {
		k, ok := kbitS(before[i], after[i], inOnly)
		if !ok {
			continue
		}
		n++
		mean += k
		largest = max(largest, k)
	}
	if n == 0 {
		return 0, 0
	}
	return mean / float64(n), largest
}

// agree waits up to 10 s for every node in idx to reach height want, then
// compares their state hashes at the lowest height all of them reached.
func agree(ctx context.Context, cl *crashtest.Cluster, idx []int, want uint64) (common uint64, ok bool, evidence int64) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		common, evidence = math.MaxUint64, 0
		for _, i := range idx {
			st, err := cl.Status(ctx, i)
			if err != nil {
				common = 0
				continue
			}
			common = min(common, st.Height)
			evidence += st.Evidence
		}
		if common >= want || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if common == 0 || common == math.MaxUint64 {
		return 0, false, evidence
	}
	var hash string
	for _, i := range idx {
		b, err := cl.Block(ctx, i, common)
		if err != nil {
			return common, false, evidence
		}
		if hash == "" {
			hash = b.StateHash
		} else if b.StateHash != hash {
			return common, false, evidence
		}
	}
	return common, true, evidence
}

// procUsage is a process's peak RSS in KiB and its CPU time in seconds (0 if unknown).
func procUsage(pid int) (kib int64, cpu float64) {
	kib, _ = crashtest.PeakRSS(pid)
	if d, err := crashtest.CPUTime(pid); err == nil {
		cpu = d.Seconds()
	}
	return kib, cpu
}

// percentile is the nearest-rank p-th percentile of sorted values (0 if none).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

// addrs matches the loopback addresses and ports in transport errors, which
// differ per connection.
var addrs = regexp.MustCompile(`127\.0\.0\.1:[0-9]+(->127\.0\.0\.1:[0-9]+)?`)

// shortReason trims an error for the summary of rejections.
func shortReason(err error) string {
	s := addrs.ReplaceAllString(err.Error(), "127.0.0.1")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func (r benchResult) print(w io.Writer, asJSON bool) {
	fmt.Fprintf(w, "\noffered   %d txs in %.1fs: %.1f tx/s (target %g tx/s for %gs)\n", r.Offered, r.OfferS, r.OfferedRate, r.Rate, r.ForS)
	if r.Via > 0 {
		fmt.Fprintf(w, "          through authority-1..%d only (--via)\n", r.Via)
	}
	fmt.Fprintf(w, "accepted  %d (202), rejected %d, failed %d\n", r.Accepted, r.Rejected, r.Failed)
	for _, s := range r.Reasons {
		fmt.Fprintf(w, "          %s\n", s)
	}
	fmt.Fprintf(w, "committed %d (%d within the offering window, %d accepted but not seen committed)\n", r.Committed, r.InWindow, r.notCommitted)
	fmt.Fprintf(w, "sustained %.1f committed tx/s (every signature checked)\n", r.Sustained)
	fmt.Fprintf(w, "finality  p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms (POST to block seen; polled every %.0f ms)\n",
		r.P50, r.P95, r.P99, r.Max, r.PollMs)
	fmt.Fprintf(w, "proposals %d fetched whole (sent as tx hashes; a transaction was not yet in the pool)\n", r.ProposalsFetched)
	fmt.Fprintf(w, "blocks    %d (largest %d txs)\n", r.Blocks, r.MaxBlockTxs)
	if r.Stopped != "" {
		fmt.Fprintf(w, "stopped   %s by SIGKILL at %.1fs\n", r.Stopped, r.StoppedAtS)
	}
	rss := make([]string, len(r.PeakRSSKiB))
	for i, k := range r.PeakRSSKiB {
		rss[i] = fmt.Sprintf("%.1f", float64(k)/1024)
	}
	cpu := make([]string, len(r.CPUSeconds))
	for i, c := range r.CPUSeconds {
		cpu[i] = fmt.Sprintf("%.1f", c)
	}
	fmt.Fprintf(w, "peak RSS  %s MiB (VmHWM per authority)\n", strings.Join(rss, ", "))
	fmt.Fprintf(w, "CPU       %s s per authority (user+system, whole life)\n", strings.Join(cpu, ", "))
	agreeWord := "agree"
	if !r.StateAgree {
		agreeWord = "DISAGREE"
	}
	fmt.Fprintf(w, "state     running authorities %s at height %d; evidence %d; double-signs %d (among %d consensus messages a gossip observer saw)\n",
		agreeWord, r.CommonHeight, r.Evidence, r.DoubleSigns, r.Observed)
	fmt.Fprintf(w, "traffic   authorities %.1f kbit/s mean, %.1f max (p2p in+out over the offering window); %.1f mean without the observer's gossip\n",
		r.AuthorityKbit, r.AuthorityKbitMax, r.AuthorityKbitNodes)
	ids := slices.Collect(maps.Keys(r.AuthorityProtocols))
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(r.AuthorityProtocols[b], r.AuthorityProtocols[a]) })
	var parts []string
	for _, id := range ids {
		if k := r.AuthorityProtocols[id]; k >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.1f", id, k))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "          by protocol (mean kbit/s; meshsub is the bench's observer): %s\n", strings.Join(parts, ", "))
	}
	if r.Homes > 0 {
		fmt.Fprintf(w, "          %d homes %.1f kbit/s mean (%.1f in), %.1f max; furthest behind authority-1 by %d blocks after the drain; peak RSS %.1f MiB at most\n",
			r.Homes, r.HomeKbit, r.HomeInKbit, r.HomeKbitMax, r.HomeLagMax, float64(r.HomePeakRSSKiB)/1024)
		fmt.Fprintf(w, "          %d homes follow another home; an authority serves the head to %d at most\n", r.HomesOnHomes, r.FollowersMax)
	}
	fmt.Fprintf(w, "load avg  %s at start, %s at end (shared machine)\n", r.LoadStart, r.LoadEnd)
	if r.Dir != "" {
		fmt.Fprintf(w, "kept      %s\n", r.Dir)
	}
	if asJSON {
		b, err := json.Marshal(r)
		if err == nil {
			fmt.Fprintf(w, "%s\n", b)
		}
	}
}
