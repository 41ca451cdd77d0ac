package cluster

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/p2p"
)

func TestPeakRSS(t *testing.T) {
	kib, err := PeakRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if kib <= 0 || kib > 64<<20 {
		t.Errorf("PeakRSS(self) = %d KiB, want a plausible positive size", kib)
	}
	if _, err := PeakRSS(-1); err == nil {
		t.Errorf("PeakRSS(-1): got no error, want one")
	}
}

func TestRSS(t *testing.T) {
	now, err := RSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	peak, err := PeakRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if now <= 0 || now > peak {
		t.Errorf("RSS(self) = %d KiB with a peak of %d KiB; want 0 < RSS <= peak", now, peak)
	}
	if _, err := RSS(-1); err == nil {
		t.Errorf("RSS(-1): got no error, want one")
	}
}

// TestNetBytes sends 256 KiB over loopback and reads lo's counters before
// and after: both directions grow by at least that much (other traffic on
// lo only adds to them).
func TestNetBytes(t *testing.T) {
	rx0, tx0, err := NetBytes(os.Getpid(), "lo")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 256 << 10
	got := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		k, _ := io.Copy(io.Discard, c)
		got <- k
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if k := <-got; k != n {
		t.Fatalf("received %d bytes over loopback, want %d", k, n)
	}
	rx1, tx1, err := NetBytes(os.Getpid(), "lo")
	if err != nil {
		t.Fatal(err)
	}
	if rx1-rx0 < n || tx1-tx0 < n {
		t.Errorf("lo grew by %d bytes received and %d sent after %d bytes over it; want at least %d each", rx1-rx0, tx1-tx0, n, n)
	}
	if _, _, err := NetBytes(os.Getpid(), "no-such-dev0"); err == nil {
		t.Errorf("NetBytes of a missing interface: got no error, want one")
	}
}

