package meter

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestPusher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPusher(nil)
		// Nothing pushed: Read waits for the deadline.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := p.Read(ctx)
		cancel()
		if !errors.Is(err, ErrNoReading) {
			t.Fatalf("Read with nothing pushed: err = %v, want ErrNoReading", err)
		}
		// A reading pushed while Read waits is returned, stamped at push time.
		go func() {
			time.Sleep(3 * time.Second)
			p.Push(Reading{Import: 7}, nil)
		}()
		start := time.Now()
		r, err := p.Read(t.Context())
		if err != nil || r.Import != 7 || !r.Time.Equal(start.Add(3*time.Second)) {
			t.Fatalf("Read = %+v, %v; want import 7 stamped at +3s", r, err)
		}
		// The same reading is not returned twice; a telegram error is reported.
		p.Push(Reading{}, errors.New("crc mismatch"))
		ctx, cancel = context.WithTimeout(t.Context(), time.Second)
		_, err = p.Read(ctx)
		cancel()
		if !errors.Is(err, ErrNoReading) || err.Error() == ErrNoReading.Error() {
			t.Fatalf("Read after a bad telegram: err = %v, want ErrNoReading with the crc error", err)
		}
		// Two pushes between reads: the newer wins.
		p.Push(Reading{Import: 8, Time: start}, nil)
		p.Push(Reading{Import: 9, Time: start}, nil)
		if r, _ := p.Read(t.Context()); r.Import != 9 {
			t.Errorf("Read = %+v, want the newest (import 9)", r)
		}
	})
}
