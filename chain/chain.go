package chain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/ristretto/v2/z"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/unit"
)

// MaxClockSkewMs is how far a block's time may be ahead of the validator's clock.
const MaxClockSkewMs = 2000

// Badger keys. State entries live under "S/"+key (see state).
const (
	keyGenesis = "g"  // canonical genesis JSON
	keyHead    = "h"  // headRec JSON
	keyPruned  = "p"  // 8-byte big-endian height: block bodies below it are pruned
	pfxBlock   = "B/" // + 8-byte big-endian height: canonical block encoding
	pfxCert    = "C/" // + 8-byte big-endian height: certificate (opaque)
	pfxState   = "S/" // + state key: state value
)

type headRec struct {
	Height    uint64     `json:"height"`
	Hash      ident.Hash `json:"hash"`
	StateHash ident.Hash `json:"state_hash"`
}

// Chain is the replicated ledger of one node: the committed blocks and the state
// they produced, kept in badger. All methods are safe for concurrent use; Propose,
// Validate and Commit are meant to be called from the one loop that owns
// consensus.
type Chain struct {
	g   Genesis
	dir string // "" = in memory

	mu       sync.RWMutex
	db       *badger.DB
	head     Header
	headHash ident.Hash
	st       *state // committed: its keys are the committed entries' (see state.commit)
	cache    map[ident.Hash]*execution
	closed   bool
	status   Status // of the committed head
	pruned   uint64 // block bodies and certificates below this height are deleted

	verified verifiedSet      // hashes of txs whose signature checked out
	verifier EvidenceVerifier // nil = evidence is refused

	tables        uint64            // badger's SSTables when Commit last looked (tablesChanged)
	flushed       uint64            // the newest level-0 table's ID seen by tablesChanged
	arenaReleases atomic.Int64      // flushed memtables' arenas returned (releaseArena)
	builders      chan *z.Allocator // badger's pool of table builders' memory (builderPool); nil: left to badger
	builderBytes  atomic.Int64      // released from it by Commit (releaseBuilders)

	gc     sync.WaitGroup // a running value-log collection (collectValueLog)
	gcBusy atomic.Bool

	paging    sync.WaitGroup // a running release of the store's mappings (releaseMappedSoon)
	pageBusy  atomic.Bool
	pageAgain atomic.Bool  // asked for since the running release began
	pageRuns  atomic.Int64 // releases run (a test's count)
}

// execution is a block executed on a scratch copy of the head state.
type execution struct {
	block  Block
	st     *state
	diff   []keyChange // st's entries added, changed and deleted by the block
	events []Event
}

// maxCache bounds the executed-but-not-committed blocks remembered by hash.
const maxCache = 8

// corruptError reports a store that cannot be trusted.
type corruptError struct {
	dir string
	err error
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("chain: store at %s is corrupt: %v", e.dir, e.err)
}
func (e *corruptError) Unwrap() error        { return e.err }
func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

// Open opens (or creates) the chain store in dir for genesis g. badger is tuned
// for a Raspberry Pi (DESIGN.md, Known traps). On an existing store it checks that
// the stored genesis is g and that the head block, the state entries and the
// state hash agree; a store that fails these checks gives an error that matches
// ErrCorrupt and names dir. It refuses to run on a 32-bit platform, where badger
// silently loses data.
func Open(dir string, g Genesis) (*Chain, error) {
	if bits.UintSize != 64 {
		return nil, errors.New("chain: a 64-bit platform is required: badger loses data on 32-bit builds")
	}
	// A store that has been created before has a MANIFEST; if it then looks
	// empty, it is damaged, not new.
	_, statErr := os.Stat(filepath.Join(dir, "MANIFEST"))
	existed := statErr == nil
	if err := flushOldLogs(dir); err != nil {
		return nil, err
	}
	return open(dir, storeOptions(dir), g, existed)
}

