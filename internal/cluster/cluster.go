package cluster

import (
	"crypto/ed25519"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/internal/portlease"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/unit"
)

// Options say what network Write creates.
type Options struct {
	Binary      string // the gridmesh executable
	Authorities int    // at least 4, or at least 1 with Dev
	Accounts    int    // pre-admitted participants whose keys the cluster keeps
	ChainID     string // "" = "gridmesh-crashtest"
	// Homes is how many home nodes to write besides the authorities (0 = none).
	// A home is not admitted in the genesis and does not trade: it only
	// follows the chain, bootstrapped to every authority; with homes, every
	// node runs the DHT, through which the homes meet.
	Homes int
	// Followers is every node's [network] followers (0 = the role's default).
	Followers int
	// SlotSeconds, if > 0, gives the network short slots that trade during a
	// test (as `gridmesh demo`'s do): orders open two slots ahead, gate
	// closure 1 s before a slot starts, attestations for one slot after it
	// ends, and slot 0 opens a few seconds after Write. 0 keeps the
	// benchmark's layout (900 s slots, no gate closure for 25 minutes).
	SlotSeconds int64
	// TradingHomes admits the homes in the genesis and lets them trade: each
	// runs a simulated meter (panels on every other home) and its trading
	// agent, and attests its slots. Without it a home only follows.
	TradingHomes bool
	// Dev writes a development genesis (dev = true), which allows fewer
	// than 4 authorities: one authority and its homes, as `gridmesh demo`.
	Dev bool
	// Place, if not nil, puts each node in a network namespace that the
	// caller has made (internal/nattest's microgrid): role and i say which
	// node (i counts within the role). A node with a Place listens on
	// IP:4001 (TCP and QUIC) there, an authority is dialled at that address,
	// its API listens on the namespace's loopback, and the cluster starts it
	// with `ip netns exec` and reaches its API inside the namespace. A zero
	// Place leaves the node on the host's loopback.
	Place func(role config.Role, i int) Place
}

// Place is where a node of a placed cluster runs (Options.Place).
type Place struct {
	Netns string // the namespace's name under /run/netns
	IP    string // the node's address in it
}

func (o Options) place(role config.Role, i int) Place {
	if o.Place == nil {
		return Place{}
	}
	return o.Place(role, i)
}

// Cluster is a network of authorities, and optionally homes, run as child
// processes. Its methods may be called from several goroutines. The
// index-based methods (Start, Kill, Status, ...) address Nodes, the
// authorities; StartProc, StatusOf and the Proc methods address any process,
// homes included.
type Cluster struct {
	Dir      string
	Genesis  config.Genesis
	Accounts []ed25519.PrivateKey // participants admitted in the genesis
	Nodes    []*Proc              // the authorities, in genesis order
	Homes    []*Proc              // the homes (Options.Homes), none started by Write
	binary   string
	client   *http.Client
	netns    map[string]string // API host:port -> namespace, for the placed nodes
}

// Proc is one node, an authority or a home: its files, its fixed loopback
// ports and the process currently running it, if any.
type Proc struct {
	Index  int         // in Cluster.Nodes or Cluster.Homes
	Name   string      // authority-N or home-N (N = Index+1)
	Role   config.Role // config.RoleAuthority or config.RoleHome
	Dir    string
	Config string // node.toml
	API    string // base URL, http://127.0.0.1:port
	Stderr string // the stderr of every incarnation, appended
	Stdout string

	binary   string // "" = the cluster's (SetBinary)
	netns    string // run inside this network namespace (Options.Place)
	p2pAddr  string // full libp2p address with /p2p/<id>
	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has been reaped
	killed   bool          // the current incarnation was killed by the cluster
	exitErr  error         // how the current incarnation ended
	unwanted []string      // incarnations that ended without being asked to
	starts   int
}

