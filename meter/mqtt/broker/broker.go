package broker

import (
	"fmt"
	"io"
	"log/slog"
	"net"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
)

// Broker is a running embedded broker.
type Broker struct {
	srv  *mochi.Server
	ln   *tcpListener
	addr string
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves MQTT
// 3.1.1 and 5 until Close. log may be nil (broker messages discarded).
func Start(addr string, log *slog.Logger) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: log})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	l := newListener("tcp", ln)
	if err := srv.AddListener(l); err != nil {
		ln.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := srv.Serve(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	return &Broker{srv: srv, ln: l, addr: l.Address()}, nil
}

// Addr is the listening address, host:port.
func (b *Broker) Addr() string { return b.addr }

// URL is the address for MQTT clients, tcp://host:port.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Publish publishes from inside the broker (no client needed).
func (b *Broker) Publish(topic string, payload []byte, retain bool) error {
	return b.srv.Publish(topic, payload, retain, 0)
}

// Close stops listening, disconnects every client and waits for their
// sessions to end, then stops the server.
func (b *Broker) Close() error {
	b.ln.shutdown()
	return b.srv.Close()
}
