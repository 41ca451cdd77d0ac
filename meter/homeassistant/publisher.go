package homeassistant

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// Config configures a Publisher. Broker and Node are required.
type Config struct {
	Broker   string // "tcp://host:1883"
	ClientID string // default "gridmesh-ha-<node>-<random>"
	Username string
	Password string

	Node            string // node id in topics and unique ids: letters, digits, _ and -
	Name            string // device name shown in Home Assistant; default "gridmesh <Node>"
	Version         string // device software version shown; optional
	DiscoveryPrefix string // default "homeassistant"
	BaseTopic       string // default "gridmesh/<Node>"
	EnergyUnit      string // "kWh" (default) or "Wh"
	Currency        string // ISO 4217 code of the network's money; default "EUR"

	MaxReconnect time.Duration // reconnect backoff limit; default 30 s

	dial paho.OpenConnectionFunc // tests: to cut the connection
}

// State is the node's trading state as Home Assistant shows it.
type State struct {
	Sold    unit.Wh    // energy sold and settled, cumulative
	Bought  unit.Wh    // energy bought and settled, cumulative
	Balance unit.Money // the account's balance on the chain
	Price   unit.Price // the last clearing price, per kWh
	// Indicative is the indicative price of the next slot open for orders
	// (what would clear if its gate closed now; 0 if nothing crosses).
	Indicative unit.Price
	Height     uint64    // chain height
	Peers      int       // connected peers
	Slot       unit.Slot // the current delivery slot
}

// Errors.
var (
	ErrConfig       = errors.New("homeassistant: invalid config")
	ErrNotConnected = errors.New("homeassistant: not connected to the broker")
)

var nodeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// sensor is one Home Assistant entity.
type sensor struct {
	object      string // object id
	name        string
	topic       string // "meter" or "trading"
	key         string // key in the state JSON
	deviceClass string
	stateClass  string
	unit        string
	precision   int
	diagnostic  bool
}

// Publisher publishes to Home Assistant. It is safe for concurrent use.
type Publisher struct {
	cfg     Config
	avail   string
	sensors []sensor
	client  paho.Client

	mu        sync.Mutex
	connected bool
	reading   []byte // last meter payload, re-sent on connect
	state     []byte // last trading payload
}

// New checks cfg and starts connecting in the background; it does not wait
// for the broker (see WaitConnected).
func New(cfg Config) (*Publisher, error) {
	if cfg.Broker == "" {
		return nil, fmt.Errorf("%w: no broker", ErrConfig)
	}
	if !nodeRE.MatchString(cfg.Node) {
		return nil, fmt.Errorf("%w: node id %q: want 1-64 letters, digits, _ or -", ErrConfig, cfg.Node)
	}
	if cfg.EnergyUnit == "" {
		cfg.EnergyUnit = "kWh"
	}
	if cfg.EnergyUnit != "kWh" && cfg.EnergyUnit != "Wh" {
		return nil, fmt.Errorf("%w: energy unit %q, want Wh or kWh", ErrConfig, cfg.EnergyUnit)
	}
	if cfg.Name == "" {
		cfg.Name = "gridmesh " + cfg.Node
	}
	if cfg.DiscoveryPrefix == "" {
		cfg.DiscoveryPrefix = "homeassistant"
	}
	if cfg.BaseTopic == "" {
		cfg.BaseTopic = "gridmesh/" + cfg.Node
	}
	if cfg.Currency == "" {
		cfg.Currency = "EUR"
	}
	if cfg.MaxReconnect <= 0 {
		cfg.MaxReconnect = 30 * time.Second
	}
	if cfg.ClientID == "" {
		var b [4]byte
		rand.Read(b[:])
		cfg.ClientID = "gridmesh-ha-" + cfg.Node + "-" + hex.EncodeToString(b[:])
	}
	p := &Publisher{cfg: cfg, avail: cfg.BaseTopic + "/availability"}
	eu := cfg.EnergyUnit
	p.sensors = []sensor{
		{"import_energy", "Grid import", "meter", "import", "energy", "total_increasing", eu, 3, false},
		{"export_energy", "Grid export", "meter", "export", "energy", "total_increasing", eu, 3, false},
		{"power", "Grid power", "meter", "power", "power", "measurement", "W", 0, false},
		{"sold_energy", "Energy sold", "trading", "sold", "energy", "total_increasing", eu, 3, false},
		{"bought_energy", "Energy bought", "trading", "bought", "energy", "total_increasing", eu, 3, false},
		{"balance", "Balance", "trading", "balance", "monetary", "total", cfg.Currency, 2, false},
		{"clearing_price", "Clearing price", "trading", "price", "", "measurement", cfg.Currency + "/kWh", 4, false},
		{"indicative_price", "Indicative price (next slot)", "trading", "indicative_price", "", "measurement", cfg.Currency + "/kWh", 4, false},
		{"chain_height", "Chain height", "trading", "height", "", "measurement", "", 0, true},
		{"peers", "Peers", "trading", "peers", "", "measurement", "", 0, true},
	}
	if eu == "Wh" {
		for i := range p.sensors {
			if p.sensors[i].unit == "Wh" {
				p.sensors[i].precision = 0
			}
		}
	}
	opts := paho.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(true).
		SetStore(newResumeStore()).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(cfg.MaxReconnect).
		SetConnectTimeout(10*time.Second).
		SetKeepAlive(30*time.Second).
		SetWill(p.avail, "offline", 1, true).
		SetOnConnectHandler(p.onConnect).
		SetConnectionLostHandler(func(paho.Client, error) { p.setConnected(false) })
	if cfg.dial != nil {
		opts.SetCustomOpenConnectionFn(cfg.dial)
	}
	p.client = paho.NewClient(opts)
	p.client.Connect()
	return p, nil
}

