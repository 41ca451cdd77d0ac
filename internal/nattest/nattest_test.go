package nattest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(envNode) != "":
		os.Exit(runNode(os.Getenv(envNode)))
	case os.Getenv(envDial) != "":
		os.Exit(runDial(os.Getenv(envDial)))
	case os.Getenv(envHTTP) != "":
		os.Exit(runHTTP(os.Getenv(envHTTP)))
	case os.Getenv(envServe) != "":
		os.Exit(runServe(os.Getenv(envServe)))
	}
	os.Exit(m.Run())
}

func required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("GRIDMESH_REQUIRE_ALL") != ""
}

// need fails (CI, GRIDMESH_REQUIRE_ALL) or skips the test when a prerequisite
// is missing: root, ip and nft, and the extra ones: tools (all of
// iproute2's, such as tc) or, starting with "/", device files.
func need(t *testing.T, extra ...string) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces)")
	}
	for _, tool := range append([]string{"ip", "nft"}, extra...) {
		if strings.HasPrefix(tool, "/") {
			if _, err := os.Stat(tool); err != nil {
				missing = append(missing, tool+" (a kernel with the driver)")
			}
			continue
		}
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (apt-get install iproute2 nftables)")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "needs " + strings.Join(missing, ", ") + "; CI=true or GRIDMESH_REQUIRE_ALL=1 makes this a failure"
	if required() {
		t.Fatal(msg)
	}
	t.Skip(msg) // only off CI: CI=true or GRIDMESH_REQUIRE_ALL failed above
}

// Addresses. The public side is 192.0.0.128/26 (see doc.go), the homes are
// behind their routers in 192.168.1.0/24 and 192.168.2.0/24.
const (
	authorityIP = "192.0.0.129"
	routerAIP   = "192.0.0.130"
	routerBIP   = "192.0.0.131"
	homeAIP     = "192.168.1.2"
	homeBIP     = "192.168.2.2"
	port        = "4001"
)

// lab is the namespaces of one test run.
type lab struct {
	t                                          *testing.T
	inet, auth, routerA, routerB, homeA, homeB string
}

func (l *lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (l *lab) in(ns string, stdin string, name string, args ...string) {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("in %s: %s %s: %v\n%s", ns, name, strings.Join(args, " "), err, out)
	}
}

// newLab builds the topology:
//
//	authority 192.0.0.129 ─┐
//	routerA wan .130 ──────┼─ bridge in "inet"
//	routerB wan .131 ──────┘
//	routerA lan 192.168.1.1 ─ homeA 192.168.1.2
//	routerB lan 192.168.2.1 ─ homeB 192.168.2.2
//
// Each router masquerades what leaves its wan and, like a home router, drops
// whatever arrives on its wan that is not part of a connection from inside.
func newLab(t *testing.T) *lab {
	var b [3]byte
	rand.Read(b[:])
	sfx := hex.EncodeToString(b[:])
	l := &lab{t: t}
	names := []*string{&l.inet, &l.auth, &l.routerA, &l.routerB, &l.homeA, &l.homeB}
	for i, role := range []string{"inet", "auth", "ra", "rb", "ha", "hb"} {
		*names[i] = "gmnat-" + role + "-" + sfx
	}
	for _, p := range names {
		ns := *p
		l.ip("netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
			}
		})
		l.ip("-n", ns, "link", "set", "lo", "up")
	}
	l.ip("-n", l.inet, "link", "add", "br0", "type", "bridge")
	l.ip("-n", l.inet, "link", "set", "br0", "up")
	// Links are created inside the namespaces directly: the host's own
	// namespace never sees them.
	for _, w := range []struct{ ns, dev, port, addr string }{
		{l.auth, "eth0", "pauth", authorityIP},
		{l.routerA, "wan", "pra", routerAIP},
		{l.routerB, "wan", "prb", routerBIP},
	} {
		l.ip("link", "add", w.dev, "netns", w.ns, "type", "veth", "peer", "name", w.port, "netns", l.inet)
		l.ip("-n", l.inet, "link", "set", w.port, "master", "br0", "up")
		l.ip("-n", w.ns, "addr", "add", w.addr+"/26", "dev", w.dev)
		l.ip("-n", w.ns, "link", "set", w.dev, "up")
	}
	for _, h := range []struct{ router, home, net string }{
		{l.routerA, l.homeA, "192.168.1"},
		{l.routerB, l.homeB, "192.168.2"},
	} {
		l.ip("link", "add", "lan", "netns", h.router, "type", "veth", "peer", "name", "eth0", "netns", h.home)
		l.ip("-n", h.router, "addr", "add", h.net+".1/24", "dev", "lan")
		l.ip("-n", h.router, "link", "set", "lan", "up")
		l.ip("-n", h.home, "addr", "add", h.net+".2/24", "dev", "eth0")
		l.ip("-n", h.home, "link", "set", "eth0", "up")
		l.ip("-n", h.home, "route", "add", "default", "via", h.net+".1")
		l.in(h.router, "", "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
		l.in(h.router, homeRouter, "nft", "-f", "-")
	}
	return l
}

