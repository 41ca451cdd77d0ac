package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridmesh/gridmesh/internal/cluster"
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
	// HomeWritesPerDay is the most a home wrote to storage (write_bytes
	// of /proc/<pid>/io) over its life so far, scaled to a day: what wears
	// its SD card (start-up included, so an upper bound for a long run).
	HomeWritesPerDay int64 `json:"home_write_bytes_per_day"`
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
	committed time.Time // when the watcher first saw it in a block
	outcome   int32     // 0 not sent, 1 accepted, 2 rejected, 3 failed
}

// benchRun is one run of `gridmesh bench chain`: the cluster, the signed
// transactions and what became of them. The steps run in this order:
// setup, sign, start, watch, offer, drain, then the tallies.
type benchRun struct {
	o     benchOptions
	out   io.Writer
	dir   string
	cl    *cluster.Cluster
	all   []int // every authority's index
	txs   []benchTx
	index map[string]int // tx hash -> index in txs
	res   *benchResult

	mu        sync.Mutex // guards txs[i].post and .committed, res.Blocks, res.MaxBlockTxs
	obsHeight atomic.Uint64
	targets   atomic.Pointer[[]int] // the authorities POSTs go to
	rejMu     sync.Mutex
	reasons   map[string]int // rejection and failure reasons
}

// benchOffer is what the offering step measured.
type benchOffer struct {
	sent          int
	start, end    time.Time
	before, after []traffic // every process's counters when offering started and ended
}

func benchChain(ctx context.Context, o benchOptions, stdout io.Writer) (res benchResult, err error) {
	res = benchResult{Authorities: o.Authorities, Homes: o.Homes, Rate: o.Rate, Via: o.Via, ForS: o.For.Seconds(), StopOne: o.StopOne,
		PollMs: float64(o.Poll) / float64(time.Millisecond), stoppedIndex: -1,
		PeakRSSKiB: make([]int64, o.Authorities), CPUSeconds: make([]float64, o.Authorities)}
	r := &benchRun{o: o, out: stdout, res: &res, reasons: map[string]int{}}
	cleanup, err := r.setup()
	if err != nil {
		return res, err
	}
	defer cleanup()
	r.sign()
	res.LoadStart = loadavg()
	defer r.cl.Stop(5 * time.Second)
	if err := r.start(ctx); err != nil {
		return res, err
	}
	st, err := r.cl.Status(ctx, 0)
	if err != nil {
		return res, err
	}
	obs, err := r.cl.Observe(ctx)
	if err != nil {
		return res, err
	}
	defer obs.Close()
	fmt.Fprintf(stdout, "connected; offering %g tx/s for %s, observing authority-1 every %s\n", o.Rate, o.For, o.Poll)
	stopWatch := r.watch(ctx, st.Height)
	defer stopWatch()
	off, err := r.offer(ctx)
	if err != nil {
		return res, err
	}
	r.drain(ctx, off.sent)
	if err := homesBehind(ctx, r.cl, &res); err != nil {
		return res, err
	}
	stopWatch()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	r.tallyTraffic(off)
	r.tallyTxs(off)
	r.tallyNodes(ctx)
	res.DoubleSigns = len(obs.Conflicts())
	res.Observed, _ = obs.Messages()
	res.LoadEnd = loadavg()
	return res, nil
}

// setup writes the network into a temporary directory; cleanup removes it
// unless --keep.
func (r *benchRun) setup() (cleanup func(), err error) {
	bin := r.o.binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("bench chain: %w", err)
		}
	}
	r.dir, err = os.MkdirTemp("", "gridmesh-bench-")
	if err != nil {
		return nil, err
	}
	cleanup = func() { os.RemoveAll(r.dir) }
	if r.o.Keep {
		r.res.Dir = r.dir
		cleanup = func() {}
	}
	r.cl, err = cluster.Write(r.dir, cluster.Options{Binary: bin, Authorities: r.o.Authorities,
		Accounts: r.o.Accounts, ChainID: "gridmesh-bench", Homes: r.o.Homes, Followers: r.o.Followers}, time.Now())
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("bench chain: %w", err)
	}
	r.all = make([]int, r.o.Authorities)
	for i := range r.all {
		r.all[i] = i
	}
	return cleanup, nil
}

// sign signs every transaction before the clock starts, so that the bench's
// own signing does not compete with the nodes for the CPU during the run.
func (r *benchRun) sign() {
	n := int(math.Ceil(r.o.Rate * r.o.For.Seconds()))
	r.txs = make([]benchTx, n)
	r.index = make(map[string]int, n)
	start := time.Now()
	gen := r.cl.NewOrders(r.o.Seed)
	for i := range r.txs {
		tx := gen.Next()
		r.txs[i].raw = tx.Encode()
		r.index[tx.Hash().String()] = i
	}
	r.res.SignS = time.Since(start).Seconds()
}