// OpenMemory opens a chain kept in memory only (tests, the simulator).
func OpenMemory(g Genesis) (*Chain, error) {
	// In memory every value is inline, so a 4 MiB block needs a larger batch
	// limit (15% of the memtable) than on disk, where large values go to the
	// value log.
	opt := badger.DefaultOptions("").
		WithInMemory(true).
		WithMemTableSize(64 << 20).
		WithBlockCacheSize(1 << 20).
		WithIndexCacheSize(1 << 20).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		WithLogger(nil)
	return open("", opt, g, false)
}

func open(dir string, opt badger.Options, g Genesis, existed bool) (c *Chain, err error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	db, err := openBadger(opt)
	if err != nil {
		// A new store, one locked by another process or one we may not read is
		// not corrupt; anything else badger refuses in an existing store is.
		if !existed || errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("chain: open store at %s: %w", dir, err)
		}
		return nil, &corruptError{dir, err}
	}
	c = &Chain{g: g.clone(), dir: dir, db: db, cache: map[ident.Hash]*execution{}, builders: builderPool(db)}
	defer func() {
		if r := recover(); r != nil {
			err = &corruptError{dir, fmt.Errorf("%v", r)}
		}
		if err != nil {
			db.Close()
			c = nil
		}
	}()
	if !existed {
		empty, err := c.isEmpty()
		if err != nil {
			return nil, &corruptError{dir, err}
		}
		if !empty {
			return nil, &corruptError{dir, errors.New("data without a MANIFEST")}
		}
		if err := c.initGenesis(); err != nil {
			return nil, fmt.Errorf("chain: initialise store at %s: %w", dir, err)
		}
		return c, nil
	}
	if err := c.load(); err != nil {
		var ce *corruptError
		if errors.As(err, &ce) || errors.Is(err, ErrGenesis) {
			return nil, err
		}
		return nil, &corruptError{dir, err}
	}
	if err := c.checkIndex(); err != nil {
		return nil, err
	}
	return c, nil
}

func openBadger(opt badger.Options) (db *badger.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("badger: %v", r)
		}
	}()
	return badger.Open(opt)
}

func (c *Chain) isEmpty() (bool, error) {
	empty := true
	err := c.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		it.Rewind()
		empty = !it.Valid()
		return nil
	})
	return empty, err
}

func heightKey(pfx string, h uint64) []byte {
	k := make([]byte, len(pfx)+8)
	copy(k, pfx)
	binary.BigEndian.PutUint64(k[len(pfx):], h)
	return k
}

// genesisBlock is the block at height 0. Its time is just before slot 0 opens
// for orders, so the first block may come as soon as the first slot opens (a
// demo network's epoch may lie a little in the future).
func (c *Chain) genesisBlock(diff []keyChange) Block {
	return Block{Header: Header{
		ChainID:   c.g.ChainID,
		Height:    0,
		Time:      c.g.OpenAt(0) - 1,
		TxRoot:    TxRoot(nil),
		StateHash: hashDiff(nil, diff),
	}, Txs: []Tx{}}
}

func (c *Chain) initGenesis() error {
	st := newState(c.g)
	diff := st.diff()
	ex := &execution{block: c.genesisBlock(diff), st: st, diff: diff}
	err := c.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set([]byte(keyGenesis), recordJSON(c.g)); err != nil {
			return err
		}
		return c.writeBlock(txn, ex, nil)
	})
	if err != nil {
		return err
	}
	if err := c.db.Sync(); err != nil {
		return err
	}
	st.hist.src = storeHist{c.db}
	c.install(ex)
	return nil
}

// writeBlock writes the block, its certificate, the state changes (ex.diff),
// the account index lines of the slots it settled (history.go) and the head
// pointer into txn.
func (c *Chain) writeBlock(txn *badger.Txn, ex *execution, cert []byte) error {
	h := ex.block.Header
	if err := txn.Set(heightKey(pfxBlock, h.Height), pack(ex.block.Encode())); err != nil {
		return err
	}
	if err := txn.Set(heightKey(pfxCert, h.Height), slices.Clone(cert)); err != nil {
		return err
	}
	for _, ch := range ex.diff {
		var err error
		if ch.del {
			err = txn.Delete([]byte(pfxState + ch.key))
		} else {
			err = txn.Set([]byte(pfxState+ch.key), pack(ch.e.v))
		}
		if err != nil {
			return err
		}
	}
	for sl, r := range ex.st.settled {
		cr, _ := ex.st.clearedOf(sl) // recent: in memory
		if err := writeLines(txn, sl, r.st, cr.Result.Price, c.g.Operator); err != nil {
			return err
		}
	}
	if err := txn.Set([]byte(keyIndex), indexRecord(h.Height)); err != nil {
		return err
	}
	return txn.Set([]byte(keyHead), recordJSON(headRec{Height: h.Height, Hash: h.Hash(), StateHash: h.StateHash}))
}

