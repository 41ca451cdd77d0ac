package node

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/node/nodetest"
	"github.com/gridmesh/gridmesh/wire"
)

// running is a node started by a test.
type running struct {
	n *Node
	*nodetest.Background
}

// start loads and runs the node configured at path; the test's cleanup
// halts it.
func start(t *testing.T, path string, opts Options) *running {
	t.Helper()
	n, err := Load(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return runLoaded(t, n)
}

// runLoaded runs the loaded node n; the test's cleanup halts it.
func runLoaded(t *testing.T, n *Node) *running {
	t.Helper()
	r := &running{n: n, Background: nodetest.Go(n.cfg.Node.Name, n.Run)}
	t.Cleanup(func() { r.Halt(t) })
	return r
}

// waitFor and eventually poll real nodes; they are node/nodetest's, shared
// with the whole-network tests there.
var (
	waitFor    = nodetest.WaitFor
	eventually = nodetest.Eventually
)

// dropProto is an Options.Filter that loses every frame of proto.
func dropProto(proto string) func(string, ed25519.PublicKey, []byte) bool {
	return func(p string, _ ed25519.PublicKey, _ []byte) bool { return p != proto }
}

// WriteDemoNetwork refuses the options Demo refuses (a slot of 0 divided
// by zero before), and writes nothing for them.
func TestWriteDemoNetworkChecksOptions(t *testing.T) {
	for _, edit := range []func(*DemoOptions){
		func(o *DemoOptions) { o.Slot = 0 },
		func(o *DemoOptions) { o.Slot = 1500 * time.Millisecond },
		func(o *DemoOptions) { o.Homes = 0 },
		func(o *DemoOptions) { o.Authorities = 0 },
	} {
		opts := DefaultDemoOptions()
		edit(&opts)
		dir := t.TempDir()
		paths, err := WriteDemoNetwork(dir, opts, time.Now())
		if entries, _ := os.ReadDir(dir); err == nil || len(paths) != 0 || len(entries) != 0 {
			t.Errorf("WriteDemoNetwork(%+v): %d paths, %d entries written, error %v; want an error and nothing written", opts, len(paths), len(entries), err)
		}
	}
}

// TestLoadErrors checks that the ways a node can fail to start each give one
// clear error naming what is wrong.
func TestLoadErrors(t *testing.T) {
	newNet := func(t *testing.T) []string {
		opts := DefaultDemoOptions()
		opts.Homes, opts.Authorities = 1, 1
		paths, err := WriteDemoNetwork(t.TempDir(), opts, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return paths
	}
	edit := func(t *testing.T, path, old, new string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), old) {
			t.Fatalf("%s has no %q", path, old)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
		want  []string
	}{
		{"malformed config", func(t *testing.T, path string) {
			edit(t, path, "[api]", "[api]\nlisten_port = 8080")
		}, []string{"node.toml", "api.listen_port"}},
		{"missing key file", func(t *testing.T, path string) {
			if err := os.Remove(filepath.Join(filepath.Dir(path), "node.key")); err != nil {
				t.Fatal(err)
			}
		}, []string{"node.key"}},
		{"port in use", func(t *testing.T, path string) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			edit(t, path, `"127.0.0.1:0"`, `"`+l.Addr().String()+`"`)
		}, []string{"api.listen", "address already in use"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newNet(t)[1]
			tt.setup(t, path)
			n, err := Load(context.Background(), path, Options{})
			if err == nil {
				n.close()
				t.Fatal("Load succeeded; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// A full mempool of the largest orders still gives a proposal that fits in one
// gossip message (it is sent whole): fitProposal caps the block in bytes.
func TestProposalFitsGossip(t *testing.T) {
	opts := DefaultDemoOptions()
	opts.Homes, opts.Authorities = 1, 1
	paths, err := WriteDemoNetwork(t.TempDir(), opts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n := loaded(t, paths[0])
	key, err := config.LoadKey(filepath.Join(filepath.Dir(paths[1]), "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(n.gen.OpenAt(0))
	txs := make([]chain.Tx, wire.MaxBlockTxs)
	for i := range txs {
		txs[i] = chain.Tx{ChainID: n.gen.ChainID, Kind: chain.TxOrder, From: ident.AccountOf(key.Public().(ed25519.PublicKey)), Nonce: math.MaxUint64 - uint64(i),
			Order: &chain.Order{Side: market.Sell, Slot: 0, Energy: market.MaxEnergy, Price: n.gen.Tariff.Ceiling}}
		txs[i].Sign(key)
	}
	small := fitProposal(txs, 10_000)
	size := 0
	for _, tx := range small {
		size += len(tx.Encode())
	}
	if next := len(txs[len(small)].Encode()); len(small) == 0 || size > 10_000 || size+next <= 10_000 {
		t.Errorf("fitProposal(_, 10000) kept %d orders of %d bytes (next %d); want the longest prefix within 10000", len(small), size, next)
	}
	fit := fitProposal(txs, wire.MaxProposalTxBytes)
	blk, errs := n.chain.Propose(now.UnixMilli(), n.self, fit)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("order %d left out: %v", i, err)
		}
	}
	vote := wire.EncodeVote(consensus.Message{Type: consensus.Proposal, Height: 1, ValidRound: -1, Value: blk.Encode(), ValueID: ident.Hash(blk.Hash()), From: ident.Account(n.self), Sig: make([]byte, 64)})
	cert := wire.EncodeCertified(blk.Encode(), wire.EncodeMessages(make([]consensus.Message, 4)))
	if len(vote) > wire.MaxGossipBytes || len(cert) > wire.MaxGossipBytes {
		t.Errorf("a proposal of %d orders is %d bytes and the wire.Certified block %d; want both at most %d", len(fit), len(vote), len(cert), wire.MaxGossipBytes)
	}
}
