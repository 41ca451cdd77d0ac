package statesync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/wire"
)

// values fetches every unit with one worker per peer until the queue is
// empty; a unit a worker could not finish goes back to the queue.
func (r *run) values(ctx context.Context, m *chain.Manifest, h uint64, peers []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{}, len(peers))
	r.mu.Lock()
	r.p.Peers = len(peers)
	r.mu.Unlock()
	for _, p := range peers {
		go func() {
			defer func() { done <- struct{}{} }()
			r.worker(ctx, m, h, p)
		}()
	}
	for range peers {
		<-done
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.p.Done < m.Len() {
		return fmt.Errorf("%w: %d of %d entries of height %d fetched, no peer left to serve the rest", ErrNoSnapshot, r.p.Done, m.Len(), h)
	}
	return nil
}

// span is a unit of entries to fetch: from .. end−1.
type span struct{ from, end int }

// take removes from the queue the first unit p has not said it lacks; ok
// is false when there is none.
func (r *run) take(lacks map[int]bool) (sp span, ok bool) {
	for i, q := range r.queue {
		if !lacks[q.from] {
			r.queue = slices.Delete(r.queue, i, i+1)
			return q, true
		}
	}
	return span{}, false
}

// worker fetches units from peer p until the queue has none left that p
// can serve: a peer that sends a value that does not verify is dropped; one
// that errs three times in a row, or does not hold the height, is left; one
// that does not hold some values (a pruned home holds stubs of old records,
// never sent as values) is asked for the other units, and the ones it
// lacks go to other peers, without counting against it.
func (r *run) worker(ctx context.Context, m *chain.Manifest, h uint64, p string) {
	defer func() {
		r.mu.Lock()
		r.p.Peers--
		r.mu.Unlock()
	}()
	fails := 0
	lacks := map[int]bool{} // the first entries of the units p does not hold
	for ctx.Err() == nil {
		r.mu.Lock()
		sp, ok := r.take(lacks)
		if !ok {
			// Another worker may still put the rest of a unit back.
			busy := r.inflight > 0
			r.mu.Unlock()
			if !busy {
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		r.inflight++
		r.mu.Unlock()
		next, bad, err := r.unit(ctx, m, h, p, sp)
		r.mu.Lock()
		r.inflight--
		if next < sp.end {
			r.queue = append(r.queue, span{next, sp.end}) // the rest of the unit, for any worker
		}
		r.mu.Unlock()
		switch {
		case bad != nil:
			r.drop(p, bad)
			return
		case errors.Is(err, errNotHeld) && next > sp.from:
			lacks[next] = true // a pruned record at next
		case errors.Is(err, errNotHeld):
			lacks[next] = true
			if !r.holds(ctx, p, h) {
				return // the snapshot went (a newer one replaced it)
			}
		case err != nil:
			fails++
			r.cfg.Log.Debug("state sync: values not fetched", "peer", p, "from", next, "err", err)
			if fails >= 3 {
				return
			}
		default:
			fails = 0
		}
	}
}

// holds asks p whether it still offers a snapshot of height h (for the
// manifest's last byte: a short answer).
func (r *run) holds(ctx context.Context, p string, h uint64) bool {
	resp, err := r.ask(ctx, p, wire.SnapRequest{Kind: wire.SnapManifest, Height: h, Arg: r.mlen - 1})
	if err != nil {
		return false
	}
	_, held, err := wire.DecodeSnapPiece(resp)
	return err == nil && held
}

// errNotHeld is a peer's answer that it does not hold the height.
var errNotHeld = fmt.Errorf("snapshot not held")

// unit fetches the entries of sp from p and stages them;
// next is the first entry not staged; bad is set when p sent data that
// does not verify.
func (r *run) unit(ctx context.Context, m *chain.Manifest, h uint64, p string, sp span) (next int, bad, err error) {
	end := sp.end
	next = sp.from
	for next < end {
		resp, err := r.ask(ctx, p, wire.SnapRequest{Kind: wire.SnapValues, Height: h, Arg: uint64(next), Count: uint32(end - next)})
		if err != nil {
			return next, nil, err
		}
		vals, held, err := wire.DecodeSnapValues(resp)
		switch {
		case err != nil:
			return next, err, nil
		case !held:
			return next, nil, errNotHeld
		case len(vals) > end-next:
			return next, fmt.Errorf("%d values for %d entries", len(vals), end-next), nil
		}
		for j, v := range vals {
			if err := m.Check(next+j, v); err != nil {
				return next, err, nil
			}
		}
		if err := r.cfg.Chain.StageSnapshot(m, next, vals); err != nil {
			return next, nil, err
		}
		next += len(vals)
		r.mu.Lock()
		before := r.p.Done * 10 / m.Len()
		r.p.Done += len(vals)
		if after := r.p.Done * 10 / m.Len(); after > before {
			r.cfg.Log.Info("state sync", "height", h, "percent", after*10, "entries", r.p.Done, "of", m.Len(), "bytes", r.p.Bytes, "peers", r.p.Peers)
		}
		r.report()
		r.mu.Unlock()
	}
	return next, nil, nil
}
