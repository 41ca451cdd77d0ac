package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	metersim "github.com/gridmesh/gridmesh/meter/sim"
	"github.com/gridmesh/gridmesh/unit"
	"github.com/gridmesh/gridmesh/wire"
)

// simYearConfig configures a simulated stretch of a chain's life (runSimYear).
type simYearConfig struct {
	Homes int
	Days  int
	Slot  time.Duration // a multiple of a second, at least 30 s
	Dir   string        // the store; "" = a temporary directory, removed afterwards
	Seed  uint64
	// KeepDays > 0 makes the store a home's: it keeps the bodies of the last
	// KeepDays days' blocks (counted in blocks, as a node's keep_blocks: the
	// blocks of the first day times KeepDays) and prunes as node/loop.go
	// does, every 1/20 of the window, with chain.PruneHome for the first
	// home. 0 = keep all (an authority's archive).
	KeepDays int
	// MemProfile, if not "", is the file for a heap profile at the end of the last day.
	MemProfile string
	// OnDay, if not nil, is called after each simulated day with its sample.
	OnDay func(simDay)
}

// simDay is what runSimYear measures at the end of each simulated day: the
// live heap after runtime.GC, the process's RSS, and what the chain holds.
type simDay struct {
	Day          int    `json:"day"` // 1 = after the first day
	HeapBytes    uint64 `json:"heap_bytes"`
	RSSBytes     int64  `json:"rss_bytes"`
	RSSAnonBytes int64  `json:"rss_anon_bytes"` // of RSSBytes, anonymous memory (not mapped files)
	// OwnHeapBytes is the live heap outside badger's own buffers (memtable
	// arenas, table builders, caches: bounded by its options, and coming and
	// going with its flushes), estimated from the heap profile.
	OwnHeapBytes   uint64 `json:"own_heap_bytes"`
	HistoryRecords int    `json:"history_records"`
	KeyListBytes   int    `json:"keylist_bytes"`
	Height         uint64 `json:"height"`
}

// simYearResult is what `gridmesh sim year` prints (--json: as one object).
type simYearResult struct {
	Homes       int     `json:"homes"`
	Days        int     `json:"days"`
	SlotSeconds int64   `json:"slot_seconds"`
	KeepDays    int     `json:"keep_days"`
	Slots       int     `json:"slots"`
	Height      uint64  `json:"height"`
	Txs         int     `json:"txs"`
	Trades      int     `json:"trades"`
	WallSeconds float64 `json:"wall_seconds"`
	SlotP50Ms   float64 `json:"slot_p50_ms"`
	SlotP99Ms   float64 `json:"slot_p99_ms"`
	SlotMaxMs   float64 `json:"slot_max_ms"`
	// Where the wall time went: the node's Propose and Commit, and the
	// waits for the next slot's txs to be signed and checked (prepare).
	NodeSeconds  float64 `json:"node_seconds"`
	WaitSeconds  float64 `json:"wait_seconds"`
	HeapBytes    uint64  `json:"heap_bytes"`     // live heap after GC at the end
	RSSBytes     int64   `json:"rss_bytes"`      // at the end
	PeakRSSBytes int64   `json:"peak_rss_bytes"` // VmHWM
	// The Go runtime's soft memory limit the run had: the role's default
	// (config.DefaultMemoryLimitMiB), or GOMEMLIMIT if set.
	MemoryLimitBytes int64 `json:"memory_limit_bytes"`
	// RSS in anonymous memory (heap, stacks, runtime) and in mapped files
	// (badger maps its value log and tables: those pages are page cache the
	// kernel may reclaim, but they count in RSS).
	RSSAnonBytes int64 `json:"rss_anon_bytes"`
	RSSFileBytes int64 `json:"rss_file_bytes"`
	// Of RSSFileBytes, the pages of the store's mapped files (badger's
	// SSTables, value log and memtable logs) and of the executable itself
	// (its code and tables, which reading heap profiles for
	// own_heap_bytes walks: shared, and reclaimable page cache).
	RSSStoreBytes int64 `json:"rss_store_bytes"`
	RSSExeBytes   int64 `json:"rss_exe_bytes"`

	// The store directory's files after Close, in blocks allocated on disk
	// (an open store has preallocated, sparse memtable and value-log files),
	// and of them the SSTables and the value log.
	DiskBytes   int64            `json:"disk_bytes"`
	LSMBytes    int64            `json:"lsm_bytes"`
	VlogBytes   int64            `json:"vlog_bytes"`
	ByKind      map[string]int64 `json:"by_kind"` // logical key+value bytes: blocks, certificates, state, index, other
	KeysByKind  map[string]int64 `json:"keys_by_kind"`
	StateKeys   int              `json:"state_entries"`
	KeyListSize int              `json:"keylist_bytes"`
	HistoryHeld int              `json:"history_records"`

	StatementLines int     `json:"statement_lines"`
	StatementMs    float64 `json:"statement_ms"` // one home's statement over the whole run, median of 5
	ReopenMs       float64 `json:"reopen_ms"`    // chain.Open of the store at the end
	ReopenHeap     uint64  `json:"reopen_heap_bytes"`

	Daily []simDay `json:"daily,omitempty"`
}

