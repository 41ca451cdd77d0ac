package meter

import (
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/unit"
)

func BenchmarkAppend(b *testing.B) {
	j, err := OpenJournal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	r := Reading{Time: t0, Import: 1000, Export: 10, Power: 420, Serial: "SDM630-12345678", Flags: PhasesValid,
		Phases: [3]Phase{{Voltage: 230_100, Current: 1200, Power: 140}, {Voltage: 229_800, Current: 1300, Power: 150}, {Voltage: 231_000, Current: 1100, Power: 130}}}
	for b.Loop() {
		r.Time = r.Time.Add(time.Second)
		r.Import++
		if err := j.Append(r); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	e, _ := Entry{Reading: r, Seq: j.Len()}.Encode()
	b.ReportMetric(float64(len(e)), "bytes/entry")
}

// BenchmarkEnergy is one slot attestation's lookup in a day of readings at 1 s.
func BenchmarkEnergy(b *testing.B) {
	j, err := OpenJournal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	const n = 86_400
	for i := range n {
		if err := j.Append(Reading{Time: t0.Add(time.Duration(i) * time.Second), Import: unit.Wh(i / 3), Export: unit.Wh(i / 7)}); err != nil {
			b.Fatal(err)
		}
	}
	from := t0.Add(12*time.Hour + 500*time.Millisecond)
	for b.Loop() {
		if _, _, ok := j.Energy(from, from.Add(15*time.Minute)); !ok {
			b.Fatal("not covered")
		}
	}
}
