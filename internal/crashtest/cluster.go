package crashtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/unit"
)

// Options say what network Write creates.
type Options struct {
	Binary      string // the gridmesh executable
	Authorities int    // at least 4 (dev = false)
	Accounts    int    // pre-admitted participants whose keys the cluster keeps
	ChainID     string // "" = "gridmesh-crashtest"
	// Homes is how many home nodes to write besides the authorities (0 = none).
	// A home is not admitted in the genesis and does not trade: it only
	// follows the chain, bootstrapped to every authority; with homes, every
	// node runs the DHT, through which the homes meet.
	Homes int
	// Followers is every node's [network] followers (0 = the role's default).
	Followers int
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
	if o.Authorities < config.MinAuthorities {
		return nil, fmt.Errorf("crashtest: %d authorities: expected at least %d", o.Authorities, config.MinAuthorities)
	}
	if o.ChainID == "" {
		o.ChainID = "gridmesh-crashtest"
	}
	c := &Cluster{
		Dir:    dir,
		binary: o.Binary,
		client: &http.Client{
			Timeout: 5 * time.Second,
			Transport: &http.Transport{
				MaxIdleConns:        512,
				MaxIdleConnsPerHost: 128,
				IdleConnTimeout:     30 * time.Second,
			},
		},
	}
	gen := config.DefaultGenesis()
	gen.ChainID = o.ChainID
	gen.Dev = false
	gen.SlotSeconds = 900
	gen.OpenLeadSeconds = 86400
	gen.GateLeadSeconds = 300
	gen.AttestWindowSeconds = 900
	gen.Epoch = now.Unix()
	gen.Tariff = config.TariffSection{Floor: 80_000, Ceiling: 300_000, Fee: 20_000}
	var ps []ports
	var bootstrap []string
	for i := range o.Authorities {
		p, pp, pub, err := newProc(dir, i, config.RoleAuthority)
		if err != nil {
			return nil, err
		}
		gen.Authorities = append(gen.Authorities, config.Member{Name: p.Name, Key: string(chain.AccountOf(pub))})
		bootstrap = append(bootstrap, p.p2pAddr)
		ps = append(ps, pp)
		c.Nodes = append(c.Nodes, p)
	}
	var homePorts []ports
	for i := range o.Homes {
		p, pp, _, err := newProc(dir, i, config.RoleHome)
		if err != nil {
			return nil, err
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
			Key:  string(chain.AccountOf(priv.Public().(ed25519.PublicKey))),
		})
	}
	gen.Operator = gen.Authorities[0].Key
	c.Genesis = gen
	genBytes := gen.TOML()
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
			return nil, err
		}
	}
	for i, p := range c.Homes {
		// A home needs a meter driver; the simulated one reads no device. Its
		// key is not admitted, so it does not trade: it only follows.
		err := writeNodeConfig(p, homePorts[i], genBytes, slices.Clone(bootstrap), func(n *config.Node) {
			n.Meter.Driver = "sim"
			n.Trading.Enabled = false
			n.Network.DHT = true
			n.Network.Followers = o.Followers
		})
		if err != nil {
			return nil, err
		}
	}
	return c, nil
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

// ports are a node's fixed loopback ports.
type ports struct{ p2p, api int }

// newProc creates the directory and key of the i-th node of a role under dir
// and picks its ports.
func newProc(dir string, i int, role config.Role) (*Proc, ports, ed25519.PublicKey, error) {
	var pp ports
	p := &Proc{Index: i, Name: fmt.Sprintf("%s-%d", role, i+1), Role: role}
	p.Dir = filepath.Join(dir, p.Name)
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return nil, pp, nil, err
	}
	key, err := config.WriteKey(filepath.Join(p.Dir, "node.key"))
	if err != nil {
		return nil, pp, nil, err
	}
	pub := key.Public().(ed25519.PublicKey)
	if pp.p2p, err = freePort(); err != nil {
		return nil, pp, nil, err
	}
	if pp.api, err = freePort(); err != nil {
		return nil, pp, nil, err
	}
	id, err := p2p.PeerID(pub)
	if err != nil {
		return nil, pp, nil, err
	}
	p.p2pAddr = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", pp.p2p, id)
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

// Start starts authority i (`gridmesh run -c node.toml`) on its data directory.
func (c *Cluster) Start(i int) error { return c.StartProc(c.Nodes[i]) }

