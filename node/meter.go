package node

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"regexp"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/configs/meters"
	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/meter/dsmr"
	"github.com/gridmesh/gridmesh/meter/homeassistant"
	"github.com/gridmesh/gridmesh/meter/modbus"
	"github.com/gridmesh/gridmesh/meter/mqtt"
	"github.com/gridmesh/gridmesh/meter/s0"
	"github.com/gridmesh/gridmesh/meter/serial"
	"github.com/gridmesh/gridmesh/meter/sim"
	"github.com/gridmesh/gridmesh/meter/sml"
	"github.com/gridmesh/gridmesh/unit"
)

// Device is an opened meter: the Reader the sampler polls, the work that must
// run beside it (an S0 pin watcher, a serial port reader; nil if none), and how
// to release it. Close is safe to call once, after Run has returned.
type Device struct {
	Reader meter.Reader
	Run    func(ctx context.Context) error
	Close  func()
	// Describe says where the meter is, for messages: "at HOST:PORT unit 1".
	Describe string
	sim      *sim.Meter // the simulated meter, which can forecast exactly
}

// forecaster gives a home's expected import and export over a window.
type forecaster interface {
	Forecast(from, to time.Time) (imp, exp unit.Wh)
}

// OpenMeter opens the meter a node config names (`[meter]`). dataDir holds
// driver state that must survive restarts (the S0 counters); epoch anchors the
// simulated meter's day. The same code serves `gridmesh run` and
// `gridmesh meter read`.
func OpenMeter(m config.Meter, dataDir string, epoch time.Time, log *slog.Logger) (*Device, error) {
	d := &Device{Close: func() {}}
	switch m.Driver {
	case config.DriverSim:
		s := sim.New(sim.Config{
			Seed:   m.Sim.Seed,
			PVPeak: m.Sim.PVPeakW,
			Load:   m.Sim.LoadW,
			Speed:  m.Sim.Speed,
			Start:  epoch,
		}, time.Now)
		d.Reader, d.sim, d.Describe = s, s, "(simulated)"
	case config.DriverModbusTCP, config.DriverRTUOverTCP, config.DriverModbusRTU:
		ps, err := modbus.LoadProfiles(meters.FS)
		if err != nil {
			return nil, err
		}
		p, err := modbus.FindProfile(ps, m.Modbus.Profile)
		if err != nil {
			return nil, fmt.Errorf("meter.modbus.profile: %w", err)
		}
		id := byte(m.Modbus.ID)
		if m.Driver == config.DriverModbusRTU {
			l, err := modbus.NewLine(modbus.SerialConfig{
				Device:  m.Modbus.Device,
				Baud:    int(m.Modbus.Baud),
				Parity:  m.Modbus.Parity,
				Timeout: m.Modbus.Timeout.Duration,
			})
			if err != nil {
				return nil, fmt.Errorf("meter.modbus.device: %w", err)
			}
			d.Reader, d.Close = modbus.NewMeter(l, id, p), func() { l.Close() }
			d.Describe = fmt.Sprintf("on %s unit %d", m.Modbus.Device, id)
		} else {
			f := modbus.TCP
			if m.Driver == config.DriverRTUOverTCP {
				f = modbus.RTUOverTCP
			}
			c := modbus.NewClient(m.Modbus.Addr, f)
			d.Reader, d.Close = modbus.NewMeter(c, id, p), func() { c.Close() }
			d.Describe = fmt.Sprintf("at %s unit %d", m.Modbus.Addr, id)
		}
	case config.DriverDSMR, config.DriverSML:
		cfg := serial.SML
		run := sml.Run
		if m.Driver == config.DriverDSMR {
			cfg, run = serial.DSMR4, dsmr.Run
			if m.Serial.Baud == 9600 {
				cfg = serial.DSMR2
			}
			if m.Serial.Key != "" {
				key, err := hex.DecodeString(m.Serial.Key)
				if err != nil {
					return nil, fmt.Errorf("meter.serial.key: %w", err)
				}
				run = func(ctx context.Context, r io.Reader, p *meter.Pusher) error {
					return dsmr.RunEncrypted(ctx, r, key, dsmr.SmartyAuthKey, p)
				}
			}
		}
		if m.Serial.Baud != 0 {
			cfg.Baud = int(m.Serial.Baud)
		}
		cfg.Device = m.Serial.Device
		p := meter.NewPusher(nil)
		d.Reader, d.Describe = p, "on "+cfg.Device
		d.Run = func(ctx context.Context) error { return readSerial(ctx, cfg, run, p, log) }
	case config.DriverS0:
		sm, err := s0.Open(m.S0.ImportPin, m.S0.ExportPin, s0.Config{
			Impulses:  int(m.S0.Impulses),
			StateFile: filepath.Join(dataDir, "s0.json"),
		})
		if err != nil {
			return nil, fmt.Errorf("meter.s0: %w", err)
		}
		d.Reader, d.Run, d.Describe = sm, sm.Run, "on "+m.S0.ImportPin
	case config.DriverMQTT:
		r, err := mqtt.New(mqtt.Config{
			Broker:   m.MQTT.Broker,
			Topic:    m.MQTT.Topic,
			Format:   mqtt.Format(m.MQTT.Format),
			Paths:    mqtt.Generic{ImportPath: m.MQTT.ImportPath, ExportPath: m.MQTT.ExportPath, PowerPath: m.MQTT.PowerPath, EnergyUnit: m.MQTT.EnergyUnit},
			Username: m.MQTT.Username,
			Password: m.MQTT.Password,
			Stale:    m.MQTT.Stale.Duration,
		})
		if err != nil {
			return nil, fmt.Errorf("meter.mqtt: %w", err)
		}
		d.Reader, d.Close, d.Describe = r, func() { r.Close() }, fmt.Sprintf("on %s topic %s", m.MQTT.Broker, m.MQTT.Topic)
	default:
		return nil, fmt.Errorf("meter.driver: unknown driver %q", m.Driver)
	}
	return d, nil
}