// start starts the authorities and waits until they are connected, then the
// homes, and waits until each has a peer.
func (r *benchRun) start(ctx context.Context) error {
	for _, i := range r.all {
		if err := r.cl.Start(i); err != nil {
			return err
		}
	}
	fmt.Fprintf(r.out, "bench chain: %d authorities as processes, data in %s; %d orders signed in %.2fs\n",
		r.o.Authorities, r.dir, len(r.txs), r.res.SignS)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err := r.cl.WaitConnected(wctx, r.all)
	cancel()
	if err != nil {
		return fmt.Errorf("bench chain: %w (see %s/*/stderr.log)", err, r.dir)
	}
	if len(r.cl.Homes) == 0 {
		return nil
	}
	for _, h := range r.cl.Homes {
		if err := r.cl.StartProc(h); err != nil {
			return err
		}
	}
	wctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	err = r.cl.WaitPeers(wctx, r.cl.Homes, 1)
	cancel()
	if err != nil {
		return fmt.Errorf("bench chain: homes: %w (see %s/home-*/stderr.log)", err, r.dir)
	}
	fmt.Fprintf(r.out, "%d homes as processes, each with a peer\n", len(r.cl.Homes))
	return nil
}

// watch polls authority 1's status every --poll from height from on, fetches
// each new block and stamps the time its txs were first seen committed. stop
// ends the watcher and waits for it; it may be called more than once.
func (r *benchRun) watch(ctx context.Context, from uint64) (stop func()) {
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r.obsHeight.Store(from)
	go func() {
		defer close(done)
		seen := from
		tick := time.NewTicker(r.o.Poll)
		defer tick.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
			}
			seen = r.fetchBlocks(wctx, seen)
		}
	}()
	return func() { cancel(); <-done }
}

// fetchBlocks reads authority 1's blocks above seen and stamps their txs; it
// returns the last height read.
func (r *benchRun) fetchBlocks(ctx context.Context, seen uint64) uint64 {
	st, err := r.cl.Status(ctx, 0)
	if err != nil {
		return seen
	}
	for h := seen + 1; h <= st.Height; h++ {
		b, err := r.cl.Block(ctx, 0, h)
		if err != nil {
			break
		}
		now := time.Now()
		r.mu.Lock()
		r.res.Blocks++
		r.res.MaxBlockTxs = max(r.res.MaxBlockTxs, len(b.Txs))
		for _, hash := range b.Txs {
			if i, ok := r.index[hash]; ok && r.txs[i].committed.IsZero() {
				r.txs[i].committed = now
			}
		}
		r.mu.Unlock()
		seen = h
		r.obsHeight.Store(h)
	}
	return seen
}

// offer paces the txs at --rate to workers that POST them round-robin to
// the target authorities (with --stop-one killing the last one a third of
// the way through), and reads every node's traffic before and after.
func (r *benchRun) offer(ctx context.Context) (benchOffer, error) {
	via := r.all
	if r.o.Via > 0 {
		via = r.all[:r.o.Via:r.o.Via]
	}
	r.targets.Store(&via)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(max(int(r.o.Rate/10), 16), 256) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r.post(ctx, i)
			}
		}()
	}
	procs := slices.Concat(r.cl.Nodes, r.cl.Homes)
	var off benchOffer
	off.before = readTraffic(ctx, r.cl, procs)
	off.start = time.Now()
	stopDone, cancelStop := r.stopOneLater(off.start, via)
	defer cancelStop()
	off.sent = r.pace(ctx, jobs, off.start)
	close(jobs)
	wg.Wait()
	off.end = time.Now()
	off.after = readTraffic(ctx, r.cl, procs)
	select {
	case err := <-stopDone:
		if err != nil {
			return off, err
		}
	case <-ctx.Done():
		return off, ctx.Err()
	}
	r.res.Offered = off.sent
	r.res.OfferS = off.end.Sub(off.start).Seconds()
	r.res.OfferedRate = float64(off.sent) / r.res.OfferS
	return off, nil
}

// post offers tx i to the next target authority and records the outcome.
func (r *benchRun) post(ctx context.Context, i int) {
	ts := *r.targets.Load()
	t := ts[i%len(ts)]
	r.mu.Lock()
	r.txs[i].post = time.Now()
	r.mu.Unlock()
	err := r.cl.PostTx(ctx, t, r.txs[i].raw)
	var out int32 = 1
	if err != nil {
		out = 3
		if errors.Is(err, cluster.ErrRejected) {
			out = 2
		}
		r.rejMu.Lock()
		r.reasons[shortReason(err)]++
		r.rejMu.Unlock()
	}
	atomic.StoreInt32(&r.txs[i].outcome, out)
}