// StartProc starts p, an authority or a home, on its data directory.
func (c *Cluster) StartProc(p *Proc) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("crashtest: %s is already running", p.Name)
		}
	}
	stderr, err := os.OpenFile(p.Stderr, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	stdout, err := os.OpenFile(p.Stdout, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		stderr.Close()
		return err
	}
	p.starts++
	fmt.Fprintf(stderr, "--- crashtest: start %d of %s at %s\n", p.starts, p.Name, time.Now().UTC().Format(time.RFC3339Nano))
	args := []string{"run", "-c", p.Config}
	if d := os.Getenv("GRIDMESH_CPUPROFILE_DIR"); d != "" {
		// A CPU profile per start, for finding where a benchmark's time goes.
		args = append(args, "--cpuprofile", filepath.Join(d, fmt.Sprintf("%s-%d.prof", p.Name, p.starts)))
	}
	if d := os.Getenv("GRIDMESH_MEMPROFILE_DIR"); d != "" {
		// A heap profile per incarnation, written when it stops.
		args = append(args, "--memprofile", filepath.Join(d, fmt.Sprintf("%s-%d.heap", p.Name, p.starts)))
	}
	cmd := exec.Command(c.binary, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	if err := cmd.Start(); err != nil {
		stderr.Close()
		stdout.Close()
		return fmt.Errorf("crashtest: start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.killed, p.exitErr = cmd, done, false, nil
	start := p.starts
	go func() {
		err := cmd.Wait()
		stderr.Close()
		stdout.Close()
		p.mu.Lock()
		p.exitErr = err
		if !p.killed {
			p.unwanted = append(p.unwanted, fmt.Sprintf("start %d exited by itself: %v", start, err))
		}
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Kill sends SIGKILL to authority i and waits until the process is gone.
func (c *Cluster) Kill(i int) error { return c.Nodes[i].Kill() }

// Kill sends SIGKILL to p's current incarnation and waits until it is gone.
func (p *Proc) Kill() error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd == nil {
		p.mu.Unlock()
		return fmt.Errorf("crashtest: %s was never started", p.Name)
	}
	p.killed = true
	p.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("crashtest: kill %s: %w", p.Name, err)
	}
	<-done
	return nil
}

// Stop ends every running node, authorities and homes, with SIGTERM (SIGKILL
// after the grace period) and waits for them.
func (c *Cluster) Stop(grace time.Duration) {
	var wg sync.WaitGroup
	for _, p := range slices.Concat(c.Nodes, c.Homes) {
		p.mu.Lock()
		cmd, done := p.cmd, p.done
		if cmd != nil {
			p.killed = true
		}
		p.mu.Unlock()
		if cmd == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(grace):
				_ = cmd.Process.Signal(syscall.SIGKILL)
				<-done
			}
		}()
	}
	wg.Wait()
	c.client.CloseIdleConnections()
}

// Running reports whether authority i's current incarnation is alive.
func (c *Cluster) Running(i int) bool { return c.Nodes[i].Running() }

// Running reports whether p's current incarnation is alive.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Pid is the process id of authority i's current incarnation (0 if none).
func (c *Cluster) Pid(i int) int { return c.Nodes[i].Pid() }

// Pid is the process id of p's current incarnation (0 if none).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Unwanted lists authority i's incarnations that ended without being killed
// or stopped by the cluster.
func (c *Cluster) Unwanted(i int) []string { return c.Nodes[i].Unwanted() }

// Unwanted lists p's incarnations that ended without being killed or stopped
// by the cluster.
func (p *Proc) Unwanted() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.unwanted...)
}

// Starts is how many times authority i was started.
func (c *Cluster) Starts(i int) int { return c.Nodes[i].Starts() }

// Starts is how many times p was started.
func (p *Proc) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Status is the part of GET /api/v1/status the cluster reads.
type Status struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	Height      uint64 `json:"height"`
	StateHash   string `json:"state_hash"`
	Peers       int    `json:"peers"`
	ClockSynced bool   `json:"clock_synced"`
	Evidence    int64  `json:"evidence"`
	// ProposalsFetched counts proposals fetched whole (node/wire.go).
	ProposalsFetched int64 `json:"proposals_fetched"`
	// P2PBytesIn and P2PBytesOut are the bytes the node's libp2p streams
	// carried since the process started (they restart from 0 with it).
	P2PBytesIn  int64 `json:"p2p_bytes_in"`
	P2PBytesOut int64 `json:"p2p_bytes_out"`
	// P2PProtocols splits them by libp2p protocol id.
	P2PProtocols map[string]struct {
		In  int64 `json:"in"`
		Out int64 `json:"out"`
	} `json:"p2p_protocols"`
	NodeID    string `json:"node_id"`
	Upstream  string `json:"upstream"`  // the peer a home follows
	Followers int    `json:"followers"` // the peers this node serves the head to
}

// Block is GET /api/v1/blocks/{height}.
type Block struct {
	Height    uint64   `json:"height"`
	Hash      string   `json:"hash"`
	Time      int64    `json:"time_ms"`
	Proposer  string   `json:"proposer"`
	StateHash string   `json:"state_hash"`
	Txs       []string `json:"txs"`
}