// Sensors returns the object ids of the published sensors.
func (p *Publisher) Sensors() []string {
	ids := make([]string, len(p.sensors))
	for i, s := range p.sensors {
		ids[i] = s.object
	}
	return ids
}

// DiscoveryTopic is the config topic of object.
func (p *Publisher) DiscoveryTopic(object string) string {
	return p.cfg.DiscoveryPrefix + "/sensor/" + p.cfg.Node + "/" + object + "/config"
}

func (p *Publisher) onConnect(c paho.Client) {
	c.Subscribe(p.cfg.DiscoveryPrefix+"/status", 0, func(_ paho.Client, m paho.Message) {
		if string(m.Payload()) == "online" {
			p.announce(c)
		}
	})
	// The broker may publish the last will of the previous connection after
	// this one started (a session takeover when the old connection has not
	// timed out yet): seeing "offline" while connected, say "online" again.
	c.Subscribe(p.avail, 0, func(c paho.Client, m paho.Message) {
		p.mu.Lock()
		connected := p.connected
		p.mu.Unlock()
		if connected && string(m.Payload()) == "offline" {
			c.Publish(p.avail, 1, true, "online")
		}
	})
	p.announce(c)
	c.Publish(p.avail, 1, true, "online")
	p.mu.Lock()
	p.connected = true
	reading, state := p.reading, p.state
	p.mu.Unlock()
	if reading != nil {
		c.Publish(p.cfg.BaseTopic+"/meter", 0, false, reading)
	}
	if state != nil {
		c.Publish(p.cfg.BaseTopic+"/trading", 0, false, state)
	}
}

// announce publishes every discovery config, retained.
func (p *Publisher) announce(c paho.Client) {
	for _, s := range p.sensors {
		b, err := json.Marshal(p.discovery(s))
		if err != nil {
			continue // cannot happen: plain strings and ints
		}
		c.Publish(p.DiscoveryTopic(s.object), 1, true, b)
	}
}

type device struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
	SWVersion    string   `json:"sw_version,omitempty"`
}

// Discovery is a sensor's discovery config as published.
type Discovery struct {
	Name                string `json:"name"`
	UniqueID            string `json:"unique_id"`
	StateTopic          string `json:"state_topic"`
	ValueTemplate       string `json:"value_template"`
	DeviceClass         string `json:"device_class,omitempty"`
	StateClass          string `json:"state_class,omitempty"`
	Unit                string `json:"unit_of_measurement,omitempty"`
	Precision           *int   `json:"suggested_display_precision,omitempty"`
	EntityCategory      string `json:"entity_category,omitempty"`
	AvailabilityTopic   string `json:"availability_topic"`
	PayloadAvailable    string `json:"payload_available"`
	PayloadNotAvailable string `json:"payload_not_available"`
	Device              device `json:"device"`
}