func (c *Chain) install(ex *execution) {
	// Every execution derives from the committed state and shares its maps;
	// ex's changes are folded into them, and all other executions are
	// forgotten (they would see the folded changes).
	ex.st.commit(ex.diff)
	c.head = ex.block.Header
	c.headHash = ex.block.Hash()
	c.st = ex.st
	c.status = Status{Height: c.head.Height, StateHash: c.head.StateHash, Time: c.head.Time,
		LastCleared: ex.st.hist.lastCleared, LastSettled: ex.st.hist.lastSettled}
	clear(c.cache)
}

// load reads and cross-checks an existing store.
func (c *Chain) load() error {
	return c.db.View(func(txn *badger.Txn) error {
		gb, err := get(txn, []byte(keyGenesis))
		if err != nil {
			return fmt.Errorf("genesis: %w", err)
		}
		var stored Genesis
		if err := strictDecode(gb, &stored); err != nil {
			return fmt.Errorf("genesis: %w", err)
		}
		if stored.ChainID != c.g.ChainID {
			return fmt.Errorf("%w: store at %s holds chain %q, not %q", ErrGenesis, c.dir, stored.ChainID, c.g.ChainID)
		}
		if stored.Hash() != c.g.Hash() {
			return fmt.Errorf("%w: store at %s holds a different genesis for chain %q", ErrGenesis, c.dir, c.g.ChainID)
		}
		hb, err := get(txn, []byte(keyHead))
		if err != nil {
			return fmt.Errorf("head: %w", err)
		}
		var head headRec
		if err := strictDecode(hb, &head); err != nil {
			return fmt.Errorf("head: %w", err)
		}
		bb, err := get(txn, heightKey(pfxBlock, head.Height))
		if err != nil {
			return fmt.Errorf("head block %d: %w", head.Height, err)
		}
		blk, err := DecodeBlock(bb)
		if err != nil {
			return fmt.Errorf("head block %d: %w", head.Height, err)
		}
		if blk.Header.Height != head.Height || blk.Hash() != head.Hash || blk.Header.StateHash != head.StateHash {
			return fmt.Errorf("head block %d does not match the head record", head.Height)
		}
		if blk.Header.ChainID != c.g.ChainID {
			return fmt.Errorf("head block %d has chain id %q", head.Height, blk.Header.ChainID)
		}
		if pb, err := txn.Get([]byte(keyPruned)); err == nil {
			v, err := pb.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("pruning marker: %w", err)
			}
			if len(v) != 8 {
				return fmt.Errorf("pruning marker is %d bytes, want 8", len(v))
			}
			c.pruned = binary.BigEndian.Uint64(v)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("pruning marker: %w", err)
		}
		st, keys, err := loadStore(txn)
		if err != nil {
			return err
		}
		if got := hashDiff(keys, nil); got != head.StateHash {
			return fmt.Errorf("state hash %s, head block %d says %s", got, head.Height, head.StateHash)
		}
		st.keys = keys
		st.hist.src = storeHist{c.db}
		c.install(&execution{block: blk, st: st})
		return nil
	})
}

