package statesync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/wire"
)

// UnitEntries is how many entries a worker asks a peer for at a time.
const UnitEntries = 4096

// requestTimeout bounds one request (a unit's answer is about 1 MiB of
// values before compression: under 1 s at 10 Mbit/s).
const requestTimeout = 20 * time.Second

// Config is what Run needs.
type Config struct {
	Host  *p2p.Host
	Chain *chain.Chain
	// Peers are the peers to ask (their ids).
	Peers []string
	// Verify checks a snapshot's block and certificate (the node: its
	// certificate against the authority set it knows).
	Verify func(wire.Certified) error
	// Log receives the progress lines; nil discards them.
	Log *slog.Logger
	// Unit is how many entries a worker asks a peer for at a time; 0 means
	// UnitEntries.
	Unit int
	// OnProgress, if set, sees the progress after each unit (from the
	// workers' goroutines, one at a time). It must not block.
	OnProgress func(Progress)
}

// Progress is a state sync's progress (the node's status shows it).
type Progress struct {
	Phase   string   `json:"phase"`  // offers, manifest, values, install, done, failed
	Height  uint64   `json:"height"` // the snapshot's
	Entries int      `json:"entries"`
	Done    int      `json:"done"`          // entries verified and staged, or stubbed
	Stubbed int      `json:"stubbed"`       // old records not downloaded: their stubs written from the manifest
	Bytes   int64    `json:"bytes"`         // answer bytes received
	Peers   int      `json:"peers"`         // peers serving values now
	Dropped []string `json:"dropped"`       // peers dropped for bad data
	Seconds float64  `json:"seconds"`       // since Run began
	Error   string   `json:"err,omitempty"` // why it failed
}

// ErrNoSnapshot is returned when no peer offers a snapshot above the
// chain's height that verifies.
var ErrNoSnapshot = errors.New("statesync: no verified snapshot above our height")

type run struct {
	cfg   Config
	began time.Time

	mu       sync.Mutex
	p        Progress
	queue    []span // the units still to fetch
	inflight int    // units being fetched
	mlen     uint64 // the manifest's length in bytes
}