// TestWritePlaced checks the configs of a cluster whose nodes live in
// namespaces: each listens on its own address at port 4001, the homes
// bootstrap to the authorities' addresses, every API port is distinct and
// the client's dialer knows the namespace behind each.
func TestWritePlaced(t *testing.T) {
	place := func(role config.Role, i int) Place {
		if role == config.RoleAuthority {
			return Place{Netns: fmt.Sprintf("ns-a%d", i), IP: fmt.Sprintf("192.0.0.%d", 129+i)}
		}
		return Place{Netns: fmt.Sprintf("ns-h%d", i), IP: fmt.Sprintf("192.168.1.%d", 10+i)}
	}
	cl, err := Write(t.TempDir(), Options{Binary: "gridmesh", Authorities: 4, Homes: 3, SlotSeconds: 4, TradingHomes: true, Place: place}, time.Unix(1_800_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	apis := map[string]bool{}
	for _, p := range slices.Concat(cl.Nodes, cl.Homes) {
		n, err := config.LoadNode(p.Config)
		if err != nil {
			t.Fatal(err)
		}
		pl := place(p.Role, p.Index)
		want := []string{"/ip4/" + pl.IP + "/tcp/4001", "/ip4/" + pl.IP + "/udp/4001/quic-v1"}
		if !slices.Equal(n.Network.Listen, want) {
			t.Errorf("%s: listen %q, want %q", p.Name, n.Network.Listen, want)
		}
		host := strings.TrimPrefix(p.API, "http://")
		if apis[host] || n.API.Listen != host {
			t.Errorf("%s: API %s (config %s): want a loopback address of its own, the config's", p.Name, host, n.API.Listen)
		}
		apis[host] = true
		if got := cl.netns[host]; got != pl.Netns {
			t.Errorf("%s: the dialer puts %s in namespace %q, want %q", p.Name, host, got, pl.Netns)
		}
		if p.Role == config.RoleHome {
			if len(n.Network.Bootstrap) != 4 || !strings.HasPrefix(n.Network.Bootstrap[0], "/ip4/192.0.0.129/tcp/4001/p2p/") {
				t.Errorf("%s: bootstrap %q, want the 4 authorities at their addresses, 192.0.0.129:4001 first", p.Name, n.Network.Bootstrap)
			}
		}
	}
}

func TestCPUTime(t *testing.T) {
	d, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d < 0 || d > time.Hour {
		t.Errorf("CPUTime(self) = %v, want a plausible duration", d)
	}
	if _, err := CPUTime(-1); err == nil {
		t.Errorf("CPUTime(-1): got no error, want one")
	}
}

func TestWriteBytes(t *testing.T) {
	before, err := WriteBytes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// 4 MiB written and fsynced must reach the block device.
	f, err := os.Create(filepath.Join(t.TempDir(), "w"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 4<<20)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	after, err := WriteBytes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 4<<20 {
		t.Errorf("WriteBytes grew by %d bytes over a 4 MiB fsynced write, want at least %d", after-before, 4<<20)
	}
	if _, err := WriteBytes(-1); err == nil {
		t.Errorf("WriteBytes(-1): got no error, want one")
	}
}

func TestAge(t *testing.T) {
	d, err := Age(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d < 0 || d > 24*time.Hour {
		t.Errorf("Age(self) = %v, want a plausible duration", d)
	}
	if _, err := Age(-1); err == nil {
		t.Errorf("Age(-1): got no error, want one")
	}
}

func TestWriteRefusesDevNetwork(t *testing.T) {
	_, err := Write(t.TempDir(), Options{Authorities: 3}, time.Now())
	if err == nil {
		t.Fatal("Write with 3 authorities: got no error, want one (a dev network only with Options.Dev)")
	}
	if errors.Is(err, os.ErrNotExist) {
		t.Errorf("Write with 3 authorities: got %v, want a refusal", err)
	}
	if _, err := Write(t.TempDir(), Options{Authorities: 0, Dev: true}, time.Now()); err == nil {
		t.Error("Write with 0 authorities and Dev: got no error, want one")
	}
}

func TestWriteDevNetwork(t *testing.T) {
	cl, err := Write(t.TempDir(), Options{Binary: "gridmesh", Authorities: 1, Homes: 3, SlotSeconds: 5, TradingHomes: true, Dev: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g, err := config.LoadGenesis(filepath.Join(cl.Homes[2].Dir, "genesis.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !g.Dev || len(g.Authorities) != 1 || len(g.Participants) != 3 || g.SlotSeconds != 5 {
		t.Errorf("genesis: dev %v, %d authorities, %d participants, %d s slots; want true, 1, 3, 5", g.Dev, len(g.Authorities), len(g.Participants), g.SlotSeconds)
	}
}

func TestWriteAndOrders(t *testing.T) {
	dir := t.TempDir()
	cl, err := Write(dir, Options{Binary: "gridmesh", Authorities: 4, Accounts: 3}, time.Unix(1_800_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.Nodes) != 4 || len(cl.Accounts) != 3 {
		t.Fatalf("got %d nodes and %d accounts, want 4 and 3", len(cl.Nodes), len(cl.Accounts))
	}
	g, err := config.LoadGenesis(filepath.Join(cl.Nodes[0].Dir, "genesis.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if g.Dev || len(g.Authorities) != 4 || len(g.Participants) != 3 {
		t.Errorf("genesis: dev %v, %d authorities, %d participants; want false, 4, 3", g.Dev, len(g.Authorities), len(g.Participants))
	}
	ports := map[string]bool{}
	for _, p := range cl.Nodes {
		n, err := config.LoadNode(p.Config)
		if err != nil {
			t.Fatal(err)
		}
		if n.Node.Role != config.RoleAuthority || n.Node.Clock != config.ClockTrust || len(n.Network.Bootstrap) != 3 {
			t.Errorf("%s: role %q, clock %q, %d bootstrap peers; want authority, trust, 3", p.Name, n.Node.Role, n.Node.Clock, len(n.Network.Bootstrap))
		}
		for _, a := range append([]string{n.API.Listen}, n.Network.Listen...) {
			if ports[a] {
				t.Errorf("%s: address %s used twice", p.Name, a)
			}
			ports[a] = true
		}
	}
	gen := chain.Genesis{ChainID: g.ChainID, Epoch: g.Epoch, SlotSeconds: g.SlotSeconds,
		OpenLeadSeconds: g.OpenLeadSeconds, GateLeadSeconds: g.GateLeadSeconds}
	tariff := market.Tariff{Floor: g.Tariff.Floor, Ceiling: g.Tariff.Ceiling, Fee: g.Tariff.Fee}
	nowMs := g.Epoch * 1000
	orders, again := cl.NewOrders(1), cl.NewOrders(1)
	nonces := map[uint64]bool{}
	for range 200 {
		tx := orders.Next()
		if err := tx.Verify(); err != nil {
			t.Fatalf("order %d: %v", tx.Nonce, err)
		}
		if nonces[tx.Nonce] {
			t.Errorf("nonce %d used twice", tx.Nonce)
		}
		nonces[tx.Nonce] = true
		o := tx.Order
		if err := tariff.Check(market.Order{Side: o.Side, Energy: o.Energy, Price: o.Price}); err != nil || o.Energy > 1000 {
			t.Errorf("order %d: %d Wh at %d: %v; want 1..1000 Wh within the tariff", tx.Nonce, o.Energy, o.Price, err)
		}
		// Valid from the epoch for 25 minutes.
		for _, at := range []int64{nowMs, nowMs + 25*60*1000 - 1} {
			if at < gen.OpenAt(o.Slot) || at >= gen.GateClosure(o.Slot) {
				t.Errorf("order %d for %s: not open at %d ms (open [%d, %d))", tx.Nonce, o.Slot, at, gen.OpenAt(o.Slot), gen.GateClosure(o.Slot))
			}
		}
		if tx2 := again.Next(); tx2.Hash() != tx.Hash() {
			t.Fatalf("NewOrders(1) twice: order %d differs", tx.Nonce)
		}
	}
}

// TestObserverConflicts feeds the observer's validator signed messages
// directly: a re-sent message is no conflict, a second value for the same
// height, round and type is, and a bad signature or a stranger is not counted.
func TestObserverConflicts(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, stranger, _ := ed25519.GenerateKey(nil)
	id := ident.Account(ident.AccountOf(pub))
	o := &Observer{chainID: "c", pubs: map[ident.Account]ed25519.PublicKey{id: pub}, signed: map[signedKey]ident.Hash{}}
	sign := func(key ed25519.PrivateKey, m consensus.Message) []byte {
		m.From = id
		m.Sig = ed25519.Sign(key, m.SignBytes("c"))
		return append([]byte{kindVote}, m.Encode()...)
	}
	vote := func(typ consensus.MsgType, h uint64, r int32, v byte) consensus.Message {
		return consensus.Message{Type: typ, Height: h, Round: r, ValueID: ident.Hash{v}, ValidRound: -1}
	}
	prop := func(h uint64, r int32, value string) consensus.Message {
		return consensus.Message{Type: consensus.Proposal, Height: h, Round: r, ValueID: ident.Hash(sha256.Sum256([]byte(value))), ValidRound: -1, Value: []byte(value)}
	}
	steps := []struct {
		payload       []byte
		wantConflicts int
	}{
		{sign(priv, vote(consensus.Prevote, 5, 0, 1)), 0},
		{sign(priv, vote(consensus.Prevote, 5, 0, 1)), 0},   // re-broadcast
		{sign(priv, vote(consensus.Precommit, 5, 0, 1)), 0}, // another type
		{sign(priv, vote(consensus.Prevote, 5, 1, 2)), 0},   // another round
		{sign(priv, vote(consensus.Prevote, 5, 0, 0)), 1},   // nil after a value: double vote
		{sign(stranger, vote(consensus.Prevote, 5, 0, 3)), 1},
		{[]byte{2, 1, 2, 3}, 1}, // a block, not a vote
		{sign(priv, prop(6, 0, "block a")), 1},
		{sign(priv, prop(6, 0, "block a")), 1},
		{sign(priv, prop(6, 0, "block b")), 2}, // equivocating proposer
	}
	for i, s := range steps {
		if v := o.see(nil, s.payload); v != p2p.Ignore {
			t.Errorf("step %d: verdict %v, want Ignore (the observer never relays)", i, v)
		}
		if got := len(o.Conflicts()); got != s.wantConflicts {
			t.Fatalf("step %d: %d conflicts, want %d: %v", i, got, s.wantConflicts, o.Conflicts())
		}
	}
	ok, bad := o.Messages()
	if ok != 8 || bad != 1 {
		t.Errorf("messages: %d ok, %d bad; want 8 and 1", ok, bad)
	}
	c := o.Conflicts()
	if c[0].Height != 5 || c[0].Type != consensus.Prevote || c[1].Type != consensus.Proposal || !strings.Contains(c[1].String(), "height 6 round 0") {
		t.Errorf("conflicts %v: want the prevote at height 5 and the proposal at height 6", c)
	}
}
