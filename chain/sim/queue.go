package sim

import (
	"github.com/gridmesh/gridmesh/chain/consensus"
)

type evKind uint8

const (
	evMsg         evKind = iota + 1 // consensus message bytes
	evTx                            // transaction bytes
	evBlock                         // certified block
	evTimeout                       // engine timer
	evTick                          // the node's 100 ms tick
	evWork                          // Step(Work{}) right away
	evRestart                       // a crashed node restarts
	evSync                          // a sync response
	evWorkload                      // global: a participant acts
	evPhase                         // global: chaos <-> heal
	evRepartition                   // global: new partitions in chaos
)

var kindNames = [...]string{"", "msg", "tx", "block", "timeout", "tick", "work", "restart", "sync", "workload", "phase", "partition"}

// event is one scheduled input. Node events are dropped if the node crashed after
// they were scheduled (epoch differs).
type event struct {
	at    int64
	seq   uint64
	to    int // node index, -1 = global
	epoch int
	from  int
	kind  evKind
	data  []byte
	tmo   consensus.Timeout
	blks  []certified
}

// queue is a binary min-heap on (at, seq): deterministic order.
type queue struct{ h []event }

func (q *queue) len() int { return len(q.h) }

func less(a, b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (q *queue) push(e event) {
	q.h = append(q.h, e)
	i := len(q.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(&q.h[i], &q.h[p]) {
			break
		}
		q.h[i], q.h[p] = q.h[p], q.h[i]
		i = p
	}
}

func (q *queue) pop() event {
	top := q.h[0]
	n := len(q.h) - 1
	q.h[0] = q.h[n]
	q.h[n] = event{}
	q.h = q.h[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && less(&q.h[l], &q.h[m]) {
			m = l
		}
		if r < n && less(&q.h[r], &q.h[m]) {
			m = r
		}
		if m == i {
			break
		}
		q.h[i], q.h[m] = q.h[m], q.h[i]
		i = m
	}
	return top
}

func (s *Sim) push(after int64, to int, e event) {
	s.seq++
	e.at, e.seq, e.to = s.now+after, s.seq, to
	if to >= 0 {
		e.epoch = s.nodes[to].epoch
	}
	s.q.push(e)
}