func cmdSimYear(ctx context.Context, args []string, stdout io.Writer) error {
	c := newCommand("sim year", "[--homes N] [--days D] [--slot 15m] [--keep-days K] [--dir D] [--seed X] [--json] [--cpuprofile F] [--memprofile F]", `
Simulate a chain's life at full speed: one process runs the real execution path
(chain.Open on a badger store on disk, a 4-authority genesis, Propose and Commit
of every block with a 3-of-4 precommit certificate) with a simulated clock. N
homes with simulated meters (PV and load profiles) each place one order per slot
for their forecast net energy; slots clear at gate closure; homes attest their
metered energy after the slot; slots settle. No consensus network runs: the
authorities take turns proposing. While the node produces a slot's blocks,
the homes sign the next slot's txs and the node checks each as it arrives
(Chain.CheckTx, as its mempool does: the signature is verified there, once,
and not again in Propose), on the other cores; the time per slot is Propose
and Commit.

It prints the live heap (after GC) and RSS at the end and per day, the store's
size by kind (block bodies, certificates, state, account index), the time per
slot (p50, p99), the time of one home's statement over the whole run, and the
time and heap of reopening the store. --keep-days K makes the store a home's:
it keeps the bodies of K days of blocks (counted in blocks, like a node's
keep_blocks), and prunes as a home's loop does (chain.PruneHome: old bodies,
old cleared and settled records, the other accounts' old statement lines);
without it the store is an authority's archive. The process's memory stands
for the node whose store it keeps (the simulated homes' meters and keys add
little: a few MB): it runs with that node's memory limit (the role's default
memory_limit_mib, the authority's or with --keep-days the home's), unless
GOMEMLIMIT is set.`)
	homes := c.fs.Int("homes", 100, "simulated homes")
	days := c.fs.Int("days", 365, "simulated days")
	slot := c.fs.Duration("slot", 15*time.Minute, "slot length (whole seconds, at least 30s)")
	keep := c.fs.Int("keep-days", 0, "a home's store: keep K days of block bodies, prune as a home does (0 = an authority's: keep all)")
	dir := c.fs.String("dir", "", "store directory (default: a temporary one, removed afterwards; must not exist)")
	seed := c.fs.Uint64("seed", 1, "seed of meters and prices")
	asJSON := c.fs.Bool("json", false, "print one JSON object (with the daily samples)")
	prof := c.fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) of the run to this file")
	memProf := c.fs.String("memprofile", "", "write a heap profile (go tool pprof) at the end of the last day to this file")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	switch {
	case *homes < 1 || *homes > 2000:
		return usagef("sim year: --homes: expected 1 to 2000, got %d", *homes)
	case *days < 1 || *days > 3650:
		return usagef("sim year: --days: expected 1 to 3650, got %d", *days)
	case *slot < 30*time.Second || *slot%time.Second != 0 || (24*time.Hour)%*slot != 0:
		return usagef("sim year: --slot: expected whole seconds, at least 30s, dividing a day, got %s", *slot)
	case *keep < 0:
		return usagef("sim year: --keep-days: expected 0 or more, got %d", *keep)
	}
	cfg := simYearConfig{Homes: *homes, Days: *days, Slot: *slot, Dir: *dir, Seed: *seed, KeepDays: *keep, MemProfile: *memProf}
	if !*asJSON {
		cfg.OnDay = func(d simDay) {
			if d.Day == 1 || d.Day%30 == 0 || d.Day == *days {
				fmt.Fprintf(stdout, "day %4d: height %7d, heap %6.1f MB, RSS %6.1f MB, history records held %d, key list %.2f MB\n",
					d.Day, d.Height, mb(int64(d.HeapBytes)), mb(d.RSSBytes), d.HistoryRecords, mb(int64(d.KeyListBytes)))
			}
		}
	}
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	// The process runs with the memory limit of the node whose store it
	// keeps (config.DefaultMemoryLimitMiB), so its figures stand for that node.
	role := config.RoleAuthority
	if *keep > 0 {
		role = config.RoleHome
	}
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	limit := setMemoryLimit(config.DefaultMemoryLimitMiB(role) << 20)
	res, err := runSimYear(ctx, cfg)
	if err != nil {
		return fmt.Errorf("sim year: %w", err)
	}
	res.MemoryLimitBytes = limit
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(stdout, "%s\n", b)
		return nil
	}
	res.Daily = nil
	fmt.Fprintf(stdout, "%d homes, %d days of %s slots (%d slots, %d blocks, %d txs, %d trades) in %.0f s\n",
		res.Homes, res.Days, *slot, res.Slots, res.Height, res.Txs, res.Trades, res.WallSeconds)
	fmt.Fprintf(stdout, "time per slot: p50 %.1f ms, p99 %.1f ms, max %.1f ms; the node's Propose and Commit %.0f s in all, waiting for the next slot's txs to be signed and checked %.0f s\n",
		res.SlotP50Ms, res.SlotP99Ms, res.SlotMaxMs, res.NodeSeconds, res.WaitSeconds)
	fmt.Fprintf(stdout, "memory at the end: heap %.1f MB (after GC), RSS %.1f MB (anonymous %.1f MB, mapped files %.1f MB: the store's %.1f MB, the executable's %.1f MB), peak RSS %.1f MB, memory limit %.0f MiB; %d history records held, %d state entries, key list %.2f MB\n",
		mb(int64(res.HeapBytes)), mb(res.RSSBytes), mb(res.RSSAnonBytes), mb(res.RSSFileBytes), mb(res.RSSStoreBytes), mb(res.RSSExeBytes), mb(res.PeakRSSBytes), mb(res.MemoryLimitBytes), res.HistoryHeld, res.StateKeys, mb(int64(res.KeyListSize)))
	fmt.Fprintf(stdout, "store: %.1f MB on disk (SSTables %.1f MB, value log %.1f MB); logical: blocks %.1f MB, certificates %.1f MB, state %.1f MB, account index %.1f MB, other %.3f MB\n",
		mb(res.DiskBytes), mb(res.LSMBytes), mb(res.VlogBytes), mb(res.ByKind["blocks"]), mb(res.ByKind["certificates"]),
		mb(res.ByKind["state"]), mb(res.ByKind["index"]), mb(res.ByKind["other"]))
	fmt.Fprintf(stdout, "statement of one home over the run: %d lines in %.2f ms\n", res.StatementLines, res.StatementMs)
	fmt.Fprintf(stdout, "reopen: chain.Open in %.0f ms, heap %.1f MB after\n", res.ReopenMs, mb(int64(res.ReopenHeap)))
	return nil
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

