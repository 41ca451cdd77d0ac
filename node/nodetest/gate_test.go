package nodetest

import (
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/node"
)

// On a running network with short slots, the indicative price and volume a
// home shows at gate closure equal what the chain clears whenever the orders
// it held then are exactly the ones cleared; the slots where they were not
// are reported.
func TestIndicativeAtGate(t *testing.T) {
	t.Parallel()
	paths := demoNetwork(t, 3, 1, 4*time.Second)
	start(t, paths[0], node.Options{})
	var homes []*node.Node
	for _, p := range paths[1:] {
		homes = append(homes, start(t, p, node.Options{}).n)
	}
	watch := homes[2]
	var checks []node.GateCheck
	var replaced *node.MyOrder // a confirmed replacement seen on some home
	waitFor(t, "three gate checks with trades and the same orders, and a confirmed replace", 120*time.Second, func() bool {
		for _, h := range homes {
			for _, o := range h.Status().OpenBook {
				if m := o.MyOrder; m != nil && m.Confirmed && m.Replaced > 0 && replaced == nil {
					replaced = m
				}
			}
		}
		checks = watch.Status().GateChecks
		n := 0
		for _, c := range checks {
			if c.Cleared && c.SameOrders && c.ClearedVolume > 0 {
				n++
			}
		}
		return n >= 3 && replaced != nil
	})
	t.Logf("a home's order after %d replaces, on chain: %+v", replaced.Replaced, *replaced)
	differ := 0
	for _, c := range checks {
		if !c.Cleared {
			continue
		}
		if !c.SameOrders {
			differ++
			t.Logf("%s: orders at the gate differ from the chain's: indicative %d at %d Wh, cleared %d at %d Wh", c.Slot, c.IndicativePrice, c.IndicativeVolume, c.ClearedPrice, c.ClearedVolume)
			continue
		}
		t.Logf("%s: indicative %d at %d Wh over %d orders, cleared %d at %d Wh", c.Slot, c.IndicativePrice, c.IndicativeVolume, c.Orders, c.ClearedPrice, c.ClearedVolume)
		if c.IndicativePrice != c.ClearedPrice || c.IndicativeVolume != c.ClearedVolume {
			t.Errorf("%s, same orders: indicative %d at %d Wh at gate closure, cleared %d at %d Wh", c.Slot, c.IndicativePrice, c.IndicativeVolume, c.ClearedPrice, c.ClearedVolume)
		}
	}
	t.Logf("%d gate checks, %d with orders that differed from the chain's", len(checks), differ)
}
