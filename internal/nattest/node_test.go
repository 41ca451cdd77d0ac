package nattest

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gridmesh/gridmesh/p2p"
)

// The test binary doubles as the program run inside the namespaces: with
// envNode set it runs one p2p host driven over stdin/stdout, with envDial set
// it makes one plain TCP dial.
const (
	envNode = "GRIDMESH_NATTEST_NODE"
	envDial = "GRIDMESH_NATTEST_DIAL"
)

const (
	network = "nattest"
	topic   = "orders"
	echo    = "echo/1"
)

// nodeConfig is what the test passes to a host in a namespace (JSON in envNode).
type nodeConfig struct {
	Seed          byte     // key seed, so the test knows every peer id in advance
	Listen        []string // multiaddrs
	Bootstrap     []string
	RelayService  bool
	Allow         []string // peer ids the relay serves
	NATTraversal  bool
	AssumePrivate bool
	Join          bool // join the topic and print what arrives
	MDNS          bool // discover peers on the LAN
}

func key(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	s[0], s[1] = 'n', seed
	return ed25519.NewKeyFromSeed(s)
}

func peerID(seed byte) string {
	id, err := p2p.PeerID(key(seed).Public().(ed25519.PublicKey))
	if err != nil {
		panic(err)
	}
	return id
}

// runDial dials addr (host:port) over TCP and prints "dial ok" or "dial
// error ...": the test checks with it what the NAT lets through.
func runDial(addr string) int {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		fmt.Printf("dial error %v\n", err)
		return 0
	}
	c.Close()
	fmt.Println("dial ok")
	return 0
}

// runNode starts a host and serves commands, one per stdin line, until stdin
// closes. Replies start with "> "; received gossip is printed as
// "msg <from-peer-id> <payload>". Commands:
//
//	connect <addr>           > ok | > error ...
//	publish <text>           > ok | > error ...
//	request <peer> <text>    > ok <response> | > error ...
//	conns <peer>             > ok <remote multiaddr>...
//	topicpeers               > ok <n>
//	block <peer> / unblock <peer>
//	reach                    > ok public|private|unknown
func runNode(cfgJSON string) int {
	var nc nodeConfig
	if err := json.Unmarshal([]byte(cfgJSON), &nc); err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		return 2
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	allow := map[string]bool{}
	for _, id := range nc.Allow {
		allow[id] = true
	}
	cfg := p2p.Config{
		Key:           key(nc.Seed),
		Network:       network,
		Listen:        nc.Listen,
		Bootstrap:     nc.Bootstrap,
		RelayService:  nc.RelayService,
		NATTraversal:  nc.NATTraversal,
		AssumePrivate: nc.AssumePrivate,
		MDNS:          nc.MDNS,
	}
	if nc.RelayService {
		cfg.RelayAllow = func(id string) bool { return allow[id] }
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := p2p.New(ctx, cfg, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		return 1
	}
	defer h.Close()
	h.Handle(echo, 1024, func(_ context.Context, from ed25519.PublicKey, req []byte) ([]byte, error) {
		return append([]byte("echo "), req...), nil
	})
	var tp *p2p.Topic
	if nc.Join {
		if tp, err = h.Join(topic, nil); err != nil {
			fmt.Fprintln(os.Stderr, "join:", err)
			return 1
		}
		go func() {
			for {
				m, err := tp.Next(ctx)
				if err != nil {
					return
				}
				from, _ := p2p.PeerID(m.From)
				say("msg %s %s", from, m.Payload)
			}
		}()
	}
	say("ready %s %s", h.ID(), strings.Join(h.Addrs(), " "))

	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		reply := func(s string, err error) {
			if err != nil {
				say("> error %s: %v", cmd, err)
			} else {
				say("> ok %s", s)
			}
		}
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		switch cmd {
		case "connect":
			reply("", h.Connect(cctx, arg))
		case "publish":
			if tp == nil {
				reply("", fmt.Errorf("not joined"))
				break
			}
			reply("", tp.Publish(cctx, []byte(arg)))
		case "request":
			p, text, _ := strings.Cut(arg, " ")
			resp, err := h.Request(cctx, p, echo, []byte(text), 1024)
			reply(string(resp), err)
		case "conns":
			reply(strings.Join(h.ConnAddrs(arg), " "), nil)
		case "topicpeers":
			n := 0
			if tp != nil {
				n = len(tp.Peers())
			}
			reply(fmt.Sprint(n), nil)
		case "block":
			reply("", h.Block(arg))
		case "unblock":
			reply("", h.Unblock(arg))
		case "reach":
			reply(h.Reachability(), nil)
		default:
			reply("", fmt.Errorf("unknown command"))
		}
		ccancel()
	}
	return 0
}

// node is a running helper as the test sees it.
type node struct {
	name    string
	stdin   io.WriteCloser
	replies chan string
	msgs    chan string
	ready   chan string
	stderr  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 1<<20 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// route sorts the helper's stdout lines into replies, messages and readiness.
func (n *node) route(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "> "):
			n.replies <- strings.TrimPrefix(line, "> ")
		case strings.HasPrefix(line, "msg "):
			select {
			case n.msgs <- strings.TrimPrefix(line, "msg "):
			default: // nobody listens for that many
			}
		case strings.HasPrefix(line, "ready "):
			n.ready <- strings.TrimPrefix(line, "ready ")
		}
	}
	close(n.replies)
}

// do sends one command and returns its reply: ok reports whether it started
// with "ok", rest is what follows.
func (n *node) do(cmd string) (rest string, ok bool) {
	if _, err := fmt.Fprintln(n.stdin, cmd); err != nil {
		return err.Error(), false
	}
	select {
	case r, open := <-n.replies:
		if !open {
			return "helper exited", false
		}
		if s, found := strings.CutPrefix(r, "ok"); found {
			return strings.TrimSpace(s), true
		}
		return r, false
	case <-time.After(20 * time.Second):
		return "no reply within 20 s", false
	}
}
