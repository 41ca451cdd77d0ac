package consensus

import (
	"flag"
	"fmt"
	"testing"
)

var simSeeds = flag.Int("sim.seeds", 0, "seeds per network test (0 = each test's default)")

// BenchmarkDecideSingle: one validator decides one height per iteration (3 signatures).
func BenchmarkDecideSingle(b *testing.B) {
	tv := newTestVals(1)
	e := mustNew(b, tv.config(tv.ids[0]), 1, nil)
	v := []byte("value")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h := e.Height()
		_ = e.Step(Work{})
		drain(e)
		_ = e.Step(Proposed{Height: h, Round: 0, Value: v, ID: valueID(fmt.Append(v, i))})
		if rd := drain(e); len(rd.Decided) != 1 {
			b.Fatalf("no decision at %d", h)
		}
	}
}

// BenchmarkDecideFour: four engines, instant all-to-all delivery, one height per
// iteration (every engine signs 2-3 messages and steps ~12).
func BenchmarkDecideFour(b *testing.B) {
	tv := newTestVals(4)
	var es []*Engine
	for _, id := range tv.ids {
		es = append(es, mustNew(b, tv.config(id), 1, nil))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		queue := []Message{}
		decided := 0
		pump := func(j int) {
			for es[j].HasReady() {
				rd := es[j].Ready()
				queue = append(queue, rd.Messages...)
				decided += len(rd.Decided)
				if bq := rd.Build; bq != nil {
					v := fmt.Appendf(nil, "h%d r%d %d", bq.Height, bq.Round, i)
					_ = es[j].Step(Proposed{Height: bq.Height, Round: bq.Round, Value: v, ID: valueID(v)})
				}
				for _, v := range rd.Validate {
					_ = es[j].Step(Validated{Height: v.Height, Round: v.Round, ID: v.ID, Valid: true})
				}
			}
		}
		for j := range es {
			_ = es[j].Step(Work{})
			pump(j)
		}
		for len(queue) > 0 {
			m := queue[0]
			queue = queue[1:]
			for j := range es {
				if tv.ids[j] != m.From {
					_ = es[j].Step(m)
					pump(j)
				}
			}
		}
		if decided != 4 {
			b.Fatalf("iteration %d: %d decisions, want 4", i, decided)
		}
	}
}

// BenchmarkStepPrevote: the engine's own cost of counting one vote (no crypto).
func BenchmarkStepPrevote(b *testing.B) {
	tv := newTestVals(100)
	e := mustNew(b, tv.config(tv.ids[0]), 1, nil)
	_ = e.Step(Work{})
	drain(e)
	var msgs []Message
	for r := int32(0); r < 4; r++ {
		for _, id := range tv.ids[1:34] { // 33 of 100: below every threshold
			msgs = append(msgs, tv.signed(Message{Type: Prevote, Height: 1, Round: 0, ValueID: valueID(fmt.Append(nil, r))}, id))
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(msgs) == 0 {
			e.rounds = map[int32]*roundVotes{}
		}
		_ = e.Step(msgs[i%len(msgs)])
	}
}
