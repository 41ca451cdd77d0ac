package sim

import (
	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
)

// linked reports whether a message from a reaches b now. Twins (the adversary
// controls their links) each talk to their own half of the honest nodes,
// whatever the partitions; honest nodes and followers talk within their
// partition in chaos, to everyone in a heal phase.
func (s *Sim) linked(a, b *node) bool {
	if a == b {
		return false
	}
	if a.role == roleByz || b.role == roleByz {
		return a.side == b.side
	}
	return s.heal || a.group == b.group
}

func (s *Sim) linkedPeers(nd *node) []int {
	var out []int
	for _, p := range s.nodes {
		if !p.down && s.linked(nd, p) {
			out = append(out, p.idx)
		}
	}
	return out
}

// delay draws one delivery delay: usually short, sometimes late (reordering).
func (s *Sim) delay() int64 {
	if s.rng.Float64() < s.cfg.Late {
		return s.rng.Int64N(s.cfg.LateDelay + 1)
	}
	return s.cfg.MinDelay + s.rng.Int64N(s.cfg.MaxDelay-s.cfg.MinDelay+1)
}

// deliver schedules one copy (or none, or two) of e to node j.
func (s *Sim) deliver(from *node, j int, e event) {
	loss := s.cfg.Loss
	if s.heal {
		loss = s.cfg.HealLoss
	}
	copies := 1
	if s.rng.Float64() < s.cfg.Dup {
		copies = 2
	}
	e.from = from.idx
	for range copies {
		if s.rng.Float64() < loss {
			continue
		}
		s.push(s.delay(), j, e)
	}
}

// broadcast is a gossip publish: every linked node, each delivery faulty on its own.
func (s *Sim) broadcast(from *node, e event) {
	for _, p := range s.nodes {
		if s.linked(from, p) {
			s.deliver(from, p.idx, e)
		}
	}
}

// sendMsg publishes a consensus message of nd, after the checks that watch what
// honest authorities sign; a Byzantine instance may add its own mischief.
func (s *Sim) sendMsg(nd *node, m consensus.Message) {
	if nd.role == roleHonest && m.From == nd.id {
		s.chk.signed(nd, m)
	}
	data := m.Encode()
	s.digest.Write(data)
	s.trace(nd.idx, "send", m.Height, m.Round, m.Type, m.ValueID, 0)
	s.broadcast(nd, event{kind: evMsg, data: data})
	s.remember(data)
	if nd.role == roleByz && s.rng.Float64() < s.cfg.ByzAct {
		s.mischief(nd, m)
	}
}

// remember keeps recent messages of anyone, for replays.
func (s *Sim) remember(data []byte) {
	const keep = 512
	if len(s.sent) < keep {
		s.sent = append(s.sent, data)
		return
	}
	s.sent[s.rng.IntN(keep)] = data
}

func (s *Sim) handleGlobal(ev event) {
	switch ev.kind {
	case evWorkload:
		s.workload()
		s.push(s.cfg.WorkEvery/2+s.rng.Int64N(s.cfg.WorkEvery+1), -1, event{kind: evWorkload})
	case evPhase:
		if s.heal {
			s.heal = false
			s.trace(-1, "chaos begins", 0, 0, 0, ident.Hash{}, 0)
			s.repartition()
			s.push(s.cfg.ChaosMs, -1, event{kind: evPhase})
			return
		}
		s.heal, s.healAt, s.livenessDone = true, s.now, false
		s.stats.Heals++
		s.trace(-1, "heal begins", 0, 0, 0, ident.Hash{}, 0)
		for _, nd := range s.nodes {
			nd.group = 0
			if nd.down {
				s.push(0, nd.idx, event{kind: evRestart})
			}
		}
		s.healMax = s.chk.maxHeight
		s.chk.prune(s)
		s.push(s.cfg.HealMs, -1, event{kind: evPhase})
	case evRepartition:
		if !s.heal {
			s.repartition()
		}
		s.push(2000+s.rng.Int64N(6000), -1, event{kind: evRepartition})
	}
}

// repartition draws new partitions: none, two or three groups.
func (s *Sim) repartition() {
	groups := 1 + s.rng.IntN(3)
	for _, nd := range s.nodes {
		nd.group = s.rng.IntN(groups)
	}
	s.trace(-1, "partitions", 0, 0, 0, ident.Hash{}, int64(groups))
}

// checkLiveness: in a heal phase, with the honest authorities a quorum, every
// honest authority and follower must have committed past the highest height any honest node
// had when the heal began, within LivenessBound.
func (s *Sim) checkLiveness() {
	if !s.heal || s.livenessDone || s.now-s.healAt < s.cfg.LivenessBound || !s.livenessExpected() {
		return
	}
	s.livenessDone = true
	for _, nd := range s.nodes {
		if nd.role == roleByz {
			continue
		}
		if h := s.height(nd); h <= s.healMax {
			s.violate("liveness", h+1, "%s is at height %d, %d ms after the heal began at height %d (%d honest authorities with good clocks of %d, all up and connected)",
				nd.name, h, s.now-s.healAt, s.healMax, s.cfg.Authorities-s.cfg.Byzantine-s.cfg.Silent-s.cfg.FastClocks, s.cfg.Authorities)
			return
		}
	}
}