// Write creates the network's files under dir (which must exist) and returns
// the cluster; nothing runs yet.
func Write(dir string, o Options, now time.Time) (*Cluster, error) {
	minAuth := config.MinAuthorities
	if o.Dev {
		minAuth = 1
	}
	if o.Authorities < minAuth {
		return nil, fmt.Errorf("cluster: %d authorities: expected at least %d", o.Authorities, minAuth)
	}
	if o.ChainID == "" {
		o.ChainID = "gridmesh-crashtest"
	}
	c := &Cluster{Dir: dir, binary: o.Binary, netns: map[string]string{}}
	c.client = &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 128,
			IdleConnTimeout:     30 * time.Second,
			DialContext:         c.dial,
		},
	}
	gen := clusterGenesis(o, now)
	var ps []ports
	var bootstrap []string
	for i := range o.Authorities {
		p, pp, pub, err := c.newProc(dir, i, config.RoleAuthority, o.place(config.RoleAuthority, i))
		if err != nil {
			return nil, err
		}
		gen.Authorities = append(gen.Authorities, config.Member{Name: p.Name, Key: string(ident.AccountOf(pub))})
		bootstrap = append(bootstrap, p.p2pAddr)
		ps = append(ps, pp)
		c.Nodes = append(c.Nodes, p)
	}
	var homePorts []ports
	for i := range o.Homes {
		p, pp, pub, err := c.newProc(dir, i, config.RoleHome, o.place(config.RoleHome, i))
		if err != nil {
			return nil, err
		}
		if o.TradingHomes {
			gen.Participants = append(gen.Participants, config.Member{Name: p.Name, Key: string(ident.AccountOf(pub))})
		}
		homePorts = append(homePorts, pp)
		c.Homes = append(c.Homes, p)
	}
	for i := range o.Accounts {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		c.Accounts = append(c.Accounts, priv)
		gen.Participants = append(gen.Participants, config.Member{
			Name: fmt.Sprintf("bench-%d", i+1),
			Key:  string(ident.AccountOf(priv.Public().(ed25519.PublicKey))),
		})
	}
	gen.Operator = gen.Authorities[0].Key
	c.Genesis = gen
	if err := c.writeConfigs(o, ps, homePorts, bootstrap); err != nil {
		return nil, err
	}
	return c, nil
}

// clusterGenesis is the genesis of a cluster Write makes at now, without
// its members.
func clusterGenesis(o Options, now time.Time) config.Genesis {
	gen := config.DefaultGenesis()
	gen.ChainID = o.ChainID
	gen.Dev = o.Dev
	gen.SlotSeconds = 900
	gen.OpenLeadSeconds = 86400
	gen.GateLeadSeconds = 300
	gen.AttestWindowSeconds = 900
	gen.Epoch = now.Unix()
	if o.SlotSeconds > 0 {
		gen.SlotSeconds = o.SlotSeconds
		gen.OpenLeadSeconds = 2 * o.SlotSeconds
		gen.GateLeadSeconds = 1
		gen.AttestWindowSeconds = o.SlotSeconds
		gen.Epoch = now.Unix() + 5 + gen.OpenLeadSeconds // slot 0 opens 5 s after Write
	}
	gen.Tariff = config.TariffSection{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}
	return gen
}