// Status reads authority i's status.
func (c *Cluster) Status(ctx context.Context, i int) (Status, error) {
	return c.StatusOf(ctx, c.Nodes[i])
}

// StatusOf reads p's status, an authority's or a home's.
func (c *Cluster) StatusOf(ctx context.Context, p *Proc) (Status, error) {
	var st Status
	err := c.get(ctx, p.API+"/api/v1/status", &st)
	return st, err
}

// Block reads node i's committed block at height h.
func (c *Cluster) Block(ctx context.Context, i int, h uint64) (Block, error) {
	var b Block
	err := c.get(ctx, c.Nodes[i].API+"/api/v1/blocks/"+strconv.FormatUint(h, 10), &b)
	return b, err
}

func (c *Cluster) get(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, v)
}

// ErrRejected is a POST /api/v1/tx answered with something other than 202.
var ErrRejected = errors.New("crashtest: tx rejected")

// PostTx offers one signed tx to node i. A 202 returns nil; any other answer
// wraps ErrRejected with the node's reason; a transport error is returned as is.
func (c *Cluster) PostTx(ctx context.Context, i int, encoded []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Nodes[i].API+"/api/v1/tx", bytes.NewReader(encoded))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%w: %s: %s", ErrRejected, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// WaitConnected waits until every authority in idx answers and sees at least
// len(idx)-1 peers.
func (c *Cluster) WaitConnected(ctx context.Context, idx []int) error {
	ps := make([]*Proc, len(idx))
	for k, i := range idx {
		ps[k] = c.Nodes[i]
	}
	return c.WaitPeers(ctx, ps, len(idx)-1)
}

// WaitPeers waits until every process in ps answers and sees at least peers
// peers.
func (c *Cluster) WaitPeers(ctx context.Context, ps []*Proc, peers int) error {
	for {
		ok := true
		var last error
		for _, p := range ps {
			st, err := c.StatusOf(ctx, p)
			if err != nil {
				ok, last = false, fmt.Errorf("%s: %w", p.Name, err)
				break
			}
			if st.Peers < peers {
				ok, last = false, fmt.Errorf("%s sees %d peers, want %d", p.Name, st.Peers, peers)
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("crashtest: nodes not connected: %w (%v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PeakRSS reads VmHWM (the peak resident set) of a process from /proc, in KiB.
func PeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("crashtest: no VmHWM in /proc/%d/status", pid)
}

// Orders makes signed order txs from the cluster's accounts: buy or sell, 1 to
// 1,000 Wh, a price within the genesis tariff, for one of slots 2..91 (all open
// from the epoch on, none closing within its first 25 minutes), each with
// its own nonce. It is deterministic in rng.
type Orders struct {
	c     *Cluster
	rng   *rand.Rand
	nonce uint64
}

// NewOrders returns an order maker drawing from seed.
func (c *Cluster) NewOrders(seed uint64) *Orders {
	return &Orders{c: c, rng: rand.New(rand.NewPCG(seed, 0x62656e6368))}
}

// Next returns the next signed order tx.
func (o *Orders) Next() chain.Tx {
	g := o.c.Genesis
	key := o.c.Accounts[o.rng.IntN(len(o.c.Accounts))]
	side := market.Buy
	if o.rng.IntN(2) == 1 {
		side = market.Sell
	}
	o.nonce++
	tx := chain.Tx{
		ChainID: g.ChainID,
		Kind:    chain.TxOrder,
		From:    chain.AccountOf(key.Public().(ed25519.PublicKey)),
		Nonce:   o.nonce,
		Order: &chain.Order{
			Side:   side,
			Slot:   unit.Slot(2 + o.rng.IntN(90)),
			Energy: unit.Wh(1 + o.rng.IntN(1000)),
			Price:  g.Tariff.Floor + unit.Price(o.rng.Int64N(int64(g.Tariff.Ceiling-g.Tariff.Floor)+1)),
		},
	}
	tx.Sign(key)
	return tx
}

// CPUTime reads the user plus system CPU time a process has used so far from
// /proc/<pid>/stat.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it are plain.
	s := string(b)
	j := strings.LastIndexByte(s, ')')
	if j < 0 {
		return 0, fmt.Errorf("crashtest: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[j+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("crashtest: /proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("crashtest: /proc/%d/stat: %w", pid, err)
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// Build builds the gridmesh binary of the module that holds the working
// directory into dir and returns its path (tests that run nodes as
// processes use it).
func Build(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	bin := filepath.Join(dir, "gridmesh")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/gridmesh")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gridmesh: %w\n%s", err, b)
	}
	return bin, nil
}
