package node

import (
	"testing"

	"github.com/gridmesh/gridmesh/ident"
)

func TestHeightIndexForgetsTheOldest(t *testing.T) {
	x := newHeightIndex(3)
	h := func(i byte) ident.Hash { return ident.Hash{i} }
	for i := byte(1); i <= 5; i++ {
		x.put(h(i), uint64(i)*10)
	}
	x.put(h(5), 55) // a known hash moves nothing out
	for i, want := range map[byte]uint64{3: 30, 4: 40, 5: 55} {
		if got, ok := x.height[h(i)]; !ok || got != want {
			t.Errorf("hash %d: height %d (held %v); want %d", i, got, ok, want)
		}
	}
	for _, i := range []byte{1, 2} {
		if _, ok := x.height[h(i)]; ok {
			t.Errorf("hash %d still held; want the two oldest of 5 forgotten at max 3", i)
		}
	}
	if len(x.height) != 3 || len(x.ring) != 3 {
		t.Errorf("holds %d hashes, ring %d; want 3 and 3", len(x.height), len(x.ring))
	}
}