// writeConfigs writes every process's node.toml and the genesis beside it:
// authorities bootstrap from the other authorities, homes from them all.
func (c *Cluster) writeConfigs(o Options, ps, homePorts []ports, bootstrap []string) error {
	genBytes := c.Genesis.TOML()
	for i, p := range c.Nodes {
		var others []string
		for j, b := range bootstrap {
			if j != i {
				others = append(others, b)
			}
		}
		if err := writeNodeConfig(p, ps[i], genBytes, others, func(n *config.Node) {
			n.Network.DHT = o.Homes > 0
			n.Network.Followers = o.Followers
		}); err != nil {
			return err
		}
	}
	for i, p := range c.Homes {
		// A home needs a meter driver; the simulated one reads no device.
		// Unless TradingHomes, its key is not admitted, so it does not
		// trade: it only follows.
		err := writeNodeConfig(p, homePorts[i], genBytes, slices.Clone(bootstrap), func(n *config.Node) {
			n.Meter.Driver = "sim"
			n.Trading.Enabled = false
			n.Network.DHT = true
			n.Network.Followers = o.Followers
			if o.TradingHomes {
				tradingHome(n, i, c.Genesis.SlotSeconds)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// tradingHome makes home i a household that trades: panels on every other
// home, a load on each, limits that let the two kinds meet, and a meter
// whose simulated day runs 15 minutes per slot.
func tradingHome(n *config.Node, i int, slot int64) {
	n.Trading.Enabled = true
	n.Trading.SellMinPrice, n.Trading.BuyMaxPrice = 100_000, 250_000
	n.Meter.Sim.Seed = int64(i + 1)
	n.Meter.Sim.LoadW = unit.W(600 + 300*int64(i%3))
	n.Meter.Sim.PVPeakW = 0
	if i%2 == 0 {
		n.Meter.Sim.PVPeakW = 6000
	}
	n.Meter.Sim.Speed = max(900/slot, 1)
	n.Meter.Interval = config.Duration{Duration: min(max(time.Duration(slot)*time.Second/10, 100*time.Millisecond), time.Second)}
}

// writeNodeConfig writes p's genesis and node.toml: its role, a trusted clock,
// no mDNS, its fixed loopback ports and peers as bootstrap; edit, if not nil,
// changes the rest before the config is validated.
func writeNodeConfig(p *Proc, pp ports, genesis []byte, peers []string, edit func(*config.Node)) error {
	if err := os.WriteFile(filepath.Join(p.Dir, "genesis.toml"), genesis, 0o600); err != nil {
		return err
	}
	n := config.DefaultNode()
	n.Node.Name = p.Name
	n.Node.Role = p.Role
	n.Node.Clock = config.ClockTrust
	n.Network.MDNS = false
	n.Network.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", pp.p2p)}
	if pp.ip != "" {
		n.Network.Listen = []string{fmt.Sprintf("/ip4/%s/tcp/%d", pp.ip, pp.p2p), fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", pp.ip, pp.p2p)}
	}
	n.Network.Bootstrap = peers
	n.API.Listen = fmt.Sprintf("127.0.0.1:%d", pp.api)
	if edit != nil {
		edit(&n)
	}
	if err := n.Validate(p.Config); err != nil {
		return err
	}
	return os.WriteFile(p.Config, n.TOML(), 0o600)
}

// ports are a node's fixed ports: on loopback, or with ip on that address
// in its namespace.
type ports struct {
	p2p, api int
	ip       string
}

// placedP2P is the p2p port of every node in a namespace: each has its own
// address.
const placedP2P = 4001

// newProc creates the directory and key of the i-th node of a role under dir
// and picks its ports; a placed node (pl.Netns set) gets pl.IP and an API
// port unique in the cluster, by which c.dial finds its namespace.
func (c *Cluster) newProc(dir string, i int, role config.Role, pl Place) (*Proc, ports, ed25519.PublicKey, error) {
	var pp ports
	p := &Proc{Index: i, Name: fmt.Sprintf("%s-%d", role, i+1), Role: role, netns: pl.Netns}
	p.Dir = filepath.Join(dir, p.Name)
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return nil, pp, nil, err
	}
	key, err := config.WriteKey(filepath.Join(p.Dir, "node.key"))
	if err != nil {
		return nil, pp, nil, err
	}
	pub := key.Public().(ed25519.PublicKey)
	// The p2p port stays leased while the cluster runs, so a killed node
	// finds it free when it restarts; the API listener does not bind with
	// SO_REUSEPORT, so its port is only picked.
	host := "127.0.0.1"
	if pl.Netns != "" {
		host, pp.ip, pp.p2p = pl.IP, pl.IP, placedP2P
	} else if pp.p2p, err = portlease.TCP(time.Hour); err != nil {
		return nil, pp, nil, err
	}
	for {
		if pp.api, err = freePort(); err != nil {
			return nil, pp, nil, err
		}
		if _, taken := c.netns[fmt.Sprintf("127.0.0.1:%d", pp.api)]; !taken {
			break
		}
	}
	if pl.Netns != "" {
		c.netns[fmt.Sprintf("127.0.0.1:%d", pp.api)] = pl.Netns
	}
	id, err := p2p.PeerID(pub)
	if err != nil {
		return nil, pp, nil, err
	}
	p.p2pAddr = fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", host, pp.p2p, id)
	p.Config = filepath.Join(p.Dir, "node.toml")
	p.API = fmt.Sprintf("http://127.0.0.1:%d", pp.api)
	p.Stderr = filepath.Join(p.Dir, "stderr.log")
	p.Stdout = filepath.Join(p.Dir, "stdout.log")
	return p, pp, pub, nil
}

// freePort finds a free TCP port on loopback. Ports are fixed in the configs so
// that a restarted node comes back where its peers expect it.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