// loadStore reads the committed state entries in key order, in one pass whose
// memory does not grow with the chain's age: every entry's record joins the
// state hash's key list (so the hash covers every stored value), the cleared
// and settled records of old slots are not kept, and the rest rebuild the
// state (loadState). The history records loadState gets are those memory
// keeps (see history): the slots not yet pruned and the last histWindow
// slots. The older ones are checked against the state hash here and decoded
// when read.
func loadStore(txn *badger.Txn) (*state, *keyList, error) {
	var keys keyListBuilder
	rest := map[string]entry{}
	last := map[byte]unit.Slot{'c': -1, 'd': -1}
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte(pfxState)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		k := string(item.Key()[len(pfxState):])
		v, err := valueOf(item)
		if err != nil {
			return nil, nil, fmt.Errorf("state entry %q: %w", k, err)
		}
		e := storedEntry(k, v) // a pruned record's stub gives its digest (prune.go)
		keys.addRecord(k, &e.d)
		if len(k) == 18 && (k[:2] == "c/" || k[:2] == "d/") {
			if sl, err := parseSlotKey(k[2:]); err == nil {
				last[k[0]] = sl // keys come in slot order
				continue
			}
		}
		rest[k] = e // a malformed key fails loadState
	}
	// Which history records memory keeps depends on the slots still held (o/
	// and s/ entries) and the last settled slot.
	floor := unit.Slot(-1 << 62)
	if last['d'] >= 0 {
		floor = last['d'] - histWindow
	}
	held := map[unit.Slot]bool{}
	for k := range rest {
		if len(k) > 19 && (k[:2] == "o/" || k[:2] == "s/") {
			if sl, err := parseSlotKey(k[2:18]); err == nil && sl <= floor {
				held[sl] = true
			}
		}
	}
	read := func(k string) error {
		item, err := txn.Get([]byte(pfxState + k))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		var v []byte
		if err == nil {
			v, err = valueOf(item)
		}
		if err != nil {
			return fmt.Errorf("state entry %q: %w", k, err)
		}
		rest[k] = newEntry(v)
		return nil
	}
	for _, pfx := range []string{"c/", "d/"} {
		for sl := range held {
			if err := read(pfx + slotKey(sl)); err != nil {
				return nil, nil, err
			}
		}
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte(pfxState + pfx)})
		from := pfxState + pfx
		if floor > -1<<62 {
			from += slotKey(floor + 1)
		}
		for it.Seek([]byte(from)); it.Valid(); it.Next() {
			if err := read(string(it.Item().Key()[len(pfxState):])); err != nil {
				it.Close()
				return nil, nil, err
			}
		}
		it.Close()
	}
	st, err := loadState(rest)
	if err != nil {
		return nil, nil, err
	}
	// The status names the last cleared and settled slots of all history, and
	// every record above floor is in memory.
	st.hist.floor = floor
	st.hist.lastCleared, st.hist.lastSettled = last['c'], last['d']
	return st, keys.list(), nil
}

func get(txn *badger.Txn, k []byte) ([]byte, error) {
	item, err := txn.Get(k)
	if err != nil {
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil, errors.New("missing")
		}
		return nil, err
	}
	return valueOf(item)
}

// Close closes the store. Other methods return ErrClosed afterwards.
func (c *Chain) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.gc.Wait() // it holds no lock of c's, and starts only while c is open
	c.paging.Wait()
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("chain: close store: %w", err)
	}
	return nil
}

// Genesis returns the chain's genesis (a copy).
func (c *Chain) Genesis() Genesis { return c.g.clone() }

// Status summarises the committed head.
type Status struct {
	Height      uint64
	StateHash   ident.Hash
	Time        int64     // head block time, unix ms
	LastCleared unit.Slot // -1 = none
	LastSettled unit.Slot // -1 = none
}

// Status returns the committed head's status.
func (c *Chain) Status() Status {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.status
}

// Head returns the committed head's header.
func (c *Chain) Head() Header {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.head
}

// nextTime is the earliest time of the next block given a clock reading.
func (c *Chain) nextTime(nowMs int64) int64 { return max(nowMs, c.head.Time+1) }

// CheckTx checks tx against the committed state as if it were included in the
// next block at time max(nowMs, head time + 1): signature and structure, then the
// state-machine rules. It changes nothing.
func (c *Chain) CheckTx(tx Tx, nowMs int64) error { return c.CheckTxs([]Tx{tx}, nowMs)[0] }