type simHome struct {
	key   ed25519.PrivateKey
	acct  ident.Account
	meter *metersim.Meter
}

func simKey(name string, i int) (ed25519.PrivateKey, ident.Account) {
	seed := sha256.Sum256([]byte("gridmesh sim year " + name + " " + strconv.Itoa(i)))
	k := ed25519.NewKeyFromSeed(seed[:])
	return k, ident.AccountOf(k.Public().(ed25519.PublicKey))
}

// runSimYear runs the simulation cfg describes (see cmdSimYear) until it
// ends or ctx is done (SIGINT or SIGTERM from the command line).
func runSimYear(ctx context.Context, cfg simYearConfig) (res simYearResult, err error) {
	dir, remove, err := simYearDir(cfg.Dir)
	if err != nil {
		return res, err
	}
	defer remove()
	s := newSimYear(cfg)
	s.c, err = chain.Open(dir, s.g)
	if err != nil {
		return res, err
	}
	defer func() {
		if s.c != nil {
			s.c.Close()
		}
	}()
	s.res = simYearResult{Homes: cfg.Homes, Days: cfg.Days, SlotSeconds: s.g.SlotSeconds, KeepDays: cfg.KeepDays}
	if err := s.run(ctx); err != nil {
		return s.res, err
	}
	s.summarize()
	s.res.RSSStoreBytes, s.res.RSSExeBytes = mappedRSS(dir)
	if err := s.measureStore(); err != nil {
		return s.res, err
	}
	s.measureStatement()
	if err := s.reopen(dir); err != nil {
		return s.res, err
	}
	return s.res, nil
}

