package homeassistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/meter/mqtt/mqtttest"
)

// watcher records every message per topic.
type watcher struct {
	mu   sync.Mutex
	msgs map[string][]paho.Message
}

func watch(t *testing.T, url string, filters ...string) *watcher {
	t.Helper()
	w := &watcher{msgs: map[string][]paho.Message{}}
	record := func(_ paho.Client, m paho.Message) {
		w.mu.Lock()
		w.msgs[m.Topic()] = append(w.msgs[m.Topic()], m)
		w.mu.Unlock()
	}
	// The default handler sees every message, also retained ones the
	// broker sends before paho has routed the subscription.
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("watch-%d", time.Now().UnixNano())).
		SetDefaultPublishHandler(record)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	for _, f := range filters {
		// QoS 0: mochi v2.7.9 drops QoS 1 deliveries to a paho client
		// after a burst (its send quota), which is not what is tested here.
		tok := c.Subscribe(f, 0, nil)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tok.Error())
		}
	}
	return w
}

// forget drops what was seen on topic.
func (w *watcher) forget(topic string) {
	w.mu.Lock()
	delete(w.msgs, topic)
	w.mu.Unlock()
}

// wait returns the first message on topic for which cond holds (any
// message if cond is nil), waiting up to 10 s.
func (w *watcher) wait(t *testing.T, topic string, cond func(m paho.Message) bool) paho.Message {
	t.Helper()
	m, _ := w.waitAfter(t, topic, 0, cond)
	return m
}