func (p *Publisher) discovery(s sensor) Discovery {
	d := Discovery{
		Name:                s.name,
		UniqueID:            "gridmesh_" + p.cfg.Node + "_" + s.object,
		StateTopic:          p.cfg.BaseTopic + "/" + s.topic,
		ValueTemplate:       "{{ value_json." + s.key + " }}",
		DeviceClass:         s.deviceClass,
		StateClass:          s.stateClass,
		Unit:                s.unit,
		AvailabilityTopic:   p.avail,
		PayloadAvailable:    "online",
		PayloadNotAvailable: "offline",
		Device: device{
			Identifiers:  []string{"gridmesh_" + p.cfg.Node},
			Name:         p.cfg.Name,
			Manufacturer: "gridmesh",
			Model:        "gridmesh node",
			SWVersion:    p.cfg.Version,
		},
	}
	if s.unit != "" {
		prec := s.precision
		d.Precision = &prec
	}
	if s.diagnostic {
		d.EntityCategory = "diagnostic"
	}
	return d
}

func (p *Publisher) setConnected(v bool) {
	p.mu.Lock()
	p.connected = v
	p.mu.Unlock()
}

// energy formats Wh in the configured unit.
func (p *Publisher) energy(e unit.Wh) json.Number {
	if p.cfg.EnergyUnit == "Wh" {
		return json.Number(strconv.FormatInt(int64(e), 10))
	}
	return decimal(int64(e), 3)
}

// decimal formats v / 10^places exactly.
func decimal(v int64, places int) json.Number {
	sign := ""
	u := uint64(v)
	if v < 0 {
		sign, u = "-", uint64(-v) // -MinInt64 wraps to itself: its uint64 is right
	}
	s := strconv.FormatUint(u, 10)
	for len(s) <= places {
		s = "0" + s
	}
	return json.Number(sign + s[:len(s)-places] + "." + s[len(s)-places:])
}

type meterPayload struct {
	Import json.Number `json:"import"`
	Export json.Number `json:"export"`
	Power  int64       `json:"power"`
	Time   string      `json:"time,omitempty"`
}

type tradingPayload struct {
	Sold    json.Number `json:"sold"`
	Bought  json.Number `json:"bought"`
	Balance json.Number `json:"balance"`
	Price   json.Number `json:"price"`
	Indic   json.Number `json:"indicative_price"`
	Height  uint64      `json:"height"`
	Peers   int         `json:"peers"`
	Slot    int64       `json:"slot"`
}

// PublishReading publishes a meter reading to <base>/meter and waits until
// it is sent or ctx is done.
func (p *Publisher) PublishReading(ctx context.Context, r meter.Reading) error {
	pl := meterPayload{Import: p.energy(r.Import), Export: p.energy(r.Export), Power: int64(r.Power)}
	if !r.Time.IsZero() {
		pl.Time = r.Time.UTC().Format(time.RFC3339)
	}
	b, _ := json.Marshal(pl)
	return p.publish(ctx, "meter", b, &p.reading)
}

// PublishState publishes the trading state to <base>/trading.
func (p *Publisher) PublishState(ctx context.Context, s State) error {
	pl := tradingPayload{
		Sold: p.energy(s.Sold), Bought: p.energy(s.Bought),
		Balance: decimal(int64(s.Balance), 6), Price: decimal(int64(s.Price), 6),
		Indic:  decimal(int64(s.Indicative), 6),
		Height: s.Height, Peers: s.Peers, Slot: int64(s.Slot),
	}
	b, _ := json.Marshal(pl)
	return p.publish(ctx, "trading", b, &p.state)
}

func (p *Publisher) publish(ctx context.Context, sub string, b []byte, last *[]byte) error {
	p.mu.Lock()
	*last = b
	connected := p.connected
	p.mu.Unlock()
	if !connected {
		return ErrNotConnected
	}
	tok := p.client.Publish(p.cfg.BaseTopic+"/"+sub, 0, false, b)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("homeassistant: publish %s: %w", sub, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("homeassistant: publish %s: %w", sub, ctx.Err())
	}
}

// WaitConnected waits until the client is connected and has announced the
// sensors, or ctx is done.
func (p *Publisher) WaitConnected(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		p.mu.Lock()
		ok := p.connected
		p.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("homeassistant: connect to %s: %w", p.cfg.Broker, ctx.Err())
		}
	}
}

// Close publishes "offline" on the availability topic (when connected) and
// disconnects.
func (p *Publisher) Close() error {
	p.mu.Lock()
	connected := p.connected
	p.connected = false
	p.mu.Unlock()
	if connected {
		p.client.Publish(p.avail, 1, true, "offline").WaitTimeout(2 * time.Second)
	}
	p.client.Disconnect(250)
	return nil
}