// simYearDir is the store directory for --dir: dir, which must not exist,
// or when dir is "" a new one in a temporary directory; remove deletes the
// temporary directory (and does nothing for dir).
func simYearDir(dir string) (store string, remove func(), err error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "gridmesh-simyear-")
		if err != nil {
			return "", nil, err
		}
		return filepath.Join(tmp, "chain"), func() { os.RemoveAll(tmp) }, nil
	}
	if _, err := os.Stat(dir); err == nil {
		return "", nil, fmt.Errorf("%s exists: sim year starts from genesis", dir)
	}
	return dir, func() {}, nil
}

// simYear is one run of runSimYear: the genesis and the authorities' keys,
// the homes, the chain (nil once closed) and the figures gathered so far.
type simYear struct {
	cfg   simYearConfig
	g     chain.Genesis
	auth  []ed25519.PrivateKey
	homes []simHome
	keys  map[ident.Account]ed25519.PrivateKey // the homes' keys by account
	rng   *rand.Rand                           // meters' sizes, then order prices
	c     *chain.Chain
	res   simYearResult

	nonce    uint64
	nodeTime time.Duration              // Propose and Commit of the current slot's blocks
	ordered  map[unit.Slot][]simOrdered // homes with an order in the slot, and their (perfect) forecast
	perSlot  []time.Duration            // nodeTime of every slot so far
	// keepBlocks is the home's window of block bodies (0: an authority, or
	// the first day, before it is known).
	keepBlocks uint64
	next       *simBatch // the next slot's block-A txs, being signed (runSlot)
}

// simOrdered is a home with an order in a slot and its metered energy there.
type simOrdered struct {
	home     int
	imp, exp unit.Wh
}

