//go:build linux

package nattest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// grid is the microgrid's network: an "internet" namespace that routes
// between the authorities and three home routers, and behind each router its
// homes. Every access link (an authority's to the internet, a home's to its
// router) is a delay line (delayline_test.go): 20..80 ms each way and 1 %
// loss each way; the slowest home's link is also limited to 1 Mbit/s each way
// by tbf. The routers' uplinks are not shaped (the access link stands for
// the last mile). The routers masquerade and drop what their wan did not ask
// for (homeRouter); a home reaches a home behind another router only through
// a relay or a punched hole, one behind its own router directly.
//
//	authority-i 192.0.0.(161+i) ═ inet (192.0.0.158 on br0, routes)
//	router-k wan 192.0.0.(140+k)/27 ─ br0 in inet
//	router-k ═ home-j 192.168.(k+1).(10+j/3), k = j%3
//
// (═ a delay line, ─ a veth pair.)
type grid struct {
	authorities []gridLink
	homes       []gridLink
}

// gridLink is one node's namespace, its address and how its access link is
// shaped: delayMs each way with 1 % loss each way, and rateKbit (if > 0) a
// token bucket in each direction.
type gridLink struct {
	ns, ip   string
	lan      int // 1..3 for a home, 0 for an authority (public side)
	delayMs  int
	rateKbit int
}

func (g gridLink) String() string {
	s := fmt.Sprintf("%d ms, 1%% loss", g.delayMs)
	if g.rateKbit > 0 {
		s += fmt.Sprintf(", %d kbit/s", g.rateKbit)
	}
	return s
}

const gridLANs = 3

// linkDelay spreads the access links' one-way delays over 20..80 ms,
// deterministically.
func linkDelay(i int) int { return 20 + (i*23+7)%61 }

// newGrid builds the namespaces for authorities and homes; the last home's
// link is limited to 1 Mbit/s. Everything it made is deleted at the test's
// end (t.Cleanup), whether the test passed or not.
func newGrid(t *testing.T, authorities, homes int) *grid {
	var b [3]byte
	rand.Read(b[:])
	sfx := hex.EncodeToString(b[:])
	l := &lab{t: t}
	addNS := func(name string) string {
		ns := "gmmg-" + name + "-" + sfx
		l.ip("netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
			}
		})
		l.ip("-n", ns, "link", "set", "lo", "up")
		return ns
	}
	inet := addNS("inet")
	l.ip("-n", inet, "link", "add", "br0", "type", "bridge")
	l.ip("-n", inet, "addr", "add", "192.0.0.158/27", "dev", "br0")
	l.ip("-n", inet, "link", "set", "br0", "up")
	l.in(inet, "", "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	// access makes node's access link from its namespace (device eth0, its
	// default route) to the upstream namespace (device port, a route to
	// the node's address).
	seed := uint64(1)
	access := func(node gridLink, up, port string) {
		delayLine(t, node.ns, "eth0", up, port, time.Duration(node.delayMs)*time.Millisecond, seed)
		seed += 2
		l.ip("-n", node.ns, "addr", "add", node.ip+"/32", "dev", "eth0")
		l.ip("-n", node.ns, "link", "set", "eth0", "up")
		l.ip("-n", node.ns, "route", "add", "default", "dev", "eth0")
		l.ip("-n", up, "link", "set", port, "up")
		l.ip("-n", up, "route", "add", node.ip+"/32", "dev", port)
		if node.rateKbit > 0 {
			limit(l, node.ns, "eth0", node.rateKbit)
			limit(l, up, port, node.rateKbit)
		}
	}
	g := &grid{}
	for i := range authorities {
		a := gridLink{ns: addNS(fmt.Sprintf("a%d", i)), ip: fmt.Sprintf("192.0.0.%d", 161+i), delayMs: linkDelay(100 + i)}
		access(a, inet, fmt.Sprintf("a%d", i))
		g.authorities = append(g.authorities, a)
	}
	routers := make([]string, gridLANs)
	for k := range routers {
		r := addNS(fmt.Sprintf("r%d", k))
		l.ip("link", "add", "wan", "netns", r, "type", "veth", "peer", "name", fmt.Sprintf("r%d", k), "netns", inet)
		l.ip("-n", inet, "link", "set", fmt.Sprintf("r%d", k), "master", "br0", "up")
		l.ip("-n", r, "addr", "add", fmt.Sprintf("192.0.0.%d/27", 140+k), "dev", "wan")
		l.ip("-n", r, "link", "set", "wan", "up")
		l.ip("-n", r, "route", "add", "default", "via", "192.0.0.158")
		l.in(r, "", "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
		l.in(r, homeRouter, "nft", "-f", "-")
		routers[k] = r
	}
	for j := range homes {
		k := j % gridLANs
		h := gridLink{ns: addNS(fmt.Sprintf("h%d", j)), ip: fmt.Sprintf("192.168.%d.%d", k+1, 10+j/gridLANs), lan: k + 1, delayMs: linkDelay(j)}
		if j == homes-1 {
			h.rateKbit = 1000
		}
		access(h, routers[k], fmt.Sprintf("h%d", j))
		g.homes = append(g.homes, h)
	}
	return g
}

// limit puts a token bucket of rate kbit/s on the egress of dev in ns.
func limit(l *lab, ns, dev string, kbit int) {
	l.t.Helper()
	args := []string{"-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", fmt.Sprintf("%dkbit", kbit), "burst", "16kb", "latency", "400ms"}
	if out, err := exec.Command("tc", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("tc %v: %v\n%s", args, err, out)
	}
}