// waitAfter is wait for messages after the first skip ones; it also
// returns the index of the message found.
func (w *watcher) waitAfter(t *testing.T, topic string, skip int, cond func(m paho.Message) bool) (paho.Message, int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		ms := w.msgs[topic]
		w.mu.Unlock()
		for i := skip; i < len(ms); i++ {
			if cond == nil || cond(ms[i]) {
				return ms[i], i
			}
		}
		if time.Now().After(deadline) {
			var got []string
			for _, m := range ms {
				got = append(got, string(m.Payload()))
			}
			t.Fatalf("%s: nothing matching after %d messages; got %q", topic, skip, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func payloadIs(s string) func(paho.Message) bool {
	return func(m paho.Message) bool { return string(m.Payload()) == s }
}

func newPublisher(t *testing.T, cfg Config) *Publisher {
	t.Helper()
	cfg.MaxReconnect = time.Second
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDiscovery(t *testing.T) {
	b := mqtttest.Embedded(t)
	live := watch(t, b.URL(), "homeassistant/#", "gridmesh/#")
	p := newPublisher(t, Config{Broker: b.URL(), Node: "home-12ab", Version: "0.1.0"})
	live.wait(t, "gridmesh/home-12ab/availability", payloadIs("online"))

	// A client that subscribes later gets the configs from the broker's
	// retained store: they are retained.
	late := watch(t, b.URL(), "homeassistant/sensor/home-12ab/+/config", "gridmesh/home-12ab/availability")
	want := map[string]struct{ class, state, unit string }{
		"import_energy":    {"energy", "total_increasing", "kWh"},
		"export_energy":    {"energy", "total_increasing", "kWh"},
		"power":            {"power", "measurement", "W"},
		"sold_energy":      {"energy", "total_increasing", "kWh"},
		"bought_energy":    {"energy", "total_increasing", "kWh"},
		"balance":          {"monetary", "total", "EUR"},
		"clearing_price":   {"", "measurement", "EUR/kWh"},
		"indicative_price": {"", "measurement", "EUR/kWh"},
		"chain_height":     {"", "measurement", ""},
		"peers":            {"", "measurement", ""},
	}
	if len(p.Sensors()) != len(want) {
		t.Fatalf("sensors %v, want %d", p.Sensors(), len(want))
	}
	for obj, w := range want {
		topic := "homeassistant/sensor/home-12ab/" + obj + "/config"
		m := late.wait(t, topic, nil)
		if !m.Retained() {
			t.Errorf("%s: not retained", topic)
		}
		var d Discovery
		dec := json.NewDecoder(bytesReader(m.Payload()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: %v: %s", topic, err, m.Payload())
		}
		if d.DeviceClass != w.class || d.StateClass != w.state || d.Unit != w.unit {
			t.Errorf("%s: class %q state_class %q unit %q, want %q %q %q", obj, d.DeviceClass, d.StateClass, d.Unit, w.class, w.state, w.unit)
		}
		if d.UniqueID != "gridmesh_home-12ab_"+obj || d.AvailabilityTopic != "gridmesh/home-12ab/availability" ||
			d.PayloadAvailable != "online" || d.PayloadNotAvailable != "offline" ||
			len(d.Device.Identifiers) != 1 || d.Device.Identifiers[0] != "gridmesh_home-12ab" || d.Device.SWVersion != "0.1.0" {
			t.Errorf("%s: %+v", obj, d)
		}
	}
	if m := late.wait(t, "gridmesh/home-12ab/availability", payloadIs("online")); !m.Retained() {
		t.Error("availability not retained")
	}

	// States: exact decimals, in the topics and keys the configs name.
	ctx := context.Background()
	if err := p.PublishReading(ctx, meter.Reading{Import: 1_234_567, Export: 5, Power: -1500, Time: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	live.wait(t, "gridmesh/home-12ab/meter", payloadIs(`{"import":1234.567,"export":0.005,"power":-1500,"time":"2026-11-22T12:00:00Z"}`))
	if err := p.PublishState(ctx, State{Sold: 2500, Bought: 0, Balance: -1_234_500, Price: 185_000, Indicative: 170_500, Height: 42, Peers: 3, Slot: 1_960_000}); err != nil {
		t.Fatal(err)
	}
	live.wait(t, "gridmesh/home-12ab/trading", payloadIs(`{"sold":2.500,"bought":0.000,"balance":-1.234500,"price":0.185000,"indicative_price":0.170500,"height":42,"peers":3,"slot":1960000}`))

	// Every config's template names a key its state topic carries.
	states := map[string]map[string]any{}
	for _, topic := range []string{"meter", "trading"} {
		var v map[string]any
		json.Unmarshal(live.wait(t, "gridmesh/home-12ab/"+topic, nil).Payload(), &v)
		states["gridmesh/home-12ab/"+topic] = v
	}
	for _, s := range p.sensors {
		d := p.discovery(s)
		if _, ok := states[d.StateTopic][s.key]; !ok || d.ValueTemplate != "{{ value_json."+s.key+" }}" {
			t.Errorf("%s: template %q on %s: key not published", s.object, d.ValueTemplate, d.StateTopic)
		}
	}

	// Home Assistant restarts and announces itself: configs come again.
	live.forget("homeassistant/sensor/home-12ab/power/config")
	pub := mqtttest.Client(t, b.URL())
	mqtttest.Publish(t, pub, "homeassistant/status", []byte("online"))
	live.wait(t, "homeassistant/sensor/home-12ab/power/config", nil)

	// Close says offline.
	p.Close()
	live.wait(t, "gridmesh/home-12ab/availability", payloadIs("offline"))
}

// TestLastWill: when the connection drops without a goodbye, the broker
// publishes "offline"; the publisher reconnects and says "online" again.
func TestLastWill(t *testing.T) {
	b := mqtttest.Embedded(t)
	live := watch(t, b.URL(), "gridmesh/#")
	// The publisher reaches the broker through a pipe the test can cut: the
	// broker sees its connection close, paho sees end of file.
	var mu sync.Mutex
	var cut []io.Closer
	dial := func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		bc, err := net.Dial("tcp", u.Host)
		if err != nil {
			return nil, err
		}
		a, z := net.Pipe()
		go io.Copy(bc, z)
		go io.Copy(z, bc)
		mu.Lock()
		cut = append(cut, bc, z)
		mu.Unlock()
		return a, nil
	}
	p := newPublisher(t, Config{Broker: b.URL(), Node: "n1", EnergyUnit: "Wh", dial: dial})
	live.wait(t, "gridmesh/n1/availability", payloadIs("online"))
	if err := p.PublishReading(context.Background(), meter.Reading{Import: 10, Export: 2, Power: 7}); err != nil {
		t.Fatal(err)
	}
	live.wait(t, "gridmesh/n1/meter", payloadIs(`{"import":10,"export":2,"power":7}`))
	live.forget("gridmesh/n1/meter")
	live.forget("gridmesh/n1/availability")

	mu.Lock()
	for _, c := range cut {
		c.Close()
	}
	mu.Unlock()
	_, i := live.waitAfter(t, "gridmesh/n1/availability", 0, payloadIs("offline"))
	live.waitAfter(t, "gridmesh/n1/availability", i+1, payloadIs("online"))
	// The last reading is sent again after the reconnection.
	live.wait(t, "gridmesh/n1/meter", payloadIs(`{"import":10,"export":2,"power":7}`))
}

func TestBrokerRestart(t *testing.T) {
	mqtttest.Each(t, func(t *testing.T, b mqtttest.Broker) {
		p := newPublisher(t, Config{Broker: b.URL(), Node: "n2"})
		b.Restart(t) // a broker without persistence: retained configs are gone
		live := watch(t, b.URL(), "homeassistant/#", "gridmesh/#")
		live.wait(t, "homeassistant/sensor/n2/import_energy/config", nil)
		live.wait(t, "gridmesh/n2/availability", payloadIs("online"))
		_ = p
	})
}

func TestNotConnected(t *testing.T) {
	p, err := New(Config{Broker: "tcp://127.0.0.1:1", Node: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.PublishReading(context.Background(), meter.Reading{}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("got %v, want ErrNotConnected", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{Node: "x"},
		{Broker: "tcp://h:1"},
		{Broker: "tcp://h:1", Node: "a/b"},
		{Broker: "tcp://h:1", Node: "a+"},
		{Broker: "tcp://h:1", Node: "x", EnergyUnit: "MWh"},
	} {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: got %v, want ErrConfig", c, err)
		}
	}
}

func TestDecimal(t *testing.T) {
	for _, tc := range []struct {
		v      int64
		places int
		want   string
	}{
		{1_234_567, 3, "1234.567"}, {5, 3, "0.005"}, {0, 3, "0.000"}, {-1_234_500, 6, "-1.234500"},
		{-9223372036854775808, 6, "-9223372036854.775808"}, {999, 3, "0.999"}, {1000, 3, "1.000"},
	} {
		if got := decimal(tc.v, tc.places); string(got) != tc.want {
			t.Errorf("decimal(%d, %d) = %s, want %s", tc.v, tc.places, got, tc.want)
		}
	}
}
