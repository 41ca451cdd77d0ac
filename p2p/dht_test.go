package p2p

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// kadProtocols returns the DHT protocols h serves.
func kadProtocols(h *Host) []string {
	var out []string
	for _, p := range h.h.Mux().Protocols() {
		if strings.HasPrefix(string(p), string(dhtPrefix(testNet))+"/kad/") {
			out = append(out, string(p))
		}
	}
	return out
}

// TestDHTRendezvous starts an authority (DHT server) and four homes that know
// only the authority, and checks that every two homes with DHT on meet
// directly through rendezvous. A fifth home with DHT off, also bootstrapped to
// the authority, is the control: nobody finds it, and it serves no DHT.
func TestDHTRendezvous(t *testing.T) {
	start := time.Now()
	// ConnLow/ConnHigh well above the 6 hosts, so the connection manager
	// neither trims nor makes a home skip its lookups.
	limits := func(c *Config) { c.ConnLow, c.ConnHigh = 8, 16 }
	auth := newTestHost(t, 180, func(c *Config) {
		limits(c)
		c.DHT = true
		c.RelayService = true // an authority: DHT server mode
	})
	if got, want := kadProtocols(auth), []string{"/gridmesh/" + testNet + "/kad/1.0.0"}; !slices.Equal(got, want) {
		t.Fatalf("authority serves DHT protocols %v, want %v", got, want)
	}
	home := func(seed byte, dht bool) *Host {
		return newTestHost(t, seed, func(c *Config) {
			limits(c)
			c.DHT = dht
			c.Bootstrap = auth.Addrs()
		})
	}
	var homes []*Host
	for i := range 4 {
		homes = append(homes, home(byte(181+i), true))
	}
	control := home(185, false)

	// missing lists the pairs of DHT homes not (yet) connected to each other.
	missing := func() []string {
		var out []string
		for i, a := range homes {
			for j, b := range homes[i+1:] {
				if !slices.Contains(a.Peers(), b.ID()) {
					out = append(out, fmt.Sprintf("%d-%d", i, i+1+j))
				}
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(missing()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s, home pairs not connected: %v; want all 6 pairs connected through rendezvous", missing())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("4 homes fully connected through rendezvous %v after start", time.Since(start).Round(time.Millisecond))

	for i, a := range homes {
		for _, b := range homes[i+1:] {
			addrs := a.ConnAddrs(b.ID())
			if len(addrs) == 0 || slices.ContainsFunc(addrs, func(s string) bool { return strings.Contains(s, "/p2p-circuit") }) {
				t.Errorf("connection %s -> %s over %v, want direct (no /p2p-circuit)", a.ID(), b.ID(), addrs)
			}
		}
	}
	if got, want := control.Peers(), []string{auth.ID()}; !slices.Equal(got, want) {
		t.Errorf("home without DHT has peers %v, want only the authority %v (it never advertised)", got, want)
	}
	if got := kadProtocols(control); len(got) != 0 {
		t.Errorf("home without DHT serves DHT protocols %v, want none", got)
	}
}

// TestDHTOffRegistersNothing checks that a host with DHT off, even an
// authority (which would be a DHT server), serves no DHT protocol.
func TestDHTOffRegistersNothing(t *testing.T) {
	h := newTestHost(t, 186, func(c *Config) { c.RelayService = true })
	if got := kadProtocols(h); len(got) != 0 {
		t.Errorf("host with DHT off serves DHT protocols %v, want none", got)
	}
	if h.dht != nil {
		t.Errorf("host with DHT off has a DHT")
	}
}
