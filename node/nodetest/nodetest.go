package nodetest

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/unit"
)

// Eventually polls cond until it holds or limit has passed, and reports
// whether it held.
func Eventually(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		// The poll interval: these tests watch real nodes on a real
		// (loopback) network, whose state changes raise no event a test
		// could wait on.
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// WaitFor polls cond until it holds and fails t if it does not within
// limit; the deadline only decides failure, it asserts nothing about speed.
func WaitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	if !Eventually(limit, cond) {
		t.Fatalf("timed out after %s waiting for %s", limit, what)
	}
}

// EditGenesis changes the genesis.toml beside every node config in paths
// the same way.
func EditGenesis(t testing.TB, paths []string, edit func(*config.Genesis)) {
	t.Helper()
	for _, p := range paths {
		gp := filepath.Join(filepath.Dir(p), "genesis.toml")
		g, err := config.LoadGenesis(gp)
		if err != nil {
			t.Fatal(err)
		}
		edit(&g)
		if err := os.WriteFile(gp, g.TOML(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// EditConfig changes the node config at path with edit.
func EditConfig(t testing.TB, path string, edit func(*config.Node)) {
	t.Helper()
	c, err := config.LoadNode(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(&c)
	if err := os.WriteFile(path, c.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// NodeKey loads the key (node.key) of the node configured at path.
func NodeKey(t testing.TB, path string) ed25519.PrivateKey {
	t.Helper()
	key, err := config.LoadKey(filepath.Join(filepath.Dir(path), "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// Settlements counts the settled slots a node reports to its
// Options.OnEvent (pass its Event method), with their trades and energy.
type Settlements struct {
	mu     sync.Mutex
	slots  int
	trades int
	energy unit.Wh
}

// Event takes one chain event; it is safe to call from the node's loop.
func (s *Settlements) Event(ev chain.Event) {
	st, ok := ev.(chain.SlotSettled)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slots++
	s.trades += len(st.Settlement.Trades)
	s.energy += st.Settlement.Energy
}

// Counts are the slots settled so far, their trades and the energy settled.
func (s *Settlements) Counts() (slots, trades int, energy unit.Wh) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slots, s.trades, s.energy
}

// Background is a run function (a node's Run) going on a goroutine of its
// own until Halt, or until it returns by itself.
type Background struct {
	name string
	stop context.CancelFunc
	done chan error
}

// Go starts run on a goroutine with a context Halt cancels; name says whose
// run it is when it fails.
func Go(name string, run func(context.Context) error) *Background {
	ctx, cancel := context.WithCancel(context.Background())
	b := &Background{name: name, stop: cancel, done: make(chan error, 1)}
	go func() { b.done <- run(ctx) }()
	return b
}

// Halt cancels the run and waits for it to return; an error it returns
// fails t. Once halted, Halt does nothing.
func (b *Background) Halt(t testing.TB) {
	t.Helper()
	if b.stop == nil {
		return
	}
	b.stop()
	b.stop = nil
	if err := <-b.done; err != nil {
		t.Errorf("node %s stopped with %v", b.name, err)
	}
}

// Halted reports whether the run was halted or seen to return by Returned.
func (b *Background) Halted() bool { return b.stop == nil }

// Returned waits up to wait for the run to return by itself; if it did, it
// reports true with the run's error, and the run counts as halted.
func (b *Background) Returned(wait time.Duration) (bool, error) {
	select {
	case err := <-b.done:
		b.stop() // the run has returned: nothing left to stop
		b.stop = nil
		return true, err
	case <-time.After(wait):
		return false, nil
	}
}
