package node

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/ident"
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

// TestHaltsAtUnknownUpgrade: when the authorities schedule an upgrade this
// binary does not know, the node stops just before its height: Run returns
// chain.ErrUnknownUpgrade with the words a homeowner reads, and the status
// showed the upgrade as not known.
func TestHaltsAtUnknownUpgrade(t *testing.T) {
	paths := demoNet(t, 1, 1, farSlots)
	r := start(t, paths[0], Options{})
	n := r.n
	key := nodeKey(t, paths[0])
	submit := func(tx chain.Tx) {
		tx.ChainID, tx.From = n.gen.ChainID, ident.AccountOf(key.Public().(ed25519.PublicKey))
		tx.Sign(key)
		postTx(t, n, tx)
	}
	waitFor(t, "the API", 10*time.Second, func() bool { return n.Status().ClockSynced })
	h := n.Status().Height
	at := h + 3
	submit(chain.Tx{Kind: chain.TxUpgrade, Upgrade: &chain.UpgradeVote{Name: "no-such-rule", Height: at}})
	waitFor(t, "the upgrade scheduled", 20*time.Second, func() bool { return len(n.Status().Upgrades) == 1 })
	if u := n.Status().Upgrades[0]; u.Name != "no-such-rule" || u.Height != at || u.Known || u.Active {
		t.Errorf("status upgrades: %+v; want no-such-rule at %d, not known, not active", u, at)
	}
	for seq := uint64(1); ; seq++ {
		submit(chain.Tx{Kind: chain.TxTariff, Tariff: &chain.Tariff{Floor: n.gen.Tariff.Floor, Ceiling: n.gen.Tariff.Ceiling, Fee: n.gen.Tariff.Fee, Seq: seq}})
		if ok, err := r.Returned(3 * time.Second); ok {
			if !errors.Is(err, chain.ErrUnknownUpgrade) || !strings.Contains(err.Error(), fmt.Sprintf(`upgrade "no-such-rule" activates at height %d; this binary does not know it: update gridmesh`, at)) {
				t.Fatalf("Run returned %v; want the unknown upgrade, its height and what to do", err)
			}
			if got := n.chain.Status().Height; got != at-1 {
				t.Errorf("halted at height %d; want %d, the last block before the upgrade", got, at-1)
			}
			return
		}
		if seq > 10 {
			t.Fatalf("still running at height %d, upgrade at %d", n.chain.Status().Height, at)
		}
	}
}
