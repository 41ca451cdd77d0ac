package p2p

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Every test closes its hosts; no goroutine of theirs may outlive them.
	goleak.VerifyTestMain(m)
}

const (
	testNet       = "testnet"
	testHeartbeat = 100 * time.Millisecond
	// patience bounds every wait on a condition: far beyond what the condition
	// needs on an idle machine (milliseconds to a few heartbeats), so that a
	// loaded machine (-race, both cores busy) only makes a test slower.
	patience = 20 * time.Second
)

func newTestHost(t *testing.T, seed byte, mod func(*Config)) *Host {
	t.Helper()
	cfg := Config{
		Key:     testKey(seed),
		Network: testNet,
		Listen:  []string{"/ip4/127.0.0.1/tcp/0"},
		// A fast heartbeat builds and repairs meshes quickly (waitMesh).
		Heartbeat: testHeartbeat,
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

func connect(t *testing.T, a, b *Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Connect(ctx, b.Addrs()[0]); err != nil {
		t.Fatalf("Connect: %v", err)
	}
}

// eventually checks cond every 20 ms until it holds, and fails the test if
// it still does not after d. d is a deadline, not an expected duration:
// callers give at least patience.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

// waitMesh waits until tp's host sees each of peers subscribed to the topic
// and has it in its gossipsub mesh. Gossipsub forwards a message at once
// only to mesh peers, and grafts at its heartbeats; to a subscribed peer
// outside the mesh it offers the message (IHAVE) only for the next three
// heartbeats, and to a peer whose subscription it has not yet heard of,
// never. So a test that publishes before the mesh holds the peers depends
// on heartbeat timing; one that publishes before the subscription arrived
// may lose the message for good.
func waitMesh(t *testing.T, tp *Topic, peers ...*Host) {
	t.Helper()
	ids := make([]string, len(peers))
	for i, p := range peers {
		ids[i] = p.ID()
	}
	eventually(t, patience, fmt.Sprintf("%s's mesh on %s to hold %v", tp.n.ID(), tp.Name(), ids), func() bool {
		subscribed, mesh := tp.Peers(), tp.MeshPeers()
		for _, id := range ids {
			if !slices.Contains(subscribed, id) || !slices.Contains(mesh, id) {
				return false
			}
		}
		return true
	})
}

// waitMeshAll is waitMesh for tests in which every peer a host is connected
// to joins the topic: each topic's mesh must hold all its host's peers.
// (For small tests: fewer peers per host than gossipsub's D, 6.)
func waitMeshAll(t *testing.T, topics ...*Topic) {
	t.Helper()
	for i, tp := range topics {
		eventually(t, patience, fmt.Sprintf("topic %d's mesh to hold every connected peer", i), func() bool {
			peers := tp.n.Peers()
			return len(peers) > 0 && slices.Equal(peers, tp.MeshPeers()) && len(tp.Peers()) == len(peers)
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no key", Config{Network: "n"}},
		{"no network", Config{Key: testKey(1)}},
		{"slash in network", Config{Key: testKey(1), Network: "a/b"}},
		{"bad bootstrap", Config{Key: testKey(1), Network: "n", Bootstrap: []string{"/ip4/127.0.0.1/tcp/1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := New(context.Background(), tt.cfg, nil)
			if err == nil {
				h.Close()
				t.Fatalf("New: err = nil, want an error")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("New: err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestHostIdentity(t *testing.T) {
	h := newTestHost(t, 1, nil)
	if got := h.Addrs(); len(got) != 1 || !strings.HasSuffix(got[0], "/p2p/"+h.ID()) || !strings.HasPrefix(got[0], "/ip4/127.0.0.1/tcp/") {
		t.Errorf("Addrs() = %v, want one /ip4/127.0.0.1/tcp/…/p2p/%s", got, h.ID())
	}
	if got := h.Reachability(); got != "unknown" {
		t.Errorf("Reachability() = %q, want unknown", got)
	}
	// The peer id is derived from the node key.
	pk, err := PublicKey(h.ID())
	if err != nil || !pk.Equal(testKey(1).Public()) {
		t.Errorf("PublicKey(ID()) = %x, %v; want %x", pk, err, testKey(1).Public())
	}
	if id, err := PeerID(testKey(1).Public().(ed25519.PublicKey)); err != nil || id != h.ID() {
		t.Errorf("PeerID(key) = %q, %v; want %q", id, err, h.ID())
	}
	if !h.PublicKey().Equal(testKey(1).Public()) {
		t.Errorf("PublicKey() = %x, want %x", h.PublicKey(), testKey(1).Public())
	}
}

func TestQUIC(t *testing.T) {
	quicOnly := func(c *Config) { c.Listen = []string{"/ip4/127.0.0.1/udp/0/quic-v1"} }
	a := newTestHost(t, 1, quicOnly)
	b := newTestHost(t, 2, quicOnly)
	if got := a.Addrs(); len(got) != 1 || !strings.Contains(got[0], "/quic-v1/p2p/") {
		t.Fatalf("Addrs() = %v, want one QUIC address", got)
	}
	connect(t, b, a)
	a.Handle("echo/1", 16, func(_ context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) { return req, nil })
	got, err := b.Request(context.Background(), a.ID(), "echo/1", []byte("quic"), 16)
	if err != nil || string(got) != "quic" {
		t.Errorf("echo over QUIC = %q, %v; want \"quic\", nil", got, err)
	}
}

// mesh starts n hosts, connects each to the next and to host 0, and joins topic
// "tx" on each with validate.
func mesh(t *testing.T, n int, validate func(ed25519.PublicKey, []byte) Verdict) ([]*Host, []*Topic) {
	t.Helper()
	hosts := make([]*Host, n)
	topics := make([]*Topic, n)
	for i := range hosts {
		hosts[i] = newTestHost(t, byte(10+i), nil)
	}
	for i := 1; i < n; i++ {
		connect(t, hosts[i], hosts[0])
		if i+1 < n {
			connect(t, hosts[i], hosts[i+1])
		}
	}
	for i, h := range hosts {
		topics[i] = join(t, h, "tx", validate)
	}
	// Gossip is best-effort: a message published before the mesh exists may
	// reach only direct neighbours.
	waitMeshAll(t, topics...)
	return hosts, topics
}

// join joins topic name on h with validate (nil accepts every message);
// an error fails the test.
func join(t *testing.T, h *Host, name string, validate func(ed25519.PublicKey, []byte) Verdict) *Topic {
	t.Helper()
	tp, err := h.Join(name, validate)
	if err != nil {
		t.Fatalf("Join(%q): %v", name, err)
	}
	return tp
}

// joinBoth joins topic name on a and b, accepting every message.
func joinBoth(t *testing.T, name string, a, b *Host) (*Topic, *Topic) {
	t.Helper()
	return join(t, a, name, nil), join(t, b, name, nil)
}

// collect reads messages from tp until ctx ends.
func collect(ctx context.Context, tp *Topic) []Message {
	var out []Message
	for {
		m, err := tp.Next(ctx)
		if err != nil {
			return out
		}
		out = append(out, m)
	}
}

func TestGossipEveryHostReceivesEveryMessageOnce(t *testing.T) {
	const n, perHost = 4, 5
	hosts, topics := mesh(t, n, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	for i, tp := range topics {
		for j := 0; j < perHost; j++ {
			if err := tp.Publish(ctx, fmt.Appendf(nil, "msg %d/%d", i, j)); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
	}
	want := (n - 1) * perHost
	var wg sync.WaitGroup
	got := make([][]Message, n)
	for i, tp := range topics {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(got[i]) < want {
				m, err := tp.Next(ctx)
				if err != nil {
					return
				}
				got[i] = append(got[i], m)
			}
			// Nothing more may arrive (no duplicates).
			extra, c := context.WithTimeout(ctx, 500*time.Millisecond)
			defer c()
			got[i] = append(got[i], collect(extra, tp)...)
		}()
	}
	wg.Wait()
	for i := range hosts {
		seen := map[string]int{}
		for _, m := range got[i] {
			seen[string(m.Payload)]++
			if bytes.HasPrefix(m.Payload, fmt.Appendf(nil, "msg %d/", i)) {
				t.Errorf("host %d received its own message %q", i, m.Payload)
			}
			if len(m.From) != ed25519.PublicKeySize {
				t.Errorf("host %d: From has %d bytes", i, len(m.From))
			}
		}
		if len(got[i]) != want || len(seen) != want {
			keys := make([]string, 0, len(seen))
			for k := range seen {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			t.Errorf("host %d got %d messages (%d distinct), want %d exactly once: %v", i, len(got[i]), len(seen), want, keys)
		}
		for k, c := range seen {
			if c != 1 {
				t.Errorf("host %d got %q %d times, want once", i, k, c)
			}
		}
	}
	// The sender's key is the envelope signer.
	for _, m := range got[1] {
		var from int
		if _, err := fmt.Sscanf(string(m.Payload), "msg %d/", &from); err != nil {
			t.Fatalf("payload %q: %v", m.Payload, err)
		}
		if !m.From.Equal(testKey(byte(10 + from)).Public()) {
			t.Errorf("message %q: From = %x, want key of host %d", m.Payload, m.From, from)
		}
	}
}

func TestGossipDropsInvalidEnvelopes(t *testing.T) {
	var mu sync.Mutex
	var validated [][]byte
	hosts, topics := mesh(t, 3, func(_ ed25519.PublicKey, p []byte) Verdict {
		mu.Lock()
		validated = append(validated, bytes.Clone(p))
		mu.Unlock()
		if bytes.Equal(p, []byte("caller rejects")) {
			return Reject
		}
		return Accept
	})
	_ = hosts
	attacker := topics[0]
	// Bypass the attacker's own validator so it can publish raw bytes.
	if err := attacker.n.ps.UnregisterTopicValidator(attacker.name); err != nil {
		t.Fatalf("unregister: %v", err)
	}
	key := attacker.n.cfg.Key
	now := time.Now()
	future := now.Add(time.Hour).UnixMilli()
	valid := now.Add(time.Minute).UnixMilli()
	badSig := signedEnvelope(t, key, testNet, valid, []byte("bad sig"))
	badSig[len(badSig)-1] ^= 1
	oversized := signedEnvelope(t, key, testNet, valid, bytes.Repeat([]byte{'x'}, DefaultMaxPayload+1))
	bad := map[string][]byte{
		"bad signature": badSig,
		"wrong network": signedEnvelope(t, key, "othernet", valid, []byte("wrong network")),
		"expired":       signedEnvelope(t, key, testNet, now.Add(-time.Second).UnixMilli(), []byte("expired")),
		"future":        signedEnvelope(t, key, testNet, future, []byte("future")),
		"oversized":     oversized,
		"garbage":       []byte("not an envelope"),
		"caller reject": signedEnvelope(t, key, testNet, valid, []byte("caller rejects")),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, b := range bad {
		if err := attacker.t.Publish(ctx, b); err != nil {
			t.Fatalf("raw publish %s: %v", name, err)
		}
	}
	// A good message afterwards, from an honest host (peer scoring may already have
	// graylisted the attacker): once it is in, wait a little for stragglers.
	if err := topics[2].Publish(ctx, []byte("good")); err != nil {
		t.Fatalf("publish good: %v", err)
	}
	m, err := topics[1].Next(ctx)
	if err != nil {
		t.Fatalf("host 1 Next: %v", err)
	}
	got := []string{string(m.Payload)}
	got = append(got, drain(t, topics[1], 500*time.Millisecond)...)
	if fmt.Sprint(got) != "[good]" {
		t.Errorf("host 1 received %q, want only \"good\"", got)
	}
	if got := drain(t, topics[2], 100*time.Millisecond); len(got) != 0 {
		t.Errorf("host 2 received %q, want nothing", got)
	}
	// The first invalid envelopes reach host 1's validator before peer scoring
	// graylists the attacker; whatever arrived is counted as rejected or ignored.
	st := hosts[1].Stats()
	if bad := st.Malformed + st.Network + st.BadSig + st.Rejected + st.Expired; bad < 1 || st.Accepted != 1 {
		t.Errorf("host 1 stats %+v: want some invalid envelopes counted and exactly 1 accepted", st)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range validated {
		switch string(p) {
		case "good", "caller rejects":
		default:
			t.Errorf("caller's validator saw %.20q; only well-formed, signed, current envelopes may reach it", p)
		}
	}
}

func TestPublishLimits(t *testing.T) {
	h := newTestHost(t, 1, nil)
	tp, err := h.Join("tx", func(_ ed25519.PublicKey, p []byte) Verdict {
		if string(p) == "no" {
			return Reject
		}
		return Accept
	})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if _, err := h.Join("tx", nil); !errors.Is(err, ErrJoined) {
		t.Errorf("second Join err = %v, want ErrJoined", err)
	}
	ctx := context.Background()
	if err := tp.Publish(ctx, make([]byte, DefaultMaxPayload+1)); !errors.Is(err, ErrEnvelopeTooLarge) {
		t.Errorf("oversized Publish err = %v, want ErrEnvelopeTooLarge", err)
	}
	if err := tp.Publish(ctx, []byte("no")); err == nil {
		t.Errorf("Publish of a payload the topic's validator rejects: err = nil, want an error")
	}
	if err := tp.Publish(ctx, []byte("yes")); err != nil {
		t.Errorf("Publish: %v", err)
	}
	if got, want := tp.Name(), "/gridmesh/testnet/tx/1"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
}

func TestRequestResponse(t *testing.T) {
	a := newTestHost(t, 1, func(c *Config) { c.PeerReqRate = 5 })
	b := newTestHost(t, 2, nil)
	connect(t, b, a)
	a.Handle("echo/1", 16, func(ctx context.Context, from ed25519.PublicKey, req []byte) ([]byte, error) {
		if !from.Equal(testKey(2).Public()) {
			return nil, fmt.Errorf("from %x", from)
		}
		return append([]byte("echo:"), req...), nil
	})
	a.Handle("big/1", 16, func(ctx context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
		return make([]byte, 1000), nil
	})
	a.Handle("fail/1", 16, func(ctx context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
		return nil, errors.New("no such block")
	})
	a.Handle("slow/1", 16, func(ctx context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
		return []byte("late"), nil
	})
	ctx := context.Background()

	got, err := b.Request(ctx, a.ID(), "echo/1", []byte("hi"), 100)
	if err != nil || string(got) != "echo:hi" {
		t.Errorf("echo = %q, %v; want \"echo:hi\", nil", got, err)
	}
	got, err = b.Request(ctx, a.Addrs()[0], "echo/1", []byte("addr"), 100)
	if err != nil || string(got) != "echo:addr" {
		t.Errorf("echo by multiaddr = %q, %v; want \"echo:addr\", nil", got, err)
	}
	if _, err := b.Request(ctx, a.ID(), "echo/1", make([]byte, 17), 100); err == nil {
		t.Errorf("oversized request: err = nil, want an error")
	}
	if _, err := b.Request(ctx, a.ID(), "big/1", nil, 999); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized response: err = %v, want ErrFrameTooLarge", err)
	}
	if _, err := b.Request(ctx, a.ID(), "fail/1", nil, 100); !errors.Is(err, ErrRemote) || !strings.Contains(err.Error(), "no such block") {
		t.Errorf("failing handler: err = %v, want ErrRemote with its text", err)
	}
	if _, err := b.Request(ctx, a.ID(), "nope/1", nil, 100); err == nil {
		t.Errorf("unknown protocol: err = nil, want an error")
	}
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = b.Request(tctx, a.ID(), "slow/1", nil, 100)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow handler: err = %v, want context.DeadlineExceeded", err)
	}
	// The handler would answer after 5 s: returning well before shows that
	// Request gave up at its deadline.
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("slow handler: Request returned after %v, want about 300ms", el)
	}
}

func TestRequestRateLimit(t *testing.T) {
	a := newTestHost(t, 1, func(c *Config) { c.PeerReqRate = 2 }) // burst 4
	b := newTestHost(t, 2, nil)
	connect(t, b, a)
	a.Handle("echo/1", 16, func(ctx context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
		return req, nil
	})
	limited := 0
	start := time.Now()
	for i := 0; i < 10; i++ {
		_, err := b.Request(context.Background(), a.ID(), "echo/1", []byte("x"), 16)
		if err != nil {
			if !strings.Contains(err.Error(), "rate limited") {
				t.Fatalf("request %d: err = %v, want nil or rate limited", i, err)
			}
			limited++
		}
	}
	// At most the burst of 4 plus the 2/s refill while the requests lasted
	// got through (on a loaded machine they may last long enough for all).
	if maxServed := 4 + int(2*time.Since(start).Seconds()) + 1; 10-limited > maxServed {
		t.Errorf("%d of 10 requests served in %v, want at most %d (rate 2/s, burst 4)", 10-limited, time.Since(start), maxServed)
	}
	if limited == 0 && time.Since(start) < 2*time.Second {
		t.Errorf("no request of 10 within %v was rate limited, want some (rate 2/s, burst 4)", time.Since(start))
	}
}

func TestBootstrapPeerAlreadyUp(t *testing.T) {
	a := newTestHost(t, 1, nil)
	b := newTestHost(t, 2, func(c *Config) { c.Bootstrap = a.Addrs() })
	eventually(t, patience, "b to connect to its bootstrap peer", func() bool {
		return len(b.Peers()) == 1 && b.Peers()[0] == a.ID()
	})
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestBootstrapRetriesAndReconnects(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	listen := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
	aID, err := peerIDOfKey(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	b := newTestHost(t, 2, func(c *Config) { c.Bootstrap = []string{listen + "/p2p/" + aID} })

	// Not synchronisation: b's first dials fail meanwhile, so that it
	// reaches a below with its backoff grown; the check after it cannot fail
	// on a slow machine.
	time.Sleep(800 * time.Millisecond)
	if got := b.Peers(); len(got) != 0 {
		t.Fatalf("b peers before a exists = %v, want none", got)
	}
	startA := func() *Host {
		a, err := New(context.Background(), Config{Key: testKey(1), Network: testNet, Listen: []string{listen}, Heartbeat: testHeartbeat}, nil)
		if err != nil {
			t.Fatalf("New a: %v", err)
		}
		return a
	}
	a := startA()
	eventually(t, patience, "b to reach its late bootstrap peer", func() bool {
		return len(b.Peers()) == 1
	})
	// The bootstrap peer restarts (a home losing power); b reconnects.
	if err := a.Close(); err != nil {
		t.Fatalf("Close a: %v", err)
	}
	eventually(t, patience, "b to notice a is gone", func() bool { return len(b.Peers()) == 0 })
	a = startA()
	defer a.Close()
	eventually(t, patience, "b to reconnect to the restarted bootstrap peer", func() bool {
		return len(b.Peers()) == 1
	})
}

func TestCloseStopsNext(t *testing.T) {
	h, err := New(context.Background(), Config{Key: testKey(1), Network: testNet, Listen: []string{"/ip4/127.0.0.1/tcp/0"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp := join(t, h, "tx", nil)
	done := make(chan error, 1)
	go func() {
		_, err := tp.Next(context.Background())
		done <- err
	}()
	// Not synchronisation: Next usually blocks by now; if it has not
	// started yet it must return ErrClosed all the same.
	time.Sleep(50 * time.Millisecond)
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Next after Close: err = %v, want ErrClosed", err)
		}
	case <-time.After(patience):
		t.Fatalf("Next did not return after Close")
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestGossipParamsValid(t *testing.T) {
	for d := 4; d <= 12; d++ {
		gp := gossipParams(Config{MeshDegree: d})
		if !(gp.Dlo <= gp.D && gp.D <= gp.Dhi && gp.Dscore <= gp.Dhi && gp.Dout < gp.Dlo && gp.Dout < gp.D/2 && gp.Dout >= 1) {
			t.Errorf("MeshDegree %d: D=%d Dlo=%d Dhi=%d Dscore=%d Dout=%d break gossipsub's rules", d, gp.D, gp.Dlo, gp.Dhi, gp.Dscore, gp.Dout)
		}
	}
	if gp, def := gossipParams(Config{MeshDegree: 6}), gossipParams(Config{}); gp.D != def.D || gp.Dhi != def.Dhi {
		t.Errorf("MeshDegree 6 gives D=%d Dhi=%d, want the defaults D=%d Dhi=%d", gp.D, gp.Dhi, def.D, def.Dhi)
	}
}

func TestDialOnlyHost(t *testing.T) {
	a := newTestHost(t, 1, nil)
	b := newTestHost(t, 2, func(c *Config) { c.Listen = nil; c.Bootstrap = a.Addrs() })
	if got := b.Addrs(); len(got) != 0 {
		t.Errorf("dial-only host Addrs() = %v, want none", got)
	}
	eventually(t, patience, "the dial-only host to reach its bootstrap peer", func() bool {
		return len(b.Peers()) == 1
	})
	a.Handle("echo/1", 16, func(_ context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) { return req, nil })
	if got, err := b.Request(context.Background(), a.ID(), "echo/1", []byte("x"), 16); err != nil || string(got) != "x" {
		t.Errorf("echo = %q, %v; want \"x\", nil", got, err)
	}
}

// The host keeps no context: cancelling the one New was given does not stop
// it (it lives until Close), and a cancelled one fails New.
func TestHostOutlivesNewContext(t *testing.T) {
	a := newTestHost(t, 1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	b, err := New(ctx, Config{Key: testKey(2), Network: testNet, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: a.Addrs()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cancel()
	// The bootstrap keep-alive loop still runs: after a drop, b redials.
	eventually(t, patience, "b to connect to its bootstrap peer", func() bool { return len(b.Peers()) == 1 })
	if err := b.h.Network().ClosePeer(a.h.ID()); err != nil {
		t.Fatal(err)
	}
	eventually(t, patience, "b to redial its bootstrap peer after New's ctx ended", func() bool { return len(b.Peers()) == 1 })

	if h, err := New(ctx, Config{Key: testKey(3), Network: testNet}, nil); !errors.Is(err, context.Canceled) {
		if h != nil {
			h.Close()
		}
		t.Errorf("New with a cancelled ctx: err = %v, want context.Canceled", err)
	}
}

// life's contexts, and those derived from them, end when the host stops.
func TestLifeEndsAtStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &Host{done: make(chan struct{})}
		if err := n.life().Err(); err != nil {
			t.Fatalf("life before stop: Err = %v, want nil", err)
		}
		ctx, cancel := context.WithTimeout(n.life(), time.Hour)
		defer cancel()
		n.stop()
		synctest.Wait() // the context package's propagation goroutine
		if err := ctx.Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("derived context after stop: Err = %v, want context.Canceled (not the hour's deadline)", err)
		}
		if err := n.life().Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("life after stop: Err = %v, want context.Canceled", err)
		}
		n.stop() // a second stop is harmless
	})
}
