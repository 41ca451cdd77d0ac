package sim

import (
	"crypto/ed25519"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// participant is a home that trades: it signs orders, cancels and attestations
// with its own key and hands them to a node (its own node's agent, in production).
type participant struct {
	key      ed25519.PrivateKey
	acct     ident.Account
	admitted bool // pre-admitted, or its Admit has been sent
	nonce    uint64
	orders   []placed
	attested map[int64]bool
}

type placed struct {
	hash ident.Hash
	slot unit.Slot
}

func (p *participant) sign(s *Sim, tx chain.Tx) []byte {
	p.nonce++
	tx.ChainID, tx.From, tx.Nonce = s.gen.ChainID, p.acct, p.nonce
	tx.Sign(p.key)
	return tx.Encode()
}

// workload lets one participant act at the true time.
func (s *Sim) workload() {
	p := s.parts[s.rng.IntN(len(s.parts))]
	t := s.startMs + s.now
	if !p.admitted {
		k := s.authKeys[s.rng.IntN(len(s.authKeys))]
		tx := chain.Tx{ChainID: s.gen.ChainID, Kind: chain.TxAdmit, From: ident.AccountOf(k.Public().(ed25519.PublicKey)),
			Nonce: s.rng.Uint64(), Admit: &chain.Admit{Participant: p.acct, Name: "late-home"}}
		tx.Sign(k)
		p.admitted = true
		s.submit(tx.Encode())
		return
	}
	// Attest every slot it traded in, once its attestation window is open.
	for _, o := range p.orders {
		if p.attested[int64(o.slot)] || t < s.gen.SlotEnd(o.slot) || t >= s.gen.SettleAt(o.slot) {
			continue
		}
		p.attested[int64(o.slot)] = true
		s.submit(p.sign(s, chain.Tx{Kind: chain.TxAttest, Attest: &chain.Attest{Slot: o.slot,
			Import: unit.Wh(s.rng.Int64N(3000)), Export: unit.Wh(s.rng.Int64N(3000))}}))
		return
	}
	p.forget(s, t)
	switch r := s.rng.IntN(20); {
	case r == 0 && len(p.orders) > 0: // cancel one of its orders
		o := p.orders[s.rng.IntN(len(p.orders))]
		s.submit(p.sign(s, chain.Tx{Kind: chain.TxCancel, Cancel: &chain.Cancel{Order: o.hash}}))
	case r == 1: // a transaction signed for another network: refused everywhere
		tx := chain.Tx{ChainID: otherNetwork, Kind: chain.TxOrder, From: p.acct, Nonce: s.rng.Uint64(),
			Order: &chain.Order{Side: market.Buy, Slot: s.gen.SlotAt(t) + 2, Energy: 100, Price: s.gen.Tariff.Ceiling}}
		tx.Sign(p.key)
		s.submit(tx.Encode())
	default: // an order for an open slot
		first, last := s.gen.SlotAt(t), s.gen.SlotAt(t+s.gen.OpenLeadSeconds*1000)
		var open []unit.Slot
		for sl := first; sl <= last; sl++ {
			if s.gen.OpenAt(sl) <= t && t < s.gen.GateClosure(sl) {
				open = append(open, sl)
			}
		}
		if len(open) == 0 {
			return
		}
		sl := open[s.rng.IntN(len(open))]
		side := market.Buy
		if s.rng.IntN(2) == 0 {
			side = market.Sell
		}
		tr := s.gen.Tariff
		price := tr.Floor + unit.Price(s.rng.Int64N(int64(tr.Ceiling-tr.Floor)+1))
		data := p.sign(s, chain.Tx{Kind: chain.TxOrder, Order: &chain.Order{Side: side, Slot: sl,
			Energy: unit.Wh(100 + s.rng.Int64N(3000)), Price: price}})
		tx, _ := chain.DecodeTx(data)
		p.orders = append(p.orders, placed{hash: tx.Hash(), slot: sl})
		s.submit(data)
		if s.rng.IntN(30) == 0 {
			s.submit(data) // the same transaction again, elsewhere
		}
	}
}

// forget drops orders whose slots are past settlement.
func (p *participant) forget(s *Sim, t int64) {
	keep := p.orders[:0]
	for _, o := range p.orders {
		if t < s.gen.SettleAt(o.slot)+10_000 {
			keep = append(keep, o)
		} else {
			delete(p.attested, int64(o.slot))
		}
	}
	p.orders = keep
}

// submit hands a transaction to a random running node, which checks it, pools
// it and publishes it.
func (s *Sim) submit(data []byte) {
	var up []*node
	for _, nd := range s.nodes {
		if !nd.down {
			up = append(up, nd)
		}
	}
	if len(up) == 0 {
		return
	}
	s.receiveTx(up[s.rng.IntN(len(up))], data, true)
}
