package p2p

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestConnAddrs(t *testing.T) {
	a := newTestHost(t, 61, nil)
	b := newTestHost(t, 62, nil)
	if got := a.ConnAddrs(b.ID()); len(got) != 0 {
		t.Errorf("before connecting: ConnAddrs = %q, want none", got)
	}
	if got := a.ConnAddrs("not a peer id"); got != nil {
		t.Errorf("malformed id: ConnAddrs = %q, want nil", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Connect(ctx, b.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	got := a.ConnAddrs(b.ID())
	want := strings.TrimSuffix(b.Addrs()[0], "/p2p/"+b.ID())
	if len(got) != 1 || got[0] != want {
		t.Errorf("ConnAddrs = %q, want [%q]", got, want)
	}
}

// A home that assumes it is private reports so at once and reserves a slot on
// its relay without waiting for AutoNAT, so another home can reach it through
// the relay.
func TestAssumePrivateReservesAtOnce(t *testing.T) {
	relay := newTestHost(t, 63, func(c *Config) { c.RelayService = true })
	home := newTestHost(t, 64, func(c *Config) {
		c.NATTraversal = true
		c.AssumePrivate = true
		c.Bootstrap = relay.Addrs()
	})
	other := newTestHost(t, 65, func(c *Config) { c.NATTraversal = true })
	eventually(t, patience, "reachability private", func() bool { return home.Reachability() == "private" })
	circuit := fmt.Sprintf("%s/p2p-circuit/p2p/%s", relay.Addrs()[0], home.ID())
	eventually(t, patience, "a connection through the relay", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return other.Connect(ctx, circuit) == nil
	})
	if got := other.ConnAddrs(home.ID()); len(got) == 0 || !strings.Contains(got[0], "/p2p-circuit") {
		t.Errorf("ConnAddrs = %q, want a relayed connection", got)
	}
}

func TestVia(t *testing.T) {
	for _, c := range []struct {
		conns []string
		want  string
	}{
		{nil, ""},
		{[]string{"/ip4/192.0.0.130/tcp/4001"}, "direct"},
		{[]string{"/ip4/192.0.0.129/tcp/4001/p2p/12D3KooWA/p2p-circuit"}, "relay"},
		{[]string{"/ip4/192.0.0.129/tcp/4001/p2p/12D3KooWA/p2p-circuit", "/ip4/192.0.0.131/udp/4001/quic-v1"}, "direct"},
	} {
		if got := via(c.conns); got != c.want {
			t.Errorf("via(%q) = %q; want %q", c.conns, got, c.want)
		}
	}
}
