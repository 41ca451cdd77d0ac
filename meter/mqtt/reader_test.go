package mqtt

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/meter/mqtt/mqtttest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newReader(t *testing.T, cfg Config) *Reader {
	t.Helper()
	cfg.MaxReconnect = time.Second
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

func read(t *testing.T, r *Reader) meter.Reading {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rd, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTasmotaThroughBroker: values arrive, a bad payload is counted and
// changes nothing, and after a broker restart (which forgets every
// subscription) new values arrive without the test resubscribing.
func TestTasmotaThroughBroker(t *testing.T) {
	mqtttest.Each(t, func(t *testing.T, b mqtttest.Broker) {
		r := newReader(t, Config{Broker: b.URL(), Topic: "tasmota_5A1B2C", Format: Tasmota, Stale: time.Minute})
		pub := mqtttest.Client(t, b.URL())
		mqtttest.Publish(t, pub, "tele/tasmota_5A1B2C/SENSOR", []byte(tasmotaPow))
		got := read(t, r)
		if got.Import != 1_234_567 || got.Export != 0 || got.Power != 456 || got.Serial != "tasmota_5A1B2C" || got.Flags != meter.NoExport {
			t.Fatalf("got %+v, want import 1234567 Wh, power 456 W, serial tasmota_5A1B2C, flags no-export", got)
		}

		mqtttest.Publish(t, pub, "tele/tasmota_5A1B2C/SENSOR", []byte(`{"ENERGY":{"Total":"x"}}`))
		mqtttest.Publish(t, pub, "tele/tasmota_5A1B2C/SENSOR", []byte{0xff, 0x00})
		waitFor(t, "2 bad payloads", func() bool { return r.Stats().Bad == 2 })
		if again := read(t, r); again != got {
			t.Fatalf("after bad payloads: got %+v, want %+v", again, got)
		}

		b.Restart(t)
		waitFor(t, "new value after broker restart", func() bool {
			// The publisher reconnects too: publish until a message arrives.
			pub.Publish("tele/tasmota_5A1B2C/SENSOR", 0, false, `{"ENERGY":{"Total":1300,"Power":10}}`).WaitTimeout(time.Second)
			time.Sleep(50 * time.Millisecond)
			return read(t, r).Import == 1_300_000
		})
		if s := r.Stats(); s.Connects < 2 || s.Bad != 2 {
			t.Fatalf("stats %+v: want >= 2 connects, 2 bad", s)
		}
	})
}

func TestShellyThroughBroker(t *testing.T) {
	mqtttest.Each(t, func(t *testing.T, b mqtttest.Broker) {
		r := newReader(t, Config{Broker: b.URL(), Topic: "shellypro3em-c8f09e8a1b2c", Format: Shelly})
		pub := mqtttest.Client(t, b.URL())
		mqtttest.Publish(t, pub, "shellypro3em-c8f09e8a1b2c/events/rpc", []byte(shellyEM))
		mqtttest.Publish(t, pub, "shellypro3em-c8f09e8a1b2c/events/rpc", []byte(shellyData))
		waitFor(t, "2 messages", func() bool { return r.Stats().Messages == 2 })
		got := read(t, r)
		want := meter.Reading{
			Time: got.Time, Import: 8_765_432, Export: 123_456, Power: 150,
			Serial: "shellypro3em-c8f09e8a1b2c", Flags: meter.PhasesValid,
			Phases: [3]meter.Phase{{Voltage: 230_100, Current: 1234, Power: 250}, {Voltage: 231_000, Current: 500, Power: -100}, {Voltage: 229_900}},
		}
		if got != want {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
		mqtttest.Publish(t, pub, "shellypro3em-c8f09e8a1b2c/status/emdata:0", []byte(`{"id":0,"total_act":8765500,"total_act_ret":123456}`))
		waitFor(t, "status update", func() bool { return read(t, r).Import == 8_765_500 })
	})
}

func TestGenericThroughBroker(t *testing.T) {
	b := mqtttest.Embedded(t)
	r := newReader(t, Config{Broker: b.URL(), Topic: "home/meter", Format: JSON, Serial: "m1",
		Paths: Generic{ImportPath: "e.in", ExportPath: "e.out", PowerPath: "p", EnergyUnit: "kWh", PowerUnit: "W"}})
	pub := mqtttest.Client(t, b.URL())
	mqtttest.Publish(t, pub, "home/meter", []byte(`{"e":{"in":1.5,"out":"0.25"},"p":-300}`))
	got := read(t, r)
	if got.Import != 1500 || got.Export != 250 || got.Power != -300 || got.Serial != "m1" || got.Flags != 0 {
		t.Fatalf("got %+v, want 1500 Wh, 250 Wh, -300 W, serial m1, no flags", got)
	}
}

// TestStale uses apply directly with a test clock: no broker needed.
func TestStale(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	b := mqtttest.Embedded(t)
	r := newReader(t, Config{Broker: b.URL(), Topic: "m", Format: JSON, Stale: time.Minute, Now: clk.Now,
		Paths: Generic{ImportPath: "e", PowerPath: "p", EnergyUnit: "Wh"}})
	r.apply("m", []byte(`{"e":10,"p":5}`))
	clk.Add(30 * time.Second)
	r.apply("m", []byte(`{"e":11}`)) // counters only
	clk.Add(45 * time.Second)        // power 75 s old, counters 45 s
	got := read(t, r)
	if got.Import != 11 || got.Power != 0 || got.Flags != meter.NoExport|meter.NoPower || !got.Time.Equal(clk.Now().Add(-45*time.Second)) {
		t.Fatalf("got %+v, want import 11, power stale (0, no-power), time of the last counters", got)
	}
	clk.Add(16 * time.Second)
	if _, err := r.Read(context.Background()); !errors.Is(err, ErrStale) {
		t.Fatalf("counters 61 s old, stale 60 s: got %v, want ErrStale", err)
	}
	r.apply("m", []byte(`{"e":12}`))
	if got := read(t, r); got.Import != 12 {
		t.Fatalf("after a fresh message: got %v, want 12 Wh", got.Import)
	}
}

func TestReadNoMessage(t *testing.T) {
	b := mqtttest.Embedded(t)
	r := newReader(t, Config{Broker: b.URL(), Topic: "none", Format: Tasmota})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := r.Read(ctx)
	if !errors.Is(err, ErrNoMessage) || !strings.Contains(err.Error(), "tele/none/SENSOR (connected to tcp://") {
		t.Fatalf("got %v, want ErrNoMessage naming the topic and the connected broker", err)
	}
	// A broker that is not there: New succeeds, Read says so.
	r2, err := New(Config{Broker: "tcp://127.0.0.1:1", Topic: "x", Format: Tasmota})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	_, err = r2.Read(ctx)
	if !errors.Is(err, ErrNoMessage) || !strings.Contains(err.Error(), "not connected to tcp://127.0.0.1:1") {
		t.Fatalf("got %v, want ErrNoMessage saying not connected", err)
	}
}

func TestConfig(t *testing.T) {
	bad := []Config{
		{Topic: "x", Format: Tasmota},
		{Broker: "tcp://h:1", Format: Tasmota},
		{Broker: "tcp://h:1", Topic: "tele/+/SENSOR", Format: Tasmota},
		{Broker: "tcp://h:1", Topic: "x", Format: "sdm"},
		{Broker: "tcp://h:1", Topic: "x", Format: JSON},
		{Broker: "tcp://h:1", Topic: "x", Format: JSON, Paths: Generic{ImportPath: "a", EnergyUnit: "MWh"}},
		{Broker: "tcp://h:1", Topic: "x", Format: JSON, Paths: Generic{ImportPath: "a", EnergyUnit: "Wh", PowerUnit: "VA"}},
	}
	for _, c := range bad {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v, want ErrConfig", c, err)
		}
	}
	topics := []struct {
		c    Config
		want string
	}{
		{Config{Format: Tasmota, Topic: "plug"}, "tele/plug/SENSOR"},
		{Config{Format: Tasmota, Topic: "home/tele/plug/SENSOR"}, "home/tele/plug/SENSOR"},
		{Config{Format: Shelly, Topic: "s"}, "s/events/rpc s/status/em:0 s/status/emdata:0"},
		{Config{Format: JSON, Topic: "a/b"}, "a/b"},
	}
	for _, tc := range topics {
		if got := strings.Join(tc.c.Topics(), " "); got != tc.want {
			t.Errorf("%s %q: topics %q, want %q", tc.c.Format, tc.c.Topic, got, tc.want)
		}
	}
}