// CheckTxs is CheckTx for each of txs (errs[i] is txs[i]'s verdict), with
// the signatures checked first, without the chain's lock (a block being
// committed meanwhile does not hold them up), then the state-machine rules
// under one read lock. The signatures are checked on all cores but one
// (GOMAXPROCS − 1, at least one), which stays for the block being
// proposed or committed: on the 2 cores of `gridmesh sim year` a Commit
// waited most of its time for a core while both checked signatures.
func (c *Chain) CheckTxs(txs []Tx, nowMs int64) (errs []error) {
	errs = c.verified.verifyAll(txs, max(1, runtime.GOMAXPROCS(0)-1))
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i, tx := range txs {
		switch {
		case errs[i] != nil:
		case c.closed:
			errs[i] = ErrClosed
		default:
			errs[i] = c.st.applyTx(&c.g, c.verifier, tx, c.head.Height+1, c.nextTime(nowMs), true)
		}
	}
	return errs
}

// execute runs txs on a scratch copy of the head state as block height/timeMs. In
// strict mode the first invalid tx fails the execution; otherwise invalid txs are
// skipped and errs[i] says why txs[i] was left out.
func (c *Chain) execute(txs []Tx, height uint64, timeMs int64, strict bool) (ex *execution, included []Tx, errs []error, err error) {
	if err := c.st.unknownUpgrade(height); err != nil {
		return nil, nil, nil, err
	}
	st := c.st.clone()
	errs = make([]error, len(txs))
	sigErrs := c.verified.verifyAll(txs, runtime.GOMAXPROCS(0))
	size := len(Block{Header: c.head}.Encode()) + 1024 // header and slack
	for i, tx := range txs {
		txErr := sigErrs[i]
		if txErr == nil {
			n := len(tx.Encode()) + 1
			if size+n > MaxBlockBytes || len(included) >= MaxBlockTxs {
				txErr = ErrBlockFull
			} else if txErr = st.applyTx(&c.g, c.verifier, tx, height, timeMs, false); txErr == nil {
				size += n
			}
		}
		if txErr != nil {
			if strict {
				return nil, nil, nil, fmt.Errorf("tx %d (%s): %w", i, tx.Hash(), txErr)
			}
			errs[i] = txErr
			continue
		}
		included = append(included, tx)
	}
	events := st.endBlock(&c.g, height, timeMs)
	return &execution{st: st, diff: st.diff(), events: events}, included, errs, nil
}

// Propose builds the next block at time max(nowMs, head time + 1) from txs, in
// the order given, leaving out the invalid ones: errs has one entry per input tx,
// nil for those included (ErrBlockFull for those that did not fit). The executed
// block is remembered, so committing it does not execute it again.
func (c *Chain) Propose(nowMs int64, proposer ident.Account, txs []Tx) (Block, []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	errs := make([]error, len(txs))
	if c.closed {
		for i := range errs {
			errs[i] = ErrClosed
		}
		return Block{}, errs
	}
	t := c.nextTime(nowMs)
	ex, included, errs, err := c.execute(txs, c.head.Height+1, t, false)
	if err != nil { // an unknown upgrade is in force (upgrade.go): no block
		errs = make([]error, len(txs))
		for i := range errs {
			errs[i] = err
		}
		return Block{}, errs
	}
	if included == nil {
		included = []Tx{}
	}
	ex.block = Block{Header: Header{
		ChainID:   c.g.ChainID,
		Height:    c.head.Height + 1,
		Time:      t,
		Parent:    c.headHash,
		TxRoot:    TxRoot(included),
		StateHash: ex.st.hash(ex.diff),
		Proposer:  proposer,
	}, Txs: included}
	c.remember(ex)
	return ex.block, errs
}

func (c *Chain) remember(ex *execution) {
	if len(c.cache) >= maxCache {
		clear(c.cache)
	}
	c.cache[ex.block.Hash()] = ex
}

// Validate checks that b is a valid next block: chain id, height, parent, time
// (after the parent's, at most MaxClockSkewMs ahead of nowMs), proposer (an
// authority), size, tx root, every tx (signature and state rules, none dropped)
// and the state hash after re-execution. A valid block is remembered for Commit.
func (c *Chain) Validate(b Block, nowMs int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.validate(b, nowMs)
	return err
}