// stopOneLater arranges --stop-one: SIGKILL the last authority a third of
// the way through, by the wall clock (not by the offer's progress, which a
// slow node can hold up), and POST to the others from then on. The channel
// delivers the kill's error (nil at once without --stop-one).
func (r *benchRun) stopOneLater(t0 time.Time, via []int) (<-chan error, func()) {
	done := make(chan error, 1)
	if !r.o.StopOne {
		done <- nil
		return done, func() {}
	}
	k := r.o.Authorities - 1
	timer := time.AfterFunc(r.o.For/3, func() {
		res := r.res
		if pid := r.cl.Pid(k); pid != 0 {
			res.PeakRSSKiB[k], res.CPUSeconds[k] = procUsage(pid) // until it was killed
		}
		err := r.cl.Kill(k)
		res.Stopped, res.StoppedAtS, res.stoppedIndex = r.cl.Nodes[k].Name, time.Since(t0).Seconds(), k
		alive := slices.DeleteFunc(slices.Clone(via), func(i int) bool { return i == k })
		if len(alive) == 0 {
			alive = r.all[:k:k]
		}
		r.targets.Store(&alive)
		fmt.Fprintf(r.out, "SIGKILLed %s at %.1fs\n", res.Stopped, res.StoppedAtS)
		done <- err
	})
	return done, func() { timer.Stop() }
}

// pace hands tx i to the workers at t0 + i/rate; it returns how many it
// handed out before ctx ended.
func (r *benchRun) pace(ctx context.Context, jobs chan<- int, t0 time.Time) (sent int) {
	wait := time.NewTimer(0)
	defer wait.Stop()
	for i := range r.txs {
		due := t0.Add(time.Duration(float64(i) / r.o.Rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			wait.Reset(d)
			select {
			case <-wait.C:
			case <-ctx.Done():
				return sent
			}
		}
		select {
		case jobs <- i:
			sent++
		case <-ctx.Done():
			return sent
		}
	}
	return sent
}

// drain waits until every accepted tx is seen committed, --drain passes or
// ctx ends.
func (r *benchRun) drain(ctx context.Context, sent int) {
	deadline := time.NewTimer(r.o.Drain)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		pending := 0
		r.mu.Lock()
		for i := range r.txs[:sent] {
			if atomic.LoadInt32(&r.txs[i].outcome) == 1 && r.txs[i].committed.IsZero() {
				pending++
			}
		}
		r.mu.Unlock()
		if pending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// tallyTraffic sets the kbit/s figures from the readings around the offer.
func (r *benchRun) tallyTraffic(off benchOffer) {
	res, nA := r.res, len(r.cl.Nodes)
	before, after := off.before, off.after
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
}

// tallyTxs counts outcomes and commits and computes finality and the
// sustained rate. The watcher has stopped.
func (r *benchRun) tallyTxs(off benchOffer) {
	res := r.res
	windowEnd := off.start.Add(r.o.For)
	for i := range r.txs[:off.sent] {
		tx := &r.txs[i]
		switch atomic.LoadInt32(&tx.outcome) {
		case 1:
			res.Accepted++
		case 2:
			res.Rejected++
		case 3:
			res.Failed++
		}
		if c := tx.committed; !c.IsZero() {
			res.Committed++
			if !c.After(windowEnd) {
				res.InWindow++
			}
			res.finalityMs = append(res.finalityMs, float64(c.Sub(tx.post))/float64(time.Millisecond))
		} else if atomic.LoadInt32(&tx.outcome) == 1 {
			res.notCommitted++
		}
	}
	slices.Sort(res.finalityMs)
	res.P50, res.P95, res.P99 = percentile(res.finalityMs, 50), percentile(res.finalityMs, 95), percentile(res.finalityMs, 99)
	if len(res.finalityMs) > 0 {
		res.Max = res.finalityMs[len(res.finalityMs)-1]
	}
	res.Sustained = float64(res.InWindow) / r.o.For.Seconds()
	for reason, k := range r.reasons {
		res.Reasons = append(res.Reasons, fmt.Sprintf("%d× %s", k, reason))
	}
	slices.Sort(res.Reasons)
}

// tallyNodes reads every running authority's peak RSS, CPU time and
// proposal fetches, and whether they agree on the state hash at a height
// all reached.
func (r *benchRun) tallyNodes(ctx context.Context) {
	res := r.res
	alive := r.all
	if res.stoppedIndex >= 0 {
		alive = slices.DeleteFunc(slices.Clone(r.all), func(i int) bool { return i == res.stoppedIndex })
	}
	for _, i := range alive {
		res.PeakRSSKiB[i], res.CPUSeconds[i] = procUsage(r.cl.Pid(i))
		if st, err := r.cl.Status(ctx, i); err == nil {
			res.ProposalsFetched += st.ProposalsFetched
		}
	}
	res.CommonHeight, res.StateAgree, res.Evidence = agree(ctx, r.cl, alive, r.obsHeight.Load())
}

// agree waits up to 10 s for every node in idx to reach height want, then
// compares their state hashes at the lowest height all of them reached.
func agree(ctx context.Context, cl *cluster.Cluster, idx []int, want uint64) (common uint64, ok bool, evidence int64) {
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
		if common >= want || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
		if ctx.Err() != nil {
			break
		}
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
	kib, _ = cluster.PeakRSS(pid)
	if d, err := cluster.CPUTime(pid); err == nil {
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
