package chain

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/gridmesh/gridmesh/ident"
)

// Pool errors.
var (
	ErrPoolFull = errors.New("chain: mempool full")
	ErrInPool   = errors.New("chain: transaction already in the mempool")
)

// Pool is the mempool: transactions waiting for a block, deduplicated by hash and
// bounded in number. Pending returns them in arrival order (ties cannot occur: each
// Add gets the next sequence number), so the same sequence of calls always gives
// the same blocks. Pool does not check transactions; callers run Chain.CheckTx
// before Add and Recheck after each commit. Safe for concurrent use.
type Pool struct {
	mu  sync.Mutex
	max int
	seq uint64
	txs map[ident.Hash]poolEntry
}

type poolEntry struct {
	seq uint64
	tx  Tx
}

// NewPool returns a pool that holds at most limit transactions (at least 1).
func NewPool(limit int) *Pool {
	return &Pool{max: max(limit, 1), txs: map[ident.Hash]poolEntry{}}
}

// Add adds tx unless it is already present (ErrInPool) or the pool is full
// (ErrPoolFull).
func (p *Pool) Add(tx Tx) error {
	h := tx.Hash()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.txs[h]; ok {
		return fmt.Errorf("%w: %s", ErrInPool, h)
	}
	if len(p.txs) >= p.max {
		return ErrPoolFull
	}
	p.seq++
	p.txs[h] = poolEntry{seq: p.seq, tx: tx}
	return nil
}

// Has reports whether a transaction with hash h is in the pool.
func (p *Pool) Has(h ident.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.txs[h]
	return ok
}

// Get returns the transaction with hash h if it is in the pool.
func (p *Pool) Get(h ident.Hash) (Tx, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.txs[h]
	return e.tx, ok
}

// Pending returns up to n transactions (all if n <= 0) in arrival order. They stay
// in the pool until Remove or Recheck drops them.
func (p *Pool) Pending(n int) []Tx {
	p.mu.Lock()
	defer p.mu.Unlock()
	es := p.sorted()
	if n > 0 && len(es) > n {
		es = es[:n]
	}
	out := make([]Tx, len(es))
	for i, e := range es {
		out[i] = e.tx
	}
	return out
}

func (p *Pool) sorted() []poolEntry {
	es := make([]poolEntry, 0, len(p.txs))
	for _, e := range p.txs {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b poolEntry) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return es
}

// Remove drops txs (typically a committed block's) from the pool.
func (p *Pool) Remove(txs []Tx) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tx := range txs {
		delete(p.txs, tx.Hash())
	}
}

// Recheck calls check on every pooled transaction in arrival order and drops those
// for which it returns an error (for example Chain.CheckTx after a commit). It
// returns how many were dropped. check must not call back into the pool.
func (p *Pool) Recheck(check func(Tx) error) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	dropped := 0
	for _, e := range p.sorted() {
		if check(e.tx) != nil {
			delete(p.txs, e.tx.Hash())
			dropped++
		}
	}
	return dropped
}

// Len returns the number of pooled transactions.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.txs)
}
