package meter

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gridmesh/gridmesh/unit"
)

// scriptReader is a test double of the Reader port: call k returns step(k).
type scriptReader struct {
	mu    sync.Mutex
	calls int
	step  func(ctx context.Context, k int) (Reading, error)
}

func (s *scriptReader) Read(ctx context.Context) (Reading, error) {
	s.mu.Lock()
	k := s.calls
	s.calls++
	s.mu.Unlock()
	return s.step(ctx, k)
}

func TestSamplerRejectsAndSurvives(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		j := openT(t, dir) // inside the bubble: badger's goroutines must be too
		defer j.Close()
		start := time.Now()
		at := func(k int) time.Time { return start.Add(time.Duration(k) * 10 * time.Second) }
		errMeter := errors.New("no answer")
		rd := &scriptReader{step: func(ctx context.Context, k int) (Reading, error) {
			r := Reading{Time: time.Now(), Import: 1000, Export: 0, Power: 500}
			switch k {
			case 0: // accepted
			case 1:
				r.Import = 1001 // accepted
			case 2:
				return Reading{}, errMeter
			case 3: // hangs until the sampler's per-read timeout
				<-ctx.Done()
				return Reading{}, ctx.Err()
			case 4:
				r.Import = 1002 // accepted: the meter is back
			case 5:
				r.Import = 1001 // backwards
			case 6:
				r.Import = 1002 + 60 // 20 s at 10 kW allows 57 Wh: jump
			case 7:
				r.Import, r.Power = 1003, 10_001 // overpower
			case 8:
				r.Import, r.Time = 1003, at(4) // not after the last accepted: stale
			case 9:
				r.Import, r.Flags = 1003, Stale // flagged stale by the driver
			case 10:
				r.Import, r.Export = 1002+56, 1 // 60 s since call 4 allows 168 Wh: accepted
			case 11:
				r.Import, r.Time = 1060, time.Now().Add(6*time.Minute) // meter clock ahead
			default:
				r.Import, r.Export = 1078, 1
				r.Time = time.Time{} // the sampler stamps it
				if k > 12 {
					return Reading{}, errMeter
				}
			}
			return r, nil
		}}
		s := NewSampler(rd, j, SamplerConfig{Interval: 10 * time.Second, MaxPower: 10_000}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		time.Sleep(145 * time.Second) // calls 0..14
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run returned %v, want nil on cancel", err)
		}
		got := s.Stats()
		want := Stats{Accepted: 5, Backwards: 1, Jump: 1, Overpower: 1, Stale: 2, Future: 1, Errors: 4, Failing: 2,
			LastError: errMeter.Error(), Last: at(12)}
		if got != want {
			t.Errorf("Stats =\n %+v\nwant\n %+v", got, want)
		}
		if got.Rejected() != 6 {
			t.Errorf("Rejected() = %d, want 6", got.Rejected())
		}
		if n := j.Len(); n != 5 {
			t.Errorf("journal Len = %d, want 5", n)
		}
		if last, _ := j.Last(); last.Import != 1078 || !last.Time.Equal(at(12)) {
			t.Errorf("journal Last = %+v, want import 1078 at %v", last, at(12))
		}
		if err := j.Verify(); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
}

// TestSamplerResumes checks that a new sampler checks its first reading
// against the journal's last entry (a restart).
func TestSamplerResumes(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		j := openT(t, dir)
		defer j.Close()
		if err := j.Append(Reading{Time: time.Now().Add(-time.Minute), Import: 5000}); err != nil {
			t.Fatal(err)
		}
		rd := &scriptReader{step: func(ctx context.Context, k int) (Reading, error) {
			return Reading{Time: time.Now(), Import: 4999 + 2*500*int64Wh(k)}, nil
		}}
		s := NewSampler(rd, j, SamplerConfig{Interval: time.Minute}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		time.Sleep(90 * time.Second) // reads at 0 (4999: backwards) and 60 s (5999)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := s.Stats(); got.Backwards != 1 || got.Accepted != 1 {
			t.Errorf("Stats = %+v, want 1 backwards, 1 accepted", got)
		}
	})
}

func int64Wh(k int) unit.Wh { return unit.Wh(k) }

func TestSamplerBadInterval(t *testing.T) {
	s := NewSampler(&scriptReader{}, nil, SamplerConfig{}, nil)
	if err := s.Run(t.Context()); err == nil {
		t.Error("Run with zero interval: err = nil")
	}
}

func TestMaxGrowth(t *testing.T) {
	tests := []struct {
		p    unit.W
		d    time.Duration
		want uint64
	}{
		{3600, time.Second, 2},             // 1 Wh + 1
		{3600, 1500 * time.Millisecond, 3}, // ceil(1.5) + 1
		{10_000, time.Hour, 10_001},
		{0, time.Hour, 1},
		{1 << 62, 1 << 62, 1<<64 - 1}, // saturates
	}
	for _, tc := range tests {
		if got := maxGrowth(tc.p, tc.d); got != tc.want {
			t.Errorf("maxGrowth(%d, %v) = %d, want %d", tc.p, tc.d, got, tc.want)
		}
	}
}

func TestFlagsString(t *testing.T) {
	if got, want := (Simulated | Stale | 1<<20).String(), "simulated|stale|0x100000"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