// Run state-syncs cfg.Chain from cfg.Peers: it returns the final progress
// (Phase done) or an error (Phase failed).
func Run(ctx context.Context, cfg Config) (Progress, error) {
	if cfg.Unit <= 0 {
		cfg.Unit = UnitEntries
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	r := &run{cfg: cfg, began: time.Now(), p: Progress{Phase: "offers", Dropped: []string{}}}
	err := r.run(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.p.Seconds = time.Since(r.began).Seconds()
	if err != nil {
		r.p.Phase, r.p.Error = "failed", err.Error()
		r.report()
		return r.p, err
	}
	r.p.Phase = "done"
	r.report()
	cfg.Log.Info("state sync done", "height", r.p.Height, "entries", r.p.Entries, "bytes", r.p.Bytes, "seconds", r.p.Seconds, "dropped", r.p.Dropped)
	return r.p, nil
}

func (r *run) run(ctx context.Context) error {
	offers := r.offers(ctx)
	if len(offers) == 0 {
		return ErrNoSnapshot
	}
	best := offers[0].Height // offers are sorted, highest first
	var from []string
	for _, o := range offers {
		from = append(from, o.peer)
	}
	m, blk, err := r.manifest(ctx, offers, best)
	if err != nil {
		return err
	}
	if err := r.cfg.Chain.ClearStaged(); err != nil {
		return err
	}
	fetch := r.cfg.Chain.Fetch(m, blk.Block)
	r.mu.Lock()
	r.p.Phase, r.p.Height, r.p.Entries = "values", best, m.Len()
	r.p.Stubbed = m.Stubbed()
	r.p.Done = r.p.Stubbed
	for _, f := range fetch {
		for i := f[0]; i < f[1]; i += r.cfg.Unit {
			r.queue = append(r.queue, span{i, min(i+r.cfg.Unit, f[1])})
		}
	}
	r.mu.Unlock()
	r.cfg.Log.Info("state sync: fetching values", "height", best, "entries", m.Len(), "stubbed", r.p.Stubbed, "peers", len(from))
	if err := r.values(ctx, m, best, from); err != nil {
		return err
	}
	r.mu.Lock()
	r.p.Phase = "install"
	r.report()
	r.mu.Unlock()
	return r.cfg.Chain.InstallSnapshot(m, blk.Block, blk.Cert)
}

type offer struct {
	wire.SnapOfferAnswer
	peer string
}

// offers asks every peer for its newest snapshot and returns those above
// the chain's height whose block verifies, highest first (ties by peer).
func (r *run) offers(ctx context.Context) []offer {
	var mu sync.Mutex
	var out []offer
	var wg sync.WaitGroup
	own := r.cfg.Chain.Status().Height
	for _, p := range r.cfg.Peers {
		wg.Go(func() {
			resp, err := r.ask(ctx, p, wire.SnapRequest{Kind: wire.SnapOffer})
			if err != nil {
				r.cfg.Log.Debug("state sync: no offer", "peer", p, "err", err)
				return
			}
			a, held, err := wire.DecodeSnapOffer(resp)
			if err != nil || !held || a.Height <= own {
				r.cfg.Log.Debug("state sync: no offer", "peer", p, "held", held, "height", a.Height, "err", err)
				return
			}
			if err := r.cfg.Verify(a.Block); err != nil {
				r.cfg.Log.Warn("state sync: snapshot block does not verify", "peer", p, "height", a.Height, "err", err)
				return
			}
			mu.Lock()
			out = append(out, offer{a, p})
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b offer) int {
		if a.Height != b.Height {
			return cmp.Compare(b.Height, a.Height)
		}
		return cmp.Compare(a.peer, b.peer)
	})
	return out
}

// ask sends one request and counts the answer's bytes.
func (r *run) ask(ctx context.Context, p string, req wire.SnapRequest) ([]byte, error) {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := r.cfg.Host.Request(rctx, p, wire.SnapProto, wire.EncodeSnapRequest(req), wire.MaxSnapResponseBytes)
	r.mu.Lock()
	r.p.Bytes += int64(len(resp))
	r.mu.Unlock()
	return resp, err
}

// manifest fetches the manifest of height h from the offers of that
// height, one peer after another, until one verifies against its
// certified state hash; a peer whose manifest does not is dropped.
func (r *run) manifest(ctx context.Context, offers []offer, h uint64) (*chain.Manifest, wire.Certified, error) {
	r.mu.Lock()
	r.p.Phase = "manifest"
	r.mu.Unlock()
	for _, o := range offers {
		if o.Height != h {
			continue
		}
		b, err := r.pieces(ctx, o)
		if err != nil {
			r.cfg.Log.Debug("state sync: manifest not fetched", "peer", o.peer, "err", err)
			continue
		}
		m, err := chain.ParseManifest(b, o.Block.Block.Header.StateHash)
		if err != nil {
			r.drop(o.peer, err)
			continue
		}
		r.mlen = uint64(len(b))
		return m, o.Block, nil
	}
	return nil, wire.Certified{}, fmt.Errorf("%w: no peer served the manifest of height %d", ErrNoSnapshot, h)
}

// pieces fetches o's manifest whole.
func (r *run) pieces(ctx context.Context, o offer) ([]byte, error) {
	b := make([]byte, 0, o.ManifestLen)
	for uint64(len(b)) < o.ManifestLen {
		resp, err := r.ask(ctx, o.peer, wire.SnapRequest{Kind: wire.SnapManifest, Height: o.Height, Arg: uint64(len(b))})
		if err != nil {
			return nil, err
		}
		piece, held, err := wire.DecodeSnapPiece(resp)
		if err != nil || !held {
			return nil, fmt.Errorf("manifest piece at %d: held %v, %v", len(b), held, err)
		}
		b = append(b, piece[:min(len(piece), int(o.ManifestLen)-len(b))]...)
	}
	return b, nil
}

// drop blocks a peer that served data that does not verify.
func (r *run) drop(p string, why error) {
	r.cfg.Log.Warn("state sync: peer dropped for bad data", "peer", p, "err", why)
	if err := r.cfg.Host.Block(p); err != nil {
		r.cfg.Log.Debug("state sync: block peer", "peer", p, "err", err)
	}
	r.mu.Lock()
	r.p.Dropped = append(r.p.Dropped, p)
	r.mu.Unlock()
}

// report hands the progress to OnProgress (r.mu held).
func (r *run) report() {
	if r.cfg.OnProgress != nil {
		p := r.p
		p.Dropped = slices.Clone(p.Dropped)
		p.Seconds = time.Since(r.began).Seconds()
		r.cfg.OnProgress(p)
	}
}
