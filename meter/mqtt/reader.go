package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/unit"
)

// Format names a payload format.
type Format string

const (
	Tasmota Format = "tasmota" // tele/<topic>/SENSOR: ENERGY or SML script JSON
	Shelly  Format = "shelly"  // Shelly Gen2 em:0 / emdata:0 status notifications
	JSON    Format = "json"    // generic JSON, a path per value
)

// DefaultStale is the default stale-data timeout: longer than Tasmota's
// default TelePeriod (300 s), so an unconfigured Tasmota is not stale
// between two messages. Lower it with a shorter TelePeriod.
const DefaultStale = 330 * time.Second

// Config configures a Reader.
type Config struct {
	Broker   string // "tcp://host:1883" (also ssl://, ws://)
	ClientID string // default "gridmesh-meter-<random>"
	Username string
	Password string

	// Topic: for Tasmota the device topic ("tasmota_5A1B2C" subscribes
	// tele/tasmota_5A1B2C/SENSOR) or, if it contains a "/", the full topic;
	// for Shelly the device's topic prefix ("shellypro3em-c8f09e8a1b2c":
	// <prefix>/events/rpc, <prefix>/status/em:0 and <prefix>/status/emdata:0);
	// for JSON the full topic. No wildcards.
	Topic  string
	Format Format
	Paths  Generic // for Format JSON

	Stale  time.Duration    // Read fails when the counters are older; default DefaultStale
	Serial string           // Reading.Serial; default the id the device sends, else Topic
	Now    func() time.Time // clock for message times and staleness; time.Now if nil

	// ConnectTimeout bounds one connection attempt; default 10 s.
	// Reconnects back off from 1 s to MaxReconnect (default 30 s).
	ConnectTimeout time.Duration
	MaxReconnect   time.Duration
}

// Errors.
var (
	ErrConfig    = errors.New("mqtt: invalid config")
	ErrStale     = errors.New("mqtt: meter data stale")
	ErrNoMessage = errors.New("mqtt: no meter message yet")
)

// Stats counts messages for diagnostics.
type Stats struct {
	Messages  uint64 // payloads decoded and applied
	Bad       uint64 // payloads that did not decode (never applied)
	LastError string // the last bad payload's error
	Connects  uint64 // successful (re)connections, each followed by subscribing
	SubErrors uint64 // subscriptions the broker refused or did not confirm
}

// Reader is a meter.Reader fed by MQTT messages. It subscribes in the
// client's on-connect handler, so every reconnection (a broker restart)
// subscribes again. It is safe for concurrent use.
type Reader struct {
	cfg    Config
	now    func() time.Time
	topics []string
	client paho.Client

	mu        sync.Mutex
	imp, exp  unit.Wh
	haveImp   bool
	haveExp   bool
	energyAt  time.Time
	pow       unit.W
	powerAt   time.Time
	phases    [3]meter.Phase
	phasesAt  time.Time
	serial    string
	connected bool
	stats     Stats
	wake      chan struct{} // closed and replaced when a message is applied
}

var _ meter.Reader = (*Reader)(nil)

// Topics returns the topics a Reader with cfg subscribes to.
func (c Config) Topics() []string {
	switch c.Format {
	case Tasmota:
		if strings.Contains(c.Topic, "/") {
			return []string{c.Topic}
		}
		return []string{"tele/" + c.Topic + "/SENSOR"}
	case Shelly:
		return []string{c.Topic + "/events/rpc", c.Topic + "/status/em:0", c.Topic + "/status/emdata:0"}
	}
	return []string{c.Topic}
}

