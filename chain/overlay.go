package chain

import (
	"iter"
)

// overlay is a map that an execution changes without copying it: reads fall
// through to base, the committed map (shared by every execution of the same
// parent), and writes go to delta, so delta's keys are all those whose value
// may differ from base's. The zero value is an empty map.
type overlay[K comparable, V any] struct {
	base   map[K]V
	delta  map[K]pending[V]
	n      int  // number of keys
	frozen bool // committed: base is shared, writes panic
}

// pending is a write of an overlay: a new value, or a deletion.
type pending[V any] struct {
	v   V
	del bool
}

func (m *overlay[K, V]) get(k K) (V, bool) {
	if p, ok := m.delta[k]; ok {
		return p.v, !p.del
	}
	v, ok := m.base[k]
	return v, ok
}

func (m *overlay[K, V]) has(k K) bool { _, ok := m.get(k); return ok }

func (m *overlay[K, V]) len() int { return m.n }

func (m *overlay[K, V]) writable() {
	if m.frozen {
		panic("chain: write to the committed state")
	}
	if m.delta == nil {
		m.delta = map[K]pending[V]{}
	}
}

func (m *overlay[K, V]) set(k K, v V) {
	m.writable()
	if !m.has(k) {
		m.n++
	}
	m.delta[k] = pending[V]{v: v}
}

func (m *overlay[K, V]) del(k K) {
	m.writable()
	if !m.has(k) {
		return
	}
	m.n--
	if _, committed := m.base[k]; committed {
		m.delta[k] = pending[V]{del: true}
	} else {
		delete(m.delta, k)
	}
}

// all yields every key and value, in no particular order.
func (m *overlay[K, V]) all() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for k, v := range m.base {
			if _, changed := m.delta[k]; !changed && !yield(k, v) {
				return
			}
		}
		for k, p := range m.delta {
			if !p.del && !yield(k, p.v) {
				return
			}
		}
	}
}

// keys yields every key, in no particular order.
func (m *overlay[K, V]) keys() iter.Seq[K] {
	return func(yield func(K) bool) {
		for k := range m.all() {
			if !yield(k) {
				return
			}
		}
	}
}

// derive returns an empty overlay over m's map; m must be committed.
func (m *overlay[K, V]) derive() overlay[K, V] {
	if !m.frozen {
		panic("chain: state derived from an uncommitted state")
	}
	return overlay[K, V]{base: m.base, n: m.n}
}

// fold writes m's changes into its base map, in place, and freezes m. Other
// overlays over the same base see the change: they must be discarded.
func (m *overlay[K, V]) fold() {
	if m.base == nil {
		m.base = make(map[K]V, len(m.delta))
	}
	for k, p := range m.delta {
		if p.del {
			delete(m.base, k)
		} else {
			m.base[k] = p.v
		}
	}
	m.delta = nil
	m.frozen = true
}
