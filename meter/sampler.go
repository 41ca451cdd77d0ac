package meter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/bits"
	"sync"
	"time"

	"github.com/gridmesh/gridmesh/unit"
)

// SamplerConfig configures a Sampler.
type SamplerConfig struct {
	// Interval between reads; each read gets this long to answer. Must be > 0.
	Interval time.Duration
	// MaxPower is the connection's rating (e.g. 3×25 A at 230 V ≈ 17 kW).
	// Readings whose |Power| exceeds it, or whose counters grew faster than
	// it allows over the elapsed time, are rejected. 0 disables both checks.
	MaxPower unit.W
	// MaxSkew is how far a reading's time may lie ahead of the sampler's
	// clock (meters that send their own time); 0 means 5 minutes. A reading
	// from the future would make every later reading look stale.
	MaxSkew time.Duration
}

// Stats counts what the sampler did since it was created.
type Stats struct {
	Accepted uint64 // readings appended to the journal
	// Rejections, one counter per reason:
	Backwards uint64 // a counter below the last accepted reading's
	Jump      uint64 // counters grew more than MaxPower allows over the elapsed time
	Overpower uint64 // |Power| above MaxPower
	Stale     uint64 // time not after the last accepted reading's, or flagged Stale
	Future    uint64 // time more than MaxSkew ahead of the sampler's clock
	// Errors counts failed reads (the meter did not answer or answered garbage).
	Errors uint64
	// Failing is the number of consecutive failed reads up to now (0 = the
	// meter answers); LastError is the latest read error's text ("" if none).
	Failing   uint64
	LastError string
	// Last is the time of the last accepted reading (zero if none).
	Last time.Time
}

// Rejected is the total of all rejection counters.
func (s Stats) Rejected() uint64 { return s.Backwards + s.Jump + s.Overpower + s.Stale + s.Future }

// Sampler polls a Reader and appends plausible readings to a Journal.
type Sampler struct {
	r   Reader
	j   *Journal
	cfg SamplerConfig
	log *slog.Logger

	mu    sync.Mutex
	stats Stats
}

// NewSampler returns a sampler that reads r every cfg.Interval and appends to
// j. log may be nil (no logging). The sampler resumes from j.Last(): after a
// restart the first reading is checked against the journal's last entry.
func NewSampler(r Reader, j *Journal, cfg SamplerConfig, log *slog.Logger) *Sampler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sampler{r: r, j: j, cfg: cfg, log: log}
}

// Stats returns a snapshot of the counters.
func (s *Sampler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run reads once at once and then at every tick of a time.Ticker until ctx is
// done, when it returns nil. A failing meter is retried at every tick forever
// (logged once when it starts failing and once when it comes back). Run
// returns an error only if the configuration is invalid or the journal fails
// to append (the node must not attest from a journal it cannot write).
func (s *Sampler) Run(ctx context.Context) error {
	if s.cfg.Interval <= 0 {
		return errors.New("meter: sampler interval must be positive")
	}
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if err := s.poll(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// poll does one read and, if plausible, one append.
func (s *Sampler) poll(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Interval)
	r, err := s.r.Read(rctx)
	cancel()
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		s.mu.Lock()
		s.stats.Errors++
		s.stats.Failing++
		s.stats.LastError = err.Error()
		first := s.stats.Failing == 1
		s.mu.Unlock()
		if first {
			s.log.Warn("meter read failed", "err", err)
		}
		return nil
	}
	now := time.Now()
	if r.Time.IsZero() {
		r.Time = now
	}
	s.mu.Lock()
	if s.stats.Failing > 0 {
		s.log.Info("meter answers again", "failed_reads", s.stats.Failing)
		s.stats.Failing = 0
	}
	s.mu.Unlock()

	last, ok := s.j.Last()
	reason := s.check(last, ok, r, now)
	if reason != nil {
		s.mu.Lock()
		*reason++
		s.mu.Unlock()
		return nil
	}
	if err := s.j.Append(r); err != nil {
		if errors.Is(err, ErrOutOfOrder) || errors.Is(err, ErrBackwards) || errors.Is(err, ErrTime) {
			// Raced with another writer, or a time the journal cannot hold:
			// not this reading's turn.
			s.mu.Lock()
			s.stats.Stale++
			s.mu.Unlock()
			return nil
		}
		return fmt.Errorf("meter: sampler: %w", err)
	}
	s.mu.Lock()
	s.stats.Accepted++
	s.stats.Last = r.Time
	s.mu.Unlock()
	return nil
}

// check returns the counter to increment if r is implausible, or nil.
func (s *Sampler) check(last Reading, haveLast bool, r Reading, now time.Time) *uint64 {
	st := &s.stats
	if r.Flags&Stale != 0 || !timeOK(r.Time) {
		return &st.Stale
	}
	skew := s.cfg.MaxSkew
	if skew <= 0 {
		skew = 5 * time.Minute
	}
	if r.Time.After(now.Add(skew)) {
		return &st.Future
	}
	maxP := int64(s.cfg.MaxPower)
	if maxP > 0 && (int64(r.Power) > maxP || int64(r.Power) < -maxP) {
		return &st.Overpower
	}
	if !haveLast {
		return nil
	}
	if !r.Time.After(last.Time) {
		return &st.Stale
	}
	if r.Import < last.Import || r.Export < last.Export {
		return &st.Backwards
	}
	if maxP > 0 {
		grown := uint64(r.Import-last.Import) + uint64(r.Export-last.Export)
		if grown > maxGrowth(s.cfg.MaxPower, r.Time.Sub(last.Time)) {
			return &st.Jump
		}
	}
	return nil
}

// maxGrowth is the most energy (Wh) a connection rated p can pass in d:
// ceil(p × d / 1 h) plus 1 Wh for the counters' resolution, saturating.
func maxGrowth(p unit.W, d time.Duration) uint64 {
	const hour = uint64(time.Hour)
	hi, lo := bits.Mul64(uint64(p), uint64(d))
	lo, carry := bits.Add64(lo, hour-1, 0)
	hi += carry
	if hi >= hour {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, hour)
	if q == math.MaxUint64 {
		return q
	}
	return q + 1
}