func (c *Chain) validate(b Block, nowMs int64) (*execution, error) {
	if c.closed {
		return nil, ErrClosed
	}
	h := b.Header
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %d: %s", ErrBlock, h.Height, fmt.Sprintf(format, a...))
	}
	if h.ChainID != c.g.ChainID {
		return nil, bad("chain id %q, want %q", h.ChainID, c.g.ChainID)
	}
	if h.Height != c.head.Height+1 {
		return nil, bad("height, want %d", c.head.Height+1)
	}
	if h.Parent != c.headHash {
		return nil, bad("parent %s, want %s", h.Parent, c.headHash)
	}
	if h.Time <= c.head.Time {
		return nil, bad("time %d not after parent time %d", h.Time, c.head.Time)
	}
	if h.Time > nowMs+MaxClockSkewMs {
		return nil, bad("time %d is more than %d ms ahead of the local clock %d", h.Time, MaxClockSkewMs, nowMs)
	}
	if !c.st.isAuthorityAt(h.Proposer, h.Height) {
		return nil, bad("proposer %q is not an authority of height %d", h.Proposer, h.Height)
	}
	if n := len(b.Encode()); n > MaxBlockBytes {
		return nil, bad("%d bytes, limit %d", n, MaxBlockBytes)
	}
	if len(b.Txs) > MaxBlockTxs {
		return nil, bad("%d txs, limit %d", len(b.Txs), MaxBlockTxs)
	}
	if got := TxRoot(b.Txs); got != h.TxRoot {
		return nil, bad("tx root %s, header says %s", got, h.TxRoot)
	}
	hash := b.Hash()
	if ex, ok := c.cache[hash]; ok {
		return ex, nil
	}
	ex, _, _, err := c.execute(b.Txs, h.Height, h.Time, true)
	if err != nil {
		return nil, fmt.Errorf("%w %d: %w", ErrBlock, h.Height, err)
	}
	if got := ex.st.hash(ex.diff); got != h.StateHash {
		return nil, bad("state hash %s after execution, header says %s", got, h.StateHash)
	}
	ex.block = b
	c.remember(ex)
	return ex, nil
}

// Commit appends a decided block with its certificate (opaque bytes, stored
// beside it). A block that was proposed or validated here against the current
// head is not executed again; any other block is validated first, without the
// clock check (a decided block is final). The block, certificate, state changes
// and head pointer are written in one badger transaction, then synced. It
// returns what the state machine did at the end of the block.
func (c *Chain) Commit(b Block, cert []byte) ([]Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ex, err := c.validate(b, b.Header.Time)
	if err != nil {
		return nil, fmt.Errorf("chain: commit: %w", err)
	}
	err = c.db.Update(func(txn *badger.Txn) error { return c.writeBlock(txn, ex, cert) })
	if err != nil {
		return nil, fmt.Errorf("chain: commit block %d: %w", b.Header.Height, err)
	}
	if err := c.db.Sync(); err != nil {
		return nil, fmt.Errorf("chain: sync block %d: %w", b.Header.Height, err)
	}
	c.install(ex)
	c.verified.forget(b.Txs)
	if c.builders != nil {
		c.builderBytes.Add(int64(releaseBuilders(c.builders)))
	}
	if c.dir != "" {
		changed, flushed := c.tablesChanged()
		if changed || b.Header.Height%releaseEvery == 0 {
			c.releaseMappedSoon()
		}
		if flushed {
			c.releaseArena()
		}
	}
	// The events share nothing with the state, so a caller may keep or change them.
	events := make([]Event, len(ex.events))
	for i, ev := range ex.events {
		switch ev := ev.(type) {
		case SlotCleared:
			ev.Result = cloneResult(ev.Result)
			events[i] = ev
		case SlotSettled:
			ev.Settlement = cloneSettlement(ev.Settlement)
			events[i] = ev
		default:
			events[i] = ev
		}
	}
	return events, nil
}

// Due reports whether a block at nowMs would clear or settle a slot, so that a
// block should be produced even without transactions.
func (c *Chain) Due(nowMs int64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.st.due(&c.g, c.nextTime(nowMs))
}