// homeRouter is a home router's ruleset: masquerade out of wan; from wan only
// replies to connections made from inside, to the router or through it.
const homeRouter = `
table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" masquerade
	}
}
table ip filter {
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "wan" ct state established,related accept
		iifname "wan" drop
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "wan" ct state established,related accept
		iifname "wan" drop
	}
}
`

// cutWAN stops (or with "delete" restores) all traffic between the two
// routers' public addresses, so that the homes can meet only through the relay.
func (l *lab) cutWAN(on bool) {
	l.t.Helper()
	for _, r := range []struct{ ns, other string }{{l.routerA, routerBIP}, {l.routerB, routerAIP}} {
		if on {
			l.in(r.ns, fmt.Sprintf("table ip cut {\n chain out {\n  type filter hook postrouting priority 0; policy accept;\n  ip daddr %s drop\n }\n chain in {\n  type filter hook prerouting priority -300; policy accept;\n  ip saddr %s drop\n }\n}\n", r.other, r.other), "nft", "-f", "-")
		} else {
			l.in(r.ns, "", "nft", "delete", "table", "ip", "cut")
		}
	}
}

// start runs a p2p host in namespace ns and waits until it is up.
func (l *lab) start(name, ns string, nc nodeConfig) *node {
	t := l.t
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(nc)
	cmd := exec.Command("ip", "netns", "exec", ns, exe)
	cmd.Env = append(os.Environ(), envNode+"="+string(cfg))
	n := &node{name: name, replies: make(chan string, 16), msgs: make(chan string, 64), ready: make(chan string, 1), stderr: &lockedBuffer{}}
	cmd.Stderr = n.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if n.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go n.route(stdout)
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		n.stdin.Close() // the helper closes its host and exits
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, n.stderr.String())
		}
	})
	select {
	case r := <-n.ready:
		t.Logf("%s up in %s: %s", name, ns, r)
	case <-exited:
		t.Fatalf("%s exited: %s", name, n.stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not start", name)
	}
	return n
}

// dial makes a plain TCP dial from ns to addr and reports whether it connected.
func (l *lab) dial(ns, addr string) (bool, string) {
	exe, _ := os.Executable()
	cmd := exec.Command("ip", "netns", "exec", ns, exe)
	cmd.Env = append(os.Environ(), envDial+"="+addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return false, fmt.Sprintf("%v: %s", err, out)
	}
	s := strings.TrimSpace(string(out))
	return s == "dial ok", s
}

