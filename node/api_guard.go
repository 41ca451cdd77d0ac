package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The HTTP server's limits (Run). A Pi serves a household and a few
// dashboards: these leave room for them and bound what a slow or hostile
// client can hold.
const (
	apiMaxConns          = 256              // open connections (limitListener): gridmesh bench chain posts with up to 256 workers
	apiReadHeaderTimeout = 5 * time.Second  // request line and headers
	apiReadTimeout       = 15 * time.Second // the whole request, body included
	apiWriteTimeout      = 30 * time.Second // the response (SSE clears it per request)
	apiIdleTimeout       = 60 * time.Second // a keep-alive connection between requests
	apiMaxHeaderBytes    = 16 << 10
	apiMaxBodyBytes      = 64 << 10 // any request body; POST /api/v1/tx is bounded tighter
)

// newAPIServer is the API's http.Server with its timeouts; ln must be a
// limitListener's so that streams can pin their connection.
func (n *Node) newAPIServer() *http.Server {
	return &http.Server{
		Handler:           n.guard(n.access(n.handler())),
		ReadHeaderTimeout: apiReadHeaderTimeout,
		ReadTimeout:       apiReadTimeout,
		WriteTimeout:      apiWriteTimeout,
		IdleTimeout:       apiIdleTimeout,
		MaxHeaderBytes:    apiMaxHeaderBytes,
		ConnState: func(c net.Conn, st http.ConnState) {
			if lc, ok := c.(*limitConn); ok {
				lc.idle.Store(st == http.StateIdle)
			}
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if lc, ok := c.(*limitConn); ok {
				return context.WithValue(ctx, connKey{}, lc)
			}
			return ctx
		},
	}
}

type connKey struct{}

// pinConn marks the request's connection as a long-lived stream that the
// listener does not evict when it is full (SSE).
func pinConn(r *http.Request) {
	if lc, ok := r.Context().Value(connKey{}).(*limitConn); ok {
		lc.pinned.Store(true)
	}
}

// limitListener holds at most max connections open. When a new connection
// arrives at the cap it closes the oldest idle keep-alive connection, or if
// there is none the oldest one that is not a pinned stream: connections that
// hold a slot longest (a client trickling its request) give way to new ones, so a flood of slow clients cannot
// lock out a normal one, and the count never exceeds max. Pinned streams
// are bounded separately (maxSubscribers).
type limitListener struct {
	net.Listener
	max int

	mu    sync.Mutex
	seq   uint64
	conns map[*limitConn]uint64 // open connections, by accept order

	open    atomic.Int64 // gauge: connections open now
	peak    atomic.Int64 // the most open at once
	evicted atomic.Int64 // connections closed to make room
}

func newLimitListener(ln net.Listener, max int) *limitListener {
	return &limitListener{Listener: ln, max: max, conns: make(map[*limitConn]uint64)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &limitConn{Conn: c, l: l}
	var victim *limitConn
	l.mu.Lock()
	if len(l.conns) >= l.max {
		best, bestIdle := ^uint64(0), false
		for o, s := range l.conns {
			if o.pinned.Load() {
				continue
			}
			idle := o.idle.Load()
			if idle && !bestIdle || idle == bestIdle && s < best {
				victim, best, bestIdle = o, s, idle
			}
		}
		if victim != nil {
			delete(l.conns, victim) // before its Close, so the count stays under max
		}
	}
	if victim == nil && len(l.conns) >= l.max {
		l.mu.Unlock()
		c.Close() // every slot is a pinned stream
		l.evicted.Add(1)
		return l.Accept()
	}
	l.seq++
	l.conns[lc] = l.seq
	open := int64(len(l.conns))
	l.mu.Unlock()
	if victim != nil {
		l.evicted.Add(1)
		victim.Conn.Close()
		victim.closed.Store(true)
	}
	l.open.Store(open)
	for p := l.peak.Load(); open > p && !l.peak.CompareAndSwap(p, open); p = l.peak.Load() {
	}
	return lc, nil
}

type limitConn struct {
	net.Conn
	l      *limitListener
	pinned atomic.Bool
	idle   atomic.Bool // between requests (http.StateIdle)
	closed atomic.Bool
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	if !c.closed.Swap(true) {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.open.Store(int64(len(c.l.conns)))
		c.l.mu.Unlock()
	}
	return err
}

// guard refuses requests that a web page on another site could have made
// through the browser of someone in the home (DNS rebinding, cross-site
// POSTs), and bounds request bodies.
//
// The Host header must name this node: an IP address (a rebinding attack
// needs a domain name of the attacker's, so IP literals are safe), localhost
// or a name under .localhost, the host of api.listen, or one of the node's
// names: node.name, api.hosts and the machine's host name, each also with
// .local. Others get 421 with the reason. A request that changes
// anything (every method but GET, HEAD and OPTIONS) and carries an Origin
// must come from the same origin, else 403.
func (n *Node) guard(h http.Handler) http.Handler {
	names := map[string]bool{}
	if host, _, err := net.SplitHostPort(n.cfg.API.Listen); err == nil && host != "" {
		names[strings.ToLower(host)] = true
	}
	mine := append([]string{n.cfg.Node.Name}, n.cfg.API.Hosts...)
	if hn, err := os.Hostname(); err == nil {
		mine = append(mine, hn)
	}
	for _, s := range mine {
		if s = strings.ToLower(s); s != "" {
			names[s], names[s+".local"] = true, true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkHost(r.Host, names); err != nil {
			httpError(w, http.StatusMisdirectedRequest, err)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if o := r.Header.Get("Origin"); o != "" {
				if u, err := url.Parse(o); err != nil || !strings.EqualFold(u.Host, r.Host) {
					httpError(w, http.StatusForbidden, fmt.Errorf("origin %q is not this node's (%s): cross-site requests are refused", o, r.Host))
					return
				}
			}
		}
		if r.ContentLength > apiMaxBodyBytes {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request body of %d bytes; at most %d", r.ContentLength, apiMaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, apiMaxBodyBytes)
		h.ServeHTTP(w, r)
	})
}

var errHost = errors.New("host not accepted")

// checkHost reports whether hostport (a Host header) names this node, whose
// own names (lower case) are names.
func checkHost(hostport string, names map[string]bool) error {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	switch {
	case host == "": // HTTP/1.0 without Host: no browser sends that
		return nil
	case isIP(host), host == "localhost", strings.HasSuffix(host, ".localhost"):
		return nil
	case names[host]:
		return nil
	}
	return fmt.Errorf("%w: %q is not this node's address, localhost or its name (DNS rebinding guard)", errHost, hostport)
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
