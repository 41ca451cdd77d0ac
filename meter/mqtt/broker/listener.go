package broker

import (
	"log/slog"
	"net"
	"sync"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// tcpListener replaces mochi's TCP listener. mochi v2.7.9's own listener
// closes clients through Clients.GetByListener, which takes a read lock
// twice; a client disconnecting at that moment (its Delete waits for the
// write lock) deadlocks Server.Close. This one closes the connections
// itself, and each client's session ends through the normal path.
type tcpListener struct {
	id string
	ln net.Listener

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // Serve's per-connection goroutines
}

func newListener(id string, ln net.Listener) *tcpListener {
	return &tcpListener{id: id, ln: ln, conns: map[net.Conn]struct{}{}}
}

func (l *tcpListener) Init(*slog.Logger) error { return nil } // listening since newListener
func (l *tcpListener) ID() string              { return l.id }
func (l *tcpListener) Address() string         { return l.ln.Addr().String() }
func (l *tcpListener) Protocol() string        { return "tcp" }

func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.wg.Done()
			establish(l.id, c) // returns when the client is gone
			l.mu.Lock()
			delete(l.conns, c)
			l.mu.Unlock()
			c.Close()
		}()
	}
}

func (l *tcpListener) Close(listeners.CloseFn) {
	l.mu.Lock()
	l.closed = true
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	l.ln.Close()
	for _, c := range conns {
		c.Close()
	}
}

// shutdown closes the listener and its connections and waits until every
// connection's EstablishFn has returned. mochi v2.7.9's Server.Close races
// (under the race detector) with an EstablishConnection that is just
// starting, so the broker calls this before it.
func (l *tcpListener) shutdown() {
	l.Close(nil)
	l.wg.Wait()
}