func (c Config) check() error {
	var errs []error
	if c.Broker == "" {
		errs = append(errs, errors.New("no broker"))
	}
	if c.Topic == "" || strings.ContainsAny(c.Topic, "+#") {
		errs = append(errs, fmt.Errorf("topic %q: want a topic without wildcards", c.Topic))
	}
	switch c.Format {
	case Tasmota, Shelly:
	case JSON:
		if err := c.Paths.check(); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("format %q, want tasmota, shelly or json", c.Format))
	}
	if c.Stale < 0 || len(c.Serial) > meter.MaxSerial {
		errs = append(errs, errors.New("negative stale timeout or serial too long"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}

// New checks cfg and starts connecting to the broker in the background
// (retrying until Close); it does not wait for the connection. Read waits
// for the first message; WaitConnected waits for the broker.
func New(cfg Config) (*Reader, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Stale == 0 {
		cfg.Stale = DefaultStale
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.MaxReconnect <= 0 {
		cfg.MaxReconnect = 30 * time.Second
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "gridmesh-meter-" + randomID()
	}
	r := &Reader{cfg: cfg, now: cfg.Now, topics: cfg.Topics(), wake: make(chan struct{})}
	if r.now == nil {
		r.now = time.Now
	}
	opts := paho.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(cfg.MaxReconnect).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetKeepAlive(30 * time.Second).
		SetOnConnectHandler(r.onConnect).
		SetConnectionLostHandler(func(paho.Client, error) { r.setConnected(false) })
	r.client = paho.NewClient(opts)
	r.client.Connect() // with ConnectRetry the token completes only once connected
	return r, nil
}

func randomID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// onConnect subscribes on every (re)connection: with a clean session the
// broker has forgotten earlier subscriptions.
func (r *Reader) onConnect(c paho.Client) {
	filters := make(map[string]byte, len(r.topics))
	for _, t := range r.topics {
		filters[t] = 0
	}
	tok := c.SubscribeMultiple(filters, r.onMessage)
	ok := tok.WaitTimeout(r.cfg.ConnectTimeout) && tok.Error() == nil
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Connects++
	if !ok {
		r.stats.SubErrors++
		return
	}
	r.connected = true
}

func (r *Reader) setConnected(v bool) {
	r.mu.Lock()
	r.connected = v
	r.mu.Unlock()
}

func (r *Reader) onMessage(_ paho.Client, m paho.Message) {
	r.apply(m.Topic(), m.Payload())
}

// decode decodes a payload in the configured format.
func (r *Reader) decode(topic string, b []byte) (Update, error) {
	switch r.cfg.Format {
	case Tasmota:
		return DecodeTasmota(b)
	case Shelly:
		return DecodeShelly(topic, b)
	}
	return r.cfg.Paths.Decode(b)
}

// apply decodes one message and merges it into the newest values.
func (r *Reader) apply(topic string, b []byte) {
	u, err := r.decode(topic, b)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.stats.Bad++
		r.stats.LastError = err.Error()
		return
	}
	if u.empty() && u.Phases == nil {
		return // a notification without meter values
	}
	r.stats.Messages++
	if u.Import != nil {
		r.imp, r.haveImp, r.energyAt = *u.Import, true, now
	}
	if u.Export != nil {
		r.exp, r.haveExp, r.energyAt = *u.Export, true, now
	}
	if u.Power != nil {
		r.pow, r.powerAt = *u.Power, now
	}
	if u.Phases != nil {
		r.phases, r.phasesAt = *u.Phases, now
	}
	if u.Serial != "" {
		r.serial = u.Serial
	}
	close(r.wake)
	r.wake = make(chan struct{})
}

// Read returns the newest values. It waits for the first message with an
// import counter until ctx is done (then the error wraps ErrNoMessage and
// says whether the broker is connected), and fails with ErrStale when the
// counters are older than Config.Stale. Time is when the last counter
// message arrived; power older than Stale, or never sent, reads as 0 with
// the NoPower flag; NoExport is set while no export counter has arrived.
func (r *Reader) Read(ctx context.Context) (meter.Reading, error) {
	for {
		r.mu.Lock()
		if r.haveImp {
			break
		}
		wake, connected := r.wake, r.connected
		r.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			state := "connected to"
			if !connected {
				state = "not connected to"
			}
			return meter.Reading{}, fmt.Errorf("%w on %s (%s %s): %w", ErrNoMessage, strings.Join(r.topics, ", "), state, r.cfg.Broker, ctx.Err())
		}
	}
	defer r.mu.Unlock()
	now := r.now()
	if age := now.Sub(r.energyAt); age > r.cfg.Stale {
		return meter.Reading{}, fmt.Errorf("%w: last counters %v ago on %s (timeout %v)", ErrStale, age.Round(time.Second), strings.Join(r.topics, ", "), r.cfg.Stale)
	}
	rd := meter.Reading{Time: r.energyAt, Import: r.imp, Export: r.exp, Serial: r.cfg.Serial}
	if rd.Serial == "" {
		rd.Serial = r.serial
	}
	if rd.Serial == "" {
		rd.Serial = r.cfg.Topic
	}
	if len(rd.Serial) > meter.MaxSerial {
		rd.Serial = rd.Serial[:meter.MaxSerial]
	}
	if !r.haveExp {
		rd.Flags |= meter.NoExport
	}
	if !r.powerAt.IsZero() && now.Sub(r.powerAt) <= r.cfg.Stale {
		rd.Power = r.pow
	} else {
		rd.Flags |= meter.NoPower
	}
	if !r.phasesAt.IsZero() && now.Sub(r.phasesAt) <= r.cfg.Stale {
		rd.Phases = r.phases
		rd.Flags |= meter.PhasesValid
	}
	return rd, nil
}

// WaitConnected waits until the client is connected and subscribed, or
// ctx is done.
func (r *Reader) WaitConnected(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		r.mu.Lock()
		ok := r.connected
		r.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("mqtt: connect to %s: %w", r.cfg.Broker, ctx.Err())
		}
	}
}

// Stats returns the message counters.
func (r *Reader) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Close disconnects from the broker and stops reconnecting.
func (r *Reader) Close() error {
	r.client.Disconnect(250)
	r.setConnected(false)
	return nil
}