// newSimYear makes the genesis of cfg: 4 authorities, an operator and
// cfg.Homes homes with simulated meters, their keys derived from their names
// and the meters sized by cfg.Seed.
func newSimYear(cfg simYearConfig) *simYear {
	L := int64(cfg.Slot / time.Second)
	g := chain.Genesis{
		ChainID: "gridmesh-simyear", Epoch: 1_767_225_600, SlotSeconds: L,
		OpenLeadSeconds: 2 * L, GateLeadSeconds: L / 3, AttestWindowSeconds: L / 3,
		Tariff: market.Tariff{Floor: 80_000, Ceiling: 320_000, Fee: 20_000},
		Params: market.DefaultParams(),
	}
	auth := make([]ed25519.PrivateKey, 4)
	for i := range auth {
		k, a := simKey("authority", i)
		auth[i] = k
		g.Authorities = append(g.Authorities, a)
	}
	_, g.Operator = simKey("operator", 0)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5ee0))
	homes := make([]simHome, cfg.Homes)
	start := time.Unix(g.Epoch, 0)
	for i := range homes {
		k, a := simKey("home", i)
		pv := unit.W(0)
		if rng.IntN(10) < 6 {
			pv = unit.W(3000 + rng.IntN(6000))
		}
		homes[i] = simHome{key: k, acct: a, meter: metersim.New(metersim.Config{
			Seed: int64(cfg.Seed)*10_000 + int64(i), PVPeak: pv, Load: unit.W(250 + rng.IntN(600)), Start: start,
		}, nil)}
		g.Participants = append(g.Participants, a)
	}
	keys := map[ident.Account]ed25519.PrivateKey{}
	for _, h := range homes {
		keys[h.acct] = h.key
	}
	return &simYear{cfg: cfg, g: g, auth: auth, homes: homes, keys: keys, rng: rng,
		ordered: map[unit.Slot][]simOrdered{}}
}

// run simulates cfg.Days days of slots, pruning at the end of each day when
// cfg.KeepDays asks for it and sampling the day (cfg.OnDay sees the sample).
func (s *simYear) run(ctx context.Context) error {
	slotsPerDay := int(86400 / s.g.SlotSeconds)
	heapMin := uint64(math.MaxUint64)
	first := unit.Slot(1)
	began := time.Now()
	for day := range s.cfg.Days {
		for i := range slotsPerDay {
			if ctx.Err() != nil {
				return fmt.Errorf("sim year: stopped on day %d of %d: %w", day+1, s.cfg.Days, context.Cause(ctx))
			}
			s.nodeTime = 0
			if err := s.runSlot(first + unit.Slot(day*slotsPerDay+i)); err != nil {
				return err
			}
			heapMin = min(heapMin, markedHeap())
			s.perSlot = append(s.perSlot, s.nodeTime)
			s.res.NodeSeconds += s.nodeTime.Seconds()
			s.res.Slots++
		}
		if day == 0 && s.cfg.KeepDays > 0 {
			s.keepBlocks = uint64(s.cfg.KeepDays) * s.c.Head().Height
		}
		d := sampleDay(s.c, day+1, heapMin)
		heapMin = math.MaxUint64
		s.res.Daily = append(s.res.Daily, d)
		if s.cfg.OnDay != nil {
			s.cfg.OnDay(d)
		}
	}
	if s.next != nil {
		<-s.next.done // the slot after the last, for a caller's runSlot
	}
	s.res.WallSeconds = time.Since(began).Seconds()
	if s.cfg.MemProfile != "" {
		f, err := os.Create(s.cfg.MemProfile)
		if err != nil {
			return fmt.Errorf("--memprofile: %w", err)
		}
		defer f.Close()
		return pprof.WriteHeapProfile(f)
	}
	return nil
}