// eventually runs f until it returns true or d has passed.
func eventually(d time.Duration, f func() bool) bool {
	end := time.Now().Add(d)
	for {
		if f() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func relayed(conns string) bool { return strings.Contains(conns, "/p2p-circuit") }

// direct reports whether conns (space-separated multiaddrs) has a connection
// that is not relayed.
func direct(conns string) bool {
	for _, c := range strings.Fields(conns) {
		if !relayed(c) {
			return true
		}
	}
	return false
}

func TestHomesBehindNAT(t *testing.T) {
	if testing.Short() {
		t.Skip("builds network namespaces and runs hosts in them (-short)")
	}
	need(t)
	// Each in its own namespaces, at the same time: with TCP and QUIC, homeB
	// learning from AutoNAT that it is private; with TCP only (TCP hole
	// punching by simultaneous open), both homes assuming it.
	t.Run("tcp+quic", func(t *testing.T) { t.Parallel(); homesBehindNAT(t, true) })
	t.Run("tcp", func(t *testing.T) { t.Parallel(); homesBehindNAT(t, false) })
}

func homesBehindNAT(t *testing.T, quic bool) {
	start := time.Now()
	l := newLab(t)

	// The NAT is real: a home reaches the public side, the public side does
	// not reach a home, and one home does not reach the other's private address.
	authID, aID, bID := peerID(1), peerID(2), peerID(3)
	auth := l.start("authority", l.auth, nodeConfig{
		Seed:         1,
		Listen:       []string{"/ip4/" + authorityIP + "/tcp/" + port, "/ip4/" + authorityIP + "/udp/" + port + "/quic-v1"},
		RelayService: true,
		Allow:        []string{aID, bID},
	})
	if ok, out := l.dial(l.homeA, authorityIP+":"+port); !ok {
		t.Fatalf("homeA cannot reach the authority: %s", out)
	}
	if ok, out := l.dial(l.auth, routerAIP+":"+port); ok {
		t.Fatalf("the authority reached routerA's wan port %s: %s; want it dropped", port, out)
	}
	if ok, _ := l.dial(l.homeA, homeBIP+":"+port); ok {
		t.Fatal("homeA reached homeB's private address; want no route")
	}

	authTCP := "/ip4/" + authorityIP + "/tcp/" + port + "/p2p/" + authID
	boot := []string{authTCP}
	listen := []string{"/ip4/0.0.0.0/tcp/" + port}
	if quic {
		boot = append(boot, "/ip4/"+authorityIP+"/udp/"+port+"/quic-v1/p2p/"+authID)
		listen = append(listen, "/ip4/0.0.0.0/udp/"+port+"/quic-v1")
	}
	home := func(seed byte, assumePrivate bool) nodeConfig {
		return nodeConfig{
			Seed:          seed,
			Listen:        listen,
			Bootstrap:     boot,
			NATTraversal:  true,
			AssumePrivate: assumePrivate,
			Join:          true,
		}
	}
	a := l.start("homeA", l.homeA, home(2, true))
	b := l.start("homeB", l.homeB, home(3, !quic))

	// The authority sees the homes behind their routers' public addresses.
	for _, h := range []struct{ id, wan string }{{aID, routerAIP}, {bID, routerBIP}} {
		var conns string
		if !eventually(10*time.Second, func() bool { conns, _ = auth.do("conns " + h.id); return conns != "" }) {
			t.Fatalf("home %s did not connect to the authority", h.id)
		}
		if !strings.Contains(conns, "/ip4/"+h.wan+"/") {
			t.Errorf("authority's connection to %s comes from %q, want its router's address %s (masquerade)", h.id, conns, h.wan)
		}
	}
	if r, _ := a.do("reach"); r != "private" {
		t.Errorf("homeA (AssumePrivate) reachability %q, want private", r)
	}
	if quic {
		// homeB finds out from AutoNAT: the authority's dial-back is dropped by the router.
		var reach string
		if !eventually(50*time.Second, func() bool { reach, _ = b.do("reach"); return reach == "private" }) {
			t.Fatalf("homeB reachability %q after 50 s, want private (AutoNAT)", reach)
		}
		t.Logf("homeB: AutoNAT says private %.1f s after start", time.Since(start).Seconds())
	}

	// (a) Through the relay. The routers' public addresses cannot reach each
	// other, so hole punching cannot replace the relayed connection, and the
	// authority is not subscribed to the topic: whatever arrives went through
	// the circuit.
	l.cutWAN(true)
	circuit := authTCP + "/p2p-circuit/p2p/" + bID
	var last string
	if !eventually(20*time.Second, func() bool { // until homeB holds a reservation
		var ok bool
		last, ok = a.do("connect " + circuit)
		return ok
	}) {
		t.Fatalf("homeA could not reach homeB through the relay: %s", last)
	}
	if conns, _ := a.do("conns " + bID); !relayed(conns) || direct(conns) {
		t.Errorf("homeA's connections to homeB: %q, want only relayed ones", conns)
	}
	gossip(t, a, b, aID, "order via relay")
	gossip(t, b, a, bID, "order back via relay")
	if resp, ok := a.do("request " + bID + " bid 42"); !ok || resp != "echo bid 42" {
		t.Errorf("request over the relay: %q (ok %v), want \"echo bid 42\"", resp, ok)
	}
	if resp, ok := b.do("request " + aID + " ask 7"); !ok || resp != "echo ask 7" {
		t.Errorf("request back over the relay: %q (ok %v), want \"echo ask 7\"", resp, ok)
	}
	if conns, _ := a.do("conns " + bID); direct(conns) {
		t.Errorf("homeA's connections to homeB: %q, want only relayed ones while the wan is cut", conns)
	}
	t.Logf("relay: gossip both ways and request/response over %s (%.1f s since start)", circuit, time.Since(start).Seconds())

	// (b) Directly where hole punching succeeds. Restore the wan, drop the
	// relayed connection and connect through the relay again: homeB starts
	// DCUtR on the new relayed connection.
	l.cutWAN(false)
	for _, cmd := range []string{"block " + bID, "unblock " + bID} {
		if r, ok := a.do(cmd); !ok {
			t.Fatalf("homeA %s: %s", cmd, r)
		}
	}
	if !eventually(10*time.Second, func() bool {
		var ok bool
		last, ok = a.do("connect " + circuit)
		return ok
	}) {
		t.Fatalf("homeA could not reconnect to homeB through the relay: %s", last)
	}
	var conns string
	punched := eventually(15*time.Second, func() bool { conns, _ = a.do("conns " + bID); return direct(conns) })
	if punched {
		over := "tcp"
		for _, c := range strings.Fields(conns) {
			if !relayed(c) && strings.Contains(c, "/quic-v1") {
				over = "quic-v1"
			}
		}
		t.Logf("hole punching: succeeded over %s; homeA's connections to homeB: %s", over, conns)
		if !strings.Contains(conns, "/ip4/"+routerBIP+"/") {
			t.Errorf("direct connection %q does not go to homeB's router address %s", conns, routerBIP)
		}
		gossip(t, a, b, aID, "order direct")
		if resp, ok := a.do("request " + bID + " direct"); !ok || resp != "echo direct" {
			t.Errorf("request over the direct connection: %q (ok %v)", resp, ok)
		}
	} else {
		t.Logf("hole punching: did not succeed within 15 s (homes stay on the relay, as ~30%% of real home pairs do); homeA's connections to homeB: %s", conns)
		gossip(t, a, b, aID, "order still via relay")
	}
	t.Logf("done in %.1f s", time.Since(start).Seconds())
}

// gossip publishes text from one home until the other receives it from the
// expected sender (subscriptions may still be on their way), at most 10 s.
func gossip(t *testing.T, from, to *node, fromID, text string) {
	t.Helper()
	// Drain earlier deliveries.
	for len(to.msgs) > 0 {
		<-to.msgs
	}
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		payload := fmt.Sprintf("%s #%d", text, i)
		if r, ok := from.do("publish " + payload); !ok {
			t.Fatalf("%s publish: %s", from.name, r)
		}
		for {
			select {
			case m := <-to.msgs:
				if sender, got, _ := strings.Cut(m, " "); sender == fromID && strings.HasPrefix(got, text+" #") {
					return
				}
				continue
			case <-deadline:
				t.Fatalf("%s did not receive %q from %s within 10 s", to.name, text, from.name)
			case <-tick.C:
			}
			break
		}
	}
}

// Two hosts on one LAN segment (a veth pair between two namespaces), with no
// bootstrap peer and no address of each other, find each other by mDNS and
// gossip.
func TestMDNSOnLAN(t *testing.T) {
	if testing.Short() {
		t.Skip("builds network namespaces and runs hosts in them (-short)")
	}
	need(t)
	var b [3]byte
	rand.Read(b[:])
	sfx := hex.EncodeToString(b[:])
	l := &lab{t: t}
	nsA, nsB := "gmmdns-a-"+sfx, "gmmdns-b-"+sfx
	for _, ns := range []string{nsA, nsB} {
		l.ip("netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
			}
		})
		l.ip("-n", ns, "link", "set", "lo", "up")
	}
	l.ip("link", "add", "eth0", "netns", nsA, "type", "veth", "peer", "name", "eth0", "netns", nsB)
	for i, ns := range []string{nsA, nsB} {
		l.ip("-n", ns, "addr", "add", fmt.Sprintf("10.77.0.%d/24", i+1), "dev", "eth0")
		l.ip("-n", ns, "link", "set", "eth0", "up")
		// mDNS sends to 224.0.0.251: multicast needs a route in the namespace.
		l.ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
	}
	// Both hosts learn of each other from the same mDNS exchange and dial at
	// once, each from its listen port: when the SYNs cross, TCP makes one
	// connection with two initiators and both security handshakes fail. Make
	// them cross every run: drop incoming SYNs until both hosts are waiting
	// in SYN-SENT, so that their retransmissions meet.
	const dropSYN = "table inet gmsyn {\n chain in {\n  type filter hook input priority 0; policy accept;\n  tcp dport " + port + " tcp flags & (syn|ack) == syn drop\n }\n}\n"
	for _, ns := range []string{nsA, nsB} {
		l.in(ns, dropSYN, "nft", "-f", "-")
	}
	aID, bID := peerID(11), peerID(12)
	a := l.start("lan-a", nsA, nodeConfig{Seed: 11, Listen: []string{"/ip4/10.77.0.1/tcp/" + port}, MDNS: true, Join: true})
	bn := l.start("lan-b", nsB, nodeConfig{Seed: 12, Listen: []string{"/ip4/10.77.0.2/tcp/" + port}, MDNS: true, Join: true})
	synSent := func(ns string) bool {
		out, err := exec.Command("ip", "netns", "exec", ns, "ss", "-Htn", "state", "syn-sent").Output()
		return err == nil && strings.Contains(string(out), ":"+port)
	}
	if !eventually(15*time.Second, func() bool { return synSent(nsA) && synSent(nsB) }) {
		t.Fatalf("the hosts did not both dial each other within 15 s of starting (mDNS discovery): SYN-SENT on a %t, on b %t", synSent(nsA), synSent(nsB))
	}
	for _, ns := range []string{nsA, nsB} {
		l.in(ns, "", "nft", "delete", "table", "inet", "gmsyn")
	}
	if !eventually(60*time.Second, func() bool {
		conns, ok := a.do("conns " + bID)
		return ok && conns != ""
	}) {
		t.Fatalf("lan-a never connected to lan-b by mDNS (conns to %s empty after 60 s)", bID)
	}
	if !eventually(30*time.Second, func() bool {
		n, ok := bn.do("topicpeers")
		return ok && n != "0"
	}) {
		t.Fatal("lan-b has no topic peer after mDNS discovery")
	}
	gossip(t, a, bn, aID, "order-over-mdns")
}