// readSerial runs a push-style decoder (DSMR, SML) on a serial port until ctx
// ends, reopening the port when it fails (a read head unplugged and plugged
// back), with the failure pushed to the sampler as a read error.
func readSerial(ctx context.Context, cfg serial.Config, run func(context.Context, io.Reader, *meter.Pusher) error, p *meter.Pusher, log *slog.Logger) error {
	const retry = 2 * time.Second
	for {
		port, err := serial.Open(cfg)
		if err == nil {
			stop := context.AfterFunc(ctx, func() { port.Close() }) // ends a blocked read
			err = run(ctx, port, p)
			stop()
			port.Close()
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			p.Push(meter.Reading{}, err)
			log.Warn("meter port failed; reopening", "device", cfg.Device, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
	}
}

// forecaster returns what the agent forecasts with: the simulator knows its
// own future exactly; a real meter is forecast by persistence (the next slot
// is like the last complete one, from the journal).
func (d *Device) forecaster(j *meter.Journal) forecaster {
	if d.sim != nil {
		return d.sim
	}
	return persistence{j}
}

type persistence struct{ j *meter.Journal }

func (p persistence) Forecast(from, to time.Time) (imp, exp unit.Wh) {
	last, ok := p.j.Last()
	if !ok {
		return 0, 0
	}
	imp, exp, ok = p.j.Energy(last.Time.Add(-to.Sub(from)), last.Time)
	if !ok {
		return 0, 0
	}
	return imp, exp
}

// publishHA publishes the home's latest reading and trading state to Home
// Assistant every interval until ctx ends. A broker that is away is not an
// error: the publisher reconnects by itself.
func (n *Node) publishHA(ctx context.Context, interval time.Duration) error {
	p, err := homeassistant.New(homeassistant.Config{
		Broker:   n.cfg.HA.Broker,
		Username: n.cfg.HA.Username,
		Password: n.cfg.HA.Password,
		Node:     haNodeID(n.cfg.Node.Name),
		Name:     "gridmesh " + n.cfg.Node.Name,
	})
	if err != nil {
		return fmt.Errorf("homeassistant: %w", err)
	}
	defer p.Close()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if r, ok := n.journal.Last(); ok {
			if err := p.PublishReading(ctx, r); err != nil {
				n.log.Debug("homeassistant reading", "err", err)
			}
		}
		if err := p.PublishState(ctx, n.haState()); err != nil {
			n.log.Debug("homeassistant state", "err", err)
		}
	}
}

func (n *Node) haState() homeassistant.State {
	st := n.Status()
	s := homeassistant.State{Height: st.Height, Peers: st.Peers, Slot: n.gen.SlotAt(n.now().UnixMilli())}
	if len(st.OpenBook) > 0 {
		s.Indicative = st.OpenBook[0].IndicativePrice
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, l := range n.chain.Statement(n.self, 0, math.MaxInt64) {
		s.Sold += l.Sold
		s.Bought += l.Bought
		s.Balance += l.Net
	}
	if st.LastCleared >= 0 {
		if r, ok := n.chain.Result(st.LastCleared); ok {
			s.Price = r.Price
		}
	}
	return s
}

var haUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// haNodeID turns a node name into an id Home Assistant accepts in topics.
func haNodeID(name string) string {
	if id := haUnsafe.ReplaceAllString(name, "_"); id != "" {
		return id
	}
	return "gridmesh"
}
