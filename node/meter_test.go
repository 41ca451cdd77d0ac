package node

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/meter/mqtt/mqtttest"
)

// TestHomeWithMQTTMeter runs a home whose meter is a Tasmota device publishing
// over MQTT (the embedded broker, and mosquitto where installed), with Home
// Assistant publishing on the same broker: the node's sampler journals the
// device's readings, and Home Assistant gets its discovery configs and states.
func TestHomeWithMQTTMeter(t *testing.T) {
	mqtttest.Each(t, func(t *testing.T, b mqtttest.Broker) {
		opts := DefaultDemoOptions()
		opts.Homes, opts.Authorities = 1, 1
		paths, err := WriteDemoNetwork(t.TempDir(), opts, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		editConfig(t, paths[1], func(cfg *config.Node) {
			cfg.Meter.Driver = "mqtt"
			cfg.Battery = config.DefaultNode().Battery // none: the demo's home-1 battery is simulated behind the simulated meter
			cfg.Meter.Interval = config.Duration{Duration: 100 * time.Millisecond}
			cfg.Meter.MQTT.Broker = b.URL()
			cfg.Meter.MQTT.Topic = "tasmota_home1"
			cfg.Meter.MQTT.Format = "tasmota"
			cfg.HA = config.HomeAssistant{Enabled: true, Broker: b.URL()}
		})

		watch := mqtttest.Client(t, b.URL())
		var mu sync.Mutex
		seen := map[string]string{}
		tok := watch.Subscribe("#", 0, func(_ paho.Client, m paho.Message) {
			mu.Lock()
			seen[m.Topic()] = string(m.Payload())
			mu.Unlock()
		})
		tok.Wait()
		if err := tok.Error(); err != nil {
			t.Fatal(err)
		}

		start(t, paths[0], Options{})
		home := start(t, paths[1], Options{})
		dev := mqtttest.Client(t, b.URL())
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				payload := fmt.Sprintf(`{"Time":"2026-11-22T12:00:00","ENERGY":{"Total":%d.%03d,"Power":450}}`, 1234+i/1000, i%1000)
				dev.Publish("tele/tasmota_home1/SENSOR", 0, false, payload).Wait()
				select {
				case <-stop:
					return
				case <-time.After(150 * time.Millisecond):
				}
			}
		}()
		defer func() { close(stop); <-done }()

		waitFor(t, "the journal to hold the device's readings", 30*time.Second, func() bool {
			r, ok := home.n.journal.Last()
			return ok && r.Import >= 1_234_000
		})
		waitFor(t, "Home Assistant discovery and state", 30*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			var config, state bool
			for topic := range seen {
				config = config || (strings.HasPrefix(topic, "homeassistant/sensor/") && strings.HasSuffix(topic, "/config"))
				state = state || strings.HasPrefix(topic, "gridmesh/home-1/")
			}
			return config && state
		})
	})
}