// runSlot produces the blocks of slot k. Block A, just after slot k starts,
// carries the orders for slot k+1 and the attestations for slot k-1; block B
// settles slot k-1 (its attestation window has ended); block C clears slot
// k+1 (its gate has closed). B and C only when due.
func (s *simYear) runSlot(k unit.Slot) error {
	s0 := s.g.SlotStart(k)
	b := s.next
	if b == nil || b.slot != k {
		b = s.prepare(k)
	}
	t0 := time.Now()
	<-b.done
	s.res.WaitSeconds += time.Since(t0).Seconds()
	// While the node produces slot k's blocks, the homes sign slot k+1's
	// block-A txs and the node checks them as they arrive: what they depend
	// on (slot k's clearing, in slot k-1's block C) is known.
	s.next = s.prepare(k + 1)
	if err := s.produce(s0+1000, b.txs); err != nil {
		return err
	}
	L := s.g.SlotSeconds
	for _, at := range []int64{s0 + L/3*1000 + 1000, s0 + 2*L/3*1000 + 1000} {
		if s.c.Due(at) {
			if err := s.produce(at, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// simBatch is the txs of a slot's block A, being signed and checked on
// another goroutine until done is closed.
type simBatch struct {
	slot unit.Slot
	txs  []chain.Tx
	done chan struct{}
}

// prepare builds and numbers slot k's block-A txs, then, on other
// goroutines (all cores but one), signs them (the homes sign on their own devices)
// and hands them to Chain.CheckTxs, as a node does with a batch of txs
// from a peer: the chain remembers the txs whose signature it verified, so
// Propose does not verify them again. CheckTxs checks the signatures
// before it takes the chain's lock, so a Commit holding it does not stall
// them. Its verdict on the state is not used: the txs are for the next
// block, whose Propose checks each one against its state and must include
// all (produce).
func (s *simYear) prepare(k unit.Slot) *simBatch {
	b := &simBatch{slot: k, txs: s.blockATxs(k), done: make(chan struct{})}
	for i := range b.txs {
		s.nonce++
		b.txs[i].ChainID, b.txs[i].Nonce = s.g.ChainID, s.nonce
	}
	c, keys, nowMs := s.c, s.keys, s.g.SlotStart(k)
	go func() {
		defer close(b.done)
		besideNode(len(b.txs), func(i int) { b.txs[i].Sign(keys[b.txs[i].From]) })
		c.CheckTxs(b.txs, nowMs)
	}()
	return b
}

// blockATxs are the txs of slot k's block A, not yet numbered and signed
// (prepare): orders for slot k+1 (forecast net energy) and attestations for
// slot k-1 (its metered energy, which the simulated meters forecast exactly).
func (s *simYear) blockATxs(k unit.Slot) []chain.Tx {
	var txs []chain.Tx
	next := k + 1
	from, to := time.UnixMilli(s.g.SlotStart(next)), time.UnixMilli(s.g.SlotEnd(next))
	for h, home := range s.homes {
		imp, exp := home.meter.Forecast(from, to)
		side, e := market.Buy, imp-exp
		price := unit.Price(150_000 + s.rng.IntN(150_000))
		if exp > imp {
			side, e = market.Sell, exp-imp
			price = unit.Price(80_000 + s.rng.IntN(150_000))
		}
		if e <= 0 {
			continue
		}
		txs = append(txs, chain.Tx{Kind: chain.TxOrder, From: home.acct, Order: &chain.Order{Side: side, Slot: next, Energy: e, Price: price}})
		s.ordered[next] = append(s.ordered[next], simOrdered{h, imp, exp})
	}
	if r, ok := s.c.Result(k - 1); ok && len(r.Trades) > 0 {
		for _, m := range s.ordered[k-1] {
			j := sha256.Sum256(binary.BigEndian.AppendUint64([]byte(s.homes[m.home].acct), uint64(k-1)))
			txs = append(txs, chain.Tx{Kind: chain.TxAttest, From: s.homes[m.home].acct, Attest: &chain.Attest{Slot: k - 1, Import: m.imp, Export: m.exp, Journal: ident.Hash(j)}})
		}
	}
	delete(s.ordered, k-1)
	return txs
}

// produce proposes a block of txs at nowMs, certifies it and commits it,
// adding the time of Propose and Commit to s.nodeTime; every tx must make it
// into the block.
func (s *simYear) produce(nowMs int64, txs []chain.Tx) error {
	h := s.c.Head().Height + 1
	proposer := int(h % 4)
	t0 := time.Now()
	b, errs := s.c.Propose(nowMs, s.g.Authorities[proposer], txs)
	s.nodeTime += time.Since(t0)
	for i, e := range errs {
		if e != nil {
			return fmt.Errorf("block %d: tx %d (%s) left out: %w", h, i, txs[i].Kind, e)
		}
	}
	cert := simCert(s.g.ChainID, s.auth, proposer, b) // the authorities' work, not the node's
	t0 = time.Now()
	events, err := s.c.Commit(b, cert)
	s.nodeTime += time.Since(t0)
	if err != nil {
		return err
	}
	s.res.Txs += len(txs)
	if keep := s.keepBlocks; keep > 0 && h > keep && h%max(keep/20, 1) == 0 {
		// What a home's loop does after a commit (node/loop.go); its time is
		// the node's.
		t0 = time.Now()
		_, _, err := s.c.PruneHome(h-keep, s.homes[0].acct)
		s.nodeTime += time.Since(t0)
		if err != nil {
			return err
		}
	}
	for _, ev := range events {
		if ev, ok := ev.(chain.SlotSettled); ok {
			s.res.Trades += len(ev.Settlement.Trades)
		}
	}
	return nil
}

// summarize records the time per slot (p50, p99, max), the height and the
// memory at the end of the run.
func (s *simYear) summarize() {
	res, perSlot := &s.res, s.perSlot
	slices.Sort(perSlot)
	pct := func(p float64) float64 {
		return float64(perSlot[min(len(perSlot)-1, int(math.Ceil(p*float64(len(perSlot))))-1)].Microseconds()) / 1000
	}
	res.SlotP50Ms, res.SlotP99Ms, res.SlotMaxMs = pct(0.50), pct(0.99), pct(1)
	res.Height = s.c.Head().Height
	last := res.Daily[len(res.Daily)-1]
	res.HeapBytes, res.RSSBytes = last.HeapBytes, last.RSSBytes
	res.PeakRSSBytes = procStatus("VmHWM:")
	res.RSSAnonBytes, res.RSSFileBytes = procStatus("RssAnon:"), procStatus("RssFile:")
}

// measureStore records what the store holds, by kind, and the chain's footprint.
func (s *simYear) measureStore() error {
	u, err := s.c.Usage()
	if err != nil {
		return err
	}
	res := &s.res
	res.ByKind = map[string]int64{"blocks": u.Blocks, "certificates": u.Certificates, "state": u.State, "index": u.Index, "other": u.Other}
	res.KeysByKind = u.Keys
	fp := s.c.Footprint()
	res.StateKeys, res.KeyListSize, res.HistoryHeld = fp.StateEntries, fp.KeyListBytes, fp.HistoryRecords
	return nil
}

// measureStatement times the first home's statement over the whole run:
// the median of 5.
func (s *simYear) measureStatement() {
	var times []time.Duration
	for range 5 {
		t0 := time.Now()
		s.res.StatementLines = len(s.c.Statement(s.homes[0].acct, math.MinInt64, math.MaxInt64))
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	s.res.StatementMs = float64(times[2].Microseconds()) / 1000
}

// reopen closes the chain and times chain.Open of its store in dir, then
// records the live heap after it and the store's size on disk.
func (s *simYear) reopen(dir string) error {
	if err := s.c.Close(); err != nil {
		return err
	}
	s.c = nil
	s.res.DiskBytes, s.res.LSMBytes, s.res.VlogBytes = dirSize(dir)
	runtime.GC()
	t0 := time.Now()
	var err error
	s.c, err = chain.Open(dir, s.g)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	s.res.ReopenMs = float64(time.Since(t0).Microseconds()) / 1000
	s.res.ReopenHeap = liveHeap()
	return nil
}

// simCert is a commit certificate as the node stores it (wire.EncodeCommit,
// which chain keeps opaque and a state sync verifies): precommits of three
// of the four authorities for b.
func simCert(chainID string, auth []ed25519.PrivateKey, proposer int, b chain.Block) []byte {
	h := b.Hash()
	set := make([]ident.Account, len(auth))
	for i, k := range auth {
		set[i] = ident.AccountOf(k.Public().(ed25519.PublicKey))
	}
	slices.Sort(set) // the chain's order
	votes := make([]consensus.Message, 0, 3)
	for i := range 3 {
		k := auth[(proposer+i)%len(auth)]
		m := consensus.Message{Type: consensus.Precommit, Height: b.Header.Height, ValueID: h, ValidRound: -1,
			From: ident.AccountOf(k.Public().(ed25519.PublicKey))}
		m.Sig = ed25519.Sign(k, m.SignBytes(chainID))
		votes = append(votes, m)
	}
	return wire.EncodeCommit(votes, set)
}

// besideNode calls f(0) .. f(n-1) on GOMAXPROCS − 1 goroutines (at least
// one), leaving a core to the node, as CheckTxs does.
func besideNode(n int, f func(i int)) {
	workers := max(1, runtime.GOMAXPROCS(0)-1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// sampleDay is the day's sample; heap is the least live heap a collection
// marked during the day (markedHeap, read after every slot): badger's
// memtables come and go, and one waiting to be flushed adds its whole
// arena, 29 MB, for a while.
func sampleDay(c *chain.Chain, day int, heap uint64) simDay {
	fp := c.Footprint()
	return simDay{Day: day, HeapBytes: heap, RSSBytes: procStatus("VmRSS:"), RSSAnonBytes: procStatus("RssAnon:"), OwnHeapBytes: ownHeap(), HistoryRecords: fp.HistoryRecords,
		KeyListBytes: fp.KeyListBytes, Height: c.Head().Height}
}

// markedHeap is the heap the last garbage collection found live
// (runtime/metrics /gc/heap/live:bytes). The day's least of it, read after
// every slot, is the day's live heap without forcing a collection: a forced
// one every 6th slot (runtime.GC, 5,840 a year) was a full mark of the
// heap that the node's goroutine waited for.
func markedHeap() uint64 {
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	return m[0].Value.Uint64()
}

// liveHeap is the heap in use after a garbage collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// ownHeap estimates the live heap allocated outside badger and ristretto
// (github.com/dgraph-io/...) from the heap profile: in-use bytes of every
// sampled allocation site, scaled as pprof scales them.
func ownHeap() uint64 {
	runtime.GC()
	runtime.GC() // the profile is as of the last completed cycle but one
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, false)
	for {
		recs = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		if n, ok = runtime.MemProfile(recs, false); ok {
			recs = recs[:n]
			break
		}
	}
	rate := float64(runtime.MemProfileRate)
	var total float64
	for _, r := range recs {
		if r.InUseBytes() <= 0 || r.AllocObjects == 0 || fromBadger(r.Stack()) {
			continue
		}
		avg := float64(r.AllocBytes) / float64(r.AllocObjects)
		total += float64(r.InUseBytes()) / (1 - math.Exp(-avg/rate))
	}
	return uint64(total)
}

// fromBadger reports whether an allocation's stack passes through badger
// or ristretto.
func fromBadger(stk []uintptr) bool {
	frames := runtime.CallersFrames(stk)
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, "github.com/dgraph-io/") {
			return true
		}
		if !more {
			return false
		}
	}
}

// procStatus reads a "kB" field of /proc/self/status in bytes (0 where there
// is none).
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// mappedRSS is the resident memory of the files mapped from the store in
// dir and of the executable (/proc/self/smaps; 0 where there is none).
func mappedRSS(dir string) (store, exe int64) {
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, 0
	}
	self, _ := os.Executable()
	abs, _ := filepath.Abs(dir)
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	var path string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			path = "" // a mapping's first line: range perms offset dev inode [path]
			if len(f) >= 6 {
				path = f[5]
			}
		case len(f) == 3 && f[0] == "Rss:":
			n, _ := strconv.ParseInt(f[1], 10, 64)
			switch {
			case path != "" && filepath.Dir(path) == abs:
				store += n << 10
			case path != "" && path == self:
				exe += n << 10
			}
		}
	}
	return store, exe
}

// dirSize is the disk space the files in dir take (allocated blocks), in
// all and in SSTables (*.sst) and value-log files (*.vlog).
func dirSize(dir string) (all, sst, vlog int64) {
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		n := allocated(info)
		all += n
		switch filepath.Ext(path) {
		case ".sst":
			sst += n
		case ".vlog":
			vlog += n
		}
		return nil
	})
	return all, sst, vlog
}
