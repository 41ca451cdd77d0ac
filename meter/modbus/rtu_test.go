package modbus

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridmesh/gridmesh/configs/meters"
	"github.com/gridmesh/gridmesh/meter/serial/serialtest"
)

// serialLine returns a Line on one end of a socat pair and the test device
// serving RTU on the other.
func serialLine(t *testing.T, cfg SerialConfig) (*Line, *device, *serialtest.Pair) {
	t.Helper()
	pair := serialtest.NewPair(t)
	d := newSerialDevice(t, pair.B)
	cfg.Device = pair.A
	l, err := NewLine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, d, pair
}

// TestRTUSerialBus puts every profile on its own unit of one RS-485 line
// (a socat pair) and reads them all at once through one Line.
func TestRTUSerialBus(t *testing.T) {
	l, d, _ := serialLine(t, SerialConfig{Baud: 115200, Timeout: 2 * time.Second})
	ps, err := LoadProfiles(meters.FS)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		loadUnit(t, d, byte(i+1), p)
	}
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := NewMeter(l, byte(i+1), p)
			got, err := m.Read(t.Context())
			if err != nil {
				t.Errorf("%s (unit %d): %v", p.Name, i+1, err)
				return
			}
			if diff := cmp.Diff(expect(p), got); diff != "" {
				t.Errorf("%s (unit %d) (-want +got):\n%s", p.Name, i+1, diff)
			}
		}()
	}
	wg.Wait()
	// Nobody answers for a unit that is not on the line.
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	_, err = l.ReadRegisters(ctx, 200, FuncInput, 0, 2)
	if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("read from an absent unit: err = %v, want a deadline error", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("read from an absent unit took %v, want about 150 ms", el)
	}
}

// TestRTUPacing checks the line gap and the per-device gap at the device.
func TestRTUPacing(t *testing.T) {
	const devGap = 40 * time.Millisecond
	l, d, _ := serialLine(t, SerialConfig{Baud: 9600, DeviceGap: devGap, Gap: 10 * time.Millisecond})
	p, _ := testProfile("sdm630") // 4 blocks per read
	loadUnit(t, d, 1, p)
	loadUnit(t, d, 2, p)
	var wg sync.WaitGroup
	for u := byte(1); u <= 2; u++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := NewMeter(l, u, p).Read(t.Context()); err != nil {
				t.Errorf("unit %d: %v", u, err)
			}
		}()
	}
	wg.Wait()
	d.mu.Lock()
	arr := append([]arrival(nil), d.arrivals...)
	d.mu.Unlock()
	if len(arr) != 8 {
		t.Fatalf("device saw %d requests, want 8", len(arr))
	}
	last := map[byte]time.Time{}
	for i, a := range arr {
		// Between two requests: the answer (at 9600 baud, >= 5 ms) plus
		// the gap; allow scheduling slack below the gap, never above.
		if i > 0 {
			if el := a.at.Sub(arr[i-1].at); el < 10*time.Millisecond {
				t.Errorf("request %d came %v after the previous one, want >= the 10 ms line gap", i, el)
			}
		}
		if prev, ok := last[a.unit]; ok {
			if el := a.at.Sub(prev); el < devGap {
				t.Errorf("unit %d asked again after %v, want >= %v", a.unit, el, devGap)
			}
		}
		last[a.unit] = a.at
	}
}

// TestRTUTimeoutRetry: a silent device costs Timeout per attempt; a garbled
// answer is retried; an exception is not.
func TestRTUTimeoutRetry(t *testing.T) {
	l, d, _ := serialLine(t, SerialConfig{Baud: 38400, Timeout: 100 * time.Millisecond, Retries: 2})
	p, _ := testProfile("sdm120")
	loadUnit(t, d, 7, p)

	start := time.Now()
	_, err := l.ReadRegisters(t.Context(), 8, FuncInput, 0, 2)
	if !errors.Is(err, ErrNoAnswer) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("silent unit: err = %v, want ErrNoAnswer and a deadline error", err)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 2*time.Second {
		t.Errorf("3 attempts of 100 ms took %v", el)
	}
	if n := d.count(); n != 3 {
		t.Errorf("device saw %d requests, want 3 (1 + 2 retries)", n)
	}

	d.mu.Lock()
	d.corrupt = 2
	d.mu.Unlock()
	if _, err := NewMeter(l, 7, p).Read(t.Context()); err != nil {
		t.Errorf("Read with 2 garbled answers and 2 retries: %v", err)
	}

	d.mu.Lock()
	d.corrupt, d.exception, d.requests = 0, 2, 0
	d.mu.Unlock()
	_, err = l.ReadRegisters(t.Context(), 7, FuncInput, 0, 2)
	var exc *ExceptionError
	if !errors.As(err, &exc) || exc.Code != 2 {
		t.Errorf("exception: err = %v", err)
	}
	if n := d.count(); n != 1 {
		t.Errorf("device saw %d requests for an exception, want 1", n)
	}
}

// TestRTUReconnect: the port vanishes (socat ends, as an unplugged USB
// adapter) and comes back; the Line reopens it.
func TestRTUReconnect(t *testing.T) {
	l, d, pair := serialLine(t, SerialConfig{Baud: 115200, Timeout: 300 * time.Millisecond})
	p, _ := testProfile("sdm72")
	loadUnit(t, d, 1, p)
	m := NewMeter(l, 1, p)
	if _, err := m.Read(t.Context()); err != nil {
		t.Fatal(err)
	}
	pair.Stop()
	d.dropConns()
	if _, err := m.Read(t.Context()); err == nil {
		t.Fatal("Read with the port gone: err = nil")
	}
	pair.Start()
	d.serveSerial(pair.B)
	got, err := m.Read(t.Context())
	if err != nil {
		t.Fatalf("Read after the port came back: %v", err)
	}
	if diff := cmp.Diff(expect(p), got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSerialConfig(t *testing.T) {
	if _, err := NewLine(SerialConfig{}); err == nil {
		t.Error("NewLine without a device: err = nil")
	}
	_, err := NewLine(SerialConfig{Device: "/dev/null", Baud: 1, DataBits: 6, Parity: "X", StopBits: 3})
	for _, w := range []string{"baud", "data bits", "parity", "stop bits"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("bad config: err = %v, want it to mention %q", err, w)
		}
	}
	l, _ := NewLine(SerialConfig{Device: "/dev/x"})
	c := l.Config()
	if c.Baud != 9600 || c.Retries != 1 || c.Gap != frameGap(9600) || c.Timeout != time.Second {
		t.Errorf("defaults = %+v", c)
	}
	if g := frameGap(9600); g < 4*time.Millisecond || g > 4100*time.Microsecond {
		t.Errorf("frameGap(9600) = %v, want 3.5 × 11 bits ≈ 4.01 ms", g)
	}
	if g := frameGap(115200); g != 1750*time.Microsecond {
		t.Errorf("frameGap(115200) = %v, want the 1.75 ms floor", g)
	}
	// A device that does not exist: a clear error, no hang.
	l, _ = NewLine(SerialConfig{Device: "/nonexistent/tty", Retries: -1})
	if _, err := l.ReadRegisters(t.Context(), 1, FuncInput, 0, 2); err == nil || !strings.Contains(err.Error(), "open") {
		t.Errorf("missing device: err = %v", err)
	}
}
