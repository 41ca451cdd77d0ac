package node

import (
	"testing"

	"github.com/gridmesh/gridmesh/wire"
)

// TestFutureFormatIgnored: an order of a newer encoding format (as a node
// of a later release would gossip it) is ignored, not rejected, so that the
// newer peer is not scored down, and it is counted in future_format; a
// malformed one is still rejected and counted as such.
func TestFutureFormatIgnored(t *testing.T) {
	paths := demoNet(t, 1, 1, farSlots)
	n := loaded(t, paths[1])
	tx := sellOrder(n, nodeKey(t, paths[1]), 1, 5)
	enc := tx.Encode()
	future := append([]byte(`{"format":1,`), enc[1:]...)
	if v := n.validateOrderGossip(n.host.PublicKey(), future); v.String() != "ignore" {
		t.Errorf("validator on a format-1 order: got %s, want ignore", v)
	}
	if v, _, _ := n.checkTxBatch(wire.EncodeTxBatch([][]byte{future})); v.String() != "ignore" {
		t.Errorf("tx batch with a format-1 tx: got %s, want ignore", v)
	}
	st := n.Status()
	if st.FutureFormat != 2 || st.Rejected != 0 {
		t.Errorf("after two format-1 payloads: future_format %d, gossip_rejected %d; want 2 and 0", st.FutureFormat, st.Rejected)
	}
	if v := n.validateOrderGossip(n.host.PublicKey(), enc[1:]); v.String() != "reject" {
		t.Errorf("validator on a malformed order: got %s, want reject", v)
	}
	if st := n.Status(); st.FutureFormat != 2 || st.Rejected != 1 {
		t.Errorf("after a malformed payload: future_format %d, gossip_rejected %d; want 2 and 1", st.FutureFormat, st.Rejected)
	}
}
