package chain

import (
	"sync"

	"github.com/gridmesh/gridmesh/ident"
)

// verifiedSet remembers transactions (by hash, which covers the signature) that
// passed Tx.Verify, so a tx checked for the mempool is not verified again when it
// is proposed. Bounded: it forgets everything when full.
type verifiedSet struct {
	mu sync.Mutex
	m  map[ident.Hash]struct{}
}

const maxVerified = 1 << 16

// verifyAll verifies txs (those not remembered) on up to cores goroutines,
// as ed25519 verification dominates the cost of a block; errs[i] is the
// verdict on txs[i].
func (v *verifiedSet) verifyAll(txs []Tx, cores int) []error {
	errs := make([]error, len(txs))
	workers := min(cores, len(txs)/16+1)
	if workers <= 1 {
		for i, tx := range txs {
			errs[i] = v.verify(tx)
		}
		return errs
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(txs); i += workers {
				errs[i] = v.verify(txs[i])
			}
		}()
	}
	wg.Wait()
	return errs
}

// forget drops committed txs from the set: a committed tx is never proposed
// or checked successfully again (replay protection), so what the set holds is
// the mempool's verified txs, not the chain's history.
func (v *verifiedSet) forget(txs []Tx) {
	if len(txs) == 0 {
		return
	}
	hs := make([]ident.Hash, len(txs))
	for i, tx := range txs {
		hs[i] = tx.Hash()
	}
	v.mu.Lock()
	for _, h := range hs {
		delete(v.m, h)
	}
	v.mu.Unlock()
}

// verify is tx.Verify, remembered by hash.
func (v *verifiedSet) verify(tx Tx) error {
	h := tx.Hash()
	v.mu.Lock()
	_, ok := v.m[h]
	v.mu.Unlock()
	if ok {
		return nil
	}
	if err := tx.Verify(); err != nil {
		return err
	}
	v.mu.Lock()
	if v.m == nil || len(v.m) >= maxVerified {
		v.m = make(map[ident.Hash]struct{})
	}
	v.m[h] = struct{}{}
	v.mu.Unlock()
	return nil
}
