package sim

import (
	"fmt"

	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
)

// traceEntry is one event of the run, kept in a ring and formatted only when a
// violation needs it.
type traceEntry struct {
	step   int
	at     int64
	node   int16
	from   int16
	what   string // constant strings only
	height uint64
	round  int32
	typ    consensus.MsgType
	id     ident.Hash
	n      int64
}

type traceRing struct {
	e    []traceEntry
	next int
	full bool
}

func (r *traceRing) init(n int) { r.e = make([]traceEntry, n) }

func (r *traceRing) add(t traceEntry) {
	r.e[r.next] = t
	r.next++
	if r.next == len(r.e) {
		r.next, r.full = 0, true
	}
}

func (s *Sim) trace(nd int, what string, h uint64, round int32, typ consensus.MsgType, id ident.Hash, n int64) {
	s.ring.add(traceEntry{step: s.steps, at: s.now, node: int16(nd), from: -1, what: what, height: h, round: round, typ: typ, id: id, n: n})
}

// lastFor returns the last k entries touching height h (and global entries, height
// 0), oldest first.
func (r *traceRing) lastFor(h uint64, k int, s *Sim) []string {
	var out []string
	n := len(r.e)
	for i := 1; i <= n && len(out) < k; i++ {
		j := (r.next - i + n) % n
		if !r.full && j >= r.next {
			break
		}
		t := r.e[j]
		if t.what == "" || (t.height != h && t.height != 0) {
			continue
		}
		name := "net"
		if t.node >= 0 && int(t.node) < len(s.nodes) {
			name = s.nodes[t.node].name
		}
		line := fmt.Sprintf("step %d t=%dms %s: %s h%d", t.step, t.at, name, t.what, t.height)
		if t.typ != 0 {
			line += fmt.Sprintf(" r%d %s %s", t.round, t.typ, t.id.Short())
		} else if !t.id.IsZero() {
			line += fmt.Sprintf(" %s", t.id.Short())
		}
		if t.n != 0 {
			line += fmt.Sprintf(" (%d)", t.n)
		}
		out = append(out, line)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
