package meter

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/gridmesh/gridmesh/unit"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func openT(t *testing.T, dir string) *Journal {
	t.Helper()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatalf("OpenJournal: %v", err)
	}
	return j
}

// fill appends n readings, one per minute, import +10 Wh and export +3 Wh each.
func fill(t *testing.T, j *Journal, n int) []Reading {
	t.Helper()
	var rs []Reading
	for i := range n {
		r := Reading{
			Time:   t0.Add(time.Duration(i) * time.Minute),
			Import: unit.Wh(1000 + 10*i),
			Export: unit.Wh(500 + 3*i),
			Power:  unit.W(600 - 10*i),
			Serial: "SN1",
		}
		if i%2 == 1 {
			r.Flags = PhasesValid
			r.Phases[0] = Phase{Voltage: 230_100, Current: 2_600, Power: 600}
		}
		if err := j.Append(r); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestJournalAppendReopenVerify(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir)
	if _, ok := j.Last(); ok {
		t.Fatal("Last on empty journal: ok = true, want false")
	}
	if got := j.Head(); got != ([32]byte{}) {
		t.Fatalf("Head of empty journal = %x, want zero", got)
	}
	rs := fill(t, j, 50)
	if err := j.Verify(); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	head := j.Head()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j = openT(t, dir)
	defer j.Close()
	if got := j.Repaired(); got != 0 {
		t.Errorf("Repaired after clean reopen = %d, want 0", got)
	}
	if got := j.Head(); got != head {
		t.Errorf("Head after reopen = %x, want %x", got, head)
	}
	if got := j.Len(); got != 50 {
		t.Errorf("Len = %d, want 50", got)
	}
	last, ok := j.Last()
	want := rs[49]
	if !ok || !last.Time.Equal(want.Time) || last.Import != want.Import || last.Phases != want.Phases {
		t.Errorf("Last = %+v, %v; want %+v", last, ok, want)
	}
	if err := j.Verify(); err != nil {
		t.Fatalf("Verify after reopen: %v", err)
	}
	// Continue the chain after reopening.
	if err := j.Append(Reading{Time: t0.Add(time.Hour), Import: 2000, Export: 700}); err != nil {
		t.Fatalf("Append after reopen: %v", err)
	}
	if err := j.Verify(); err != nil {
		t.Fatalf("Verify after append: %v", err)
	}
	if j.Head() == head {
		t.Error("Head unchanged after append")
	}
}

func TestJournalAppendRejects(t *testing.T) {
	j := openT(t, t.TempDir())
	defer j.Close()
	if err := j.Append(Reading{Time: t0, Import: 100, Export: 50}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    Reading
		want error
	}{
		{"same time", Reading{Time: t0, Import: 100, Export: 50}, ErrOutOfOrder},
		{"earlier", Reading{Time: t0.Add(-time.Second), Import: 100, Export: 50}, ErrOutOfOrder},
		{"import back", Reading{Time: t0.Add(time.Second), Import: 99, Export: 50}, ErrBackwards},
		{"export back", Reading{Time: t0.Add(time.Second), Import: 100, Export: 49}, ErrBackwards},
		{"far future", Reading{Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), Import: 100, Export: 50}, ErrTime},
	}
	for _, tc := range tests {
		if err := j.Append(tc.r); !errors.Is(err, tc.want) {
			t.Errorf("%s: Append err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if got := j.Len(); got != 1 {
		t.Errorf("Len after rejected appends = %d, want 1", got)
	}
	if err := j.Append(Reading{Time: t0, Serial: string(make([]byte, MaxSerial+1))}); err == nil {
		t.Error("Append with a too long serial: err = nil")
	}
}

// rawSet writes value at key in the badger store of a closed journal.
func rawSet(t *testing.T, dir string, fn func(txn *badger.Txn) error) {
	t.Helper()
	db, err := badger.Open(badgerOptions(dir, memTableSize))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestJournalRepairsBrokenTail(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(txn *badger.Txn) error
		want   int    // entries dropped
		len    uint64 // entries kept
	}{
		{"garbage tail", func(txn *badger.Txn) error {
			return txn.Set(entryKey(11), []byte{1, 2, 3})
		}, 1, 10},
		{"truncated tail", func(txn *badger.Txn) error {
			v := mustRaw(t, txn, 10)
			return txn.Set(entryKey(10), v[:len(v)-1])
		}, 1, 9},
		{"flipped bit in the last entry's prev hash", func(txn *badger.Txn) error {
			v := mustRaw(t, txn, 10)
			v[5] ^= 1
			return txn.Set(entryKey(10), v)
		}, 1, 9},
		{"valid encoding, wrong seq", func(txn *badger.Txn) error {
			e, _ := DecodeEntry(mustRaw(t, txn, 10))
			e.Seq = 99
			b, _ := e.Encode()
			return txn.Set(entryKey(10), b)
		}, 1, 9},
		// Entry 10 no longer links to 9 and goes; the changed entry 9 is a
		// well-formed link to 8 and cannot be told from a real one (nothing
		// after it commits to it).
		{"changed reading in the second-last entry", func(txn *badger.Txn) error {
			e, _ := DecodeEntry(mustRaw(t, txn, 9))
			e.Reading.Power++
			b, _ := e.Encode()
			return txn.Set(entryKey(9), b)
		}, 1, 9},
		{"garbage in the last two entries", func(txn *badger.Txn) error {
			if err := txn.Set(entryKey(9), []byte{1}); err != nil {
				return err
			}
			return txn.Set(entryKey(10), []byte{1})
		}, 2, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			j := openT(t, dir)
			fill(t, j, 10)
			j.Close()
			rawSet(t, dir, tc.break_)
			j = openT(t, dir)
			defer j.Close()
			if got := j.Repaired(); got != tc.want {
				t.Errorf("Repaired = %d, want %d", got, tc.want)
			}
			if got := j.Len(); got != tc.len {
				t.Errorf("Len = %d, want %d", got, tc.len)
			}
			if err := j.Verify(); err != nil {
				t.Errorf("Verify after repair: %v", err)
			}
			// The repaired journal continues.
			if err := j.Append(Reading{Time: t0.Add(time.Hour), Import: 5000, Export: 5000}); err != nil {
				t.Errorf("Append after repair: %v", err)
			}
			if err := j.Verify(); err != nil {
				t.Errorf("Verify after repair+append: %v", err)
			}
		})
	}
}

func mustRaw(t *testing.T, txn *badger.Txn, seq uint64) []byte {
	v, err := getRaw(txn, seq)
	if err != nil {
		t.Fatalf("get %d: %v", seq, err)
	}
	return v
}

func TestJournalCorruptStore(t *testing.T) {
	t.Run("every entry bad", func(t *testing.T) {
		dir := t.TempDir()
		j := openT(t, dir)
		fill(t, j, 3)
		j.Close()
		rawSet(t, dir, func(txn *badger.Txn) error {
			for seq := uint64(1); seq <= 3; seq++ {
				if err := txn.Set(entryKey(seq), []byte("junk")); err != nil {
					return err
				}
			}
			return nil
		})
		if _, err := OpenJournal(dir); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("OpenJournal err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("foreign store", func(t *testing.T) {
		dir := t.TempDir()
		rawSet(t, dir, func(txn *badger.Txn) error { return txn.Set([]byte(metaKey), []byte("chain")) })
		if _, err := OpenJournal(dir); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("OpenJournal err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("not a badger directory", func(t *testing.T) {
		dir := t.TempDir()
		j := openT(t, dir)
		fill(t, j, 3)
		j.Close()
		// Overwrite the manifest with junk.
		if err := writeFile(dir+"/MANIFEST", bytes.Repeat([]byte{0xAB}, 100)); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenJournal(dir); err == nil {
			t.Fatal("OpenJournal on a junk manifest: err = nil")
		}
	})
}

func TestVerifyDetectsMiddleCorruption(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir)
	fill(t, j, 10)
	j.Close()
	rawSet(t, dir, func(txn *badger.Txn) error {
		e, _ := DecodeEntry(mustRaw(t, txn, 4))
		e.Reading.Import++ // still monotone, but the hash changes
		b, _ := e.Encode()
		return txn.Set(entryKey(4), b)
	})
	j = openT(t, dir) // the tail is intact: no repair
	defer j.Close()
	if got := j.Repaired(); got != 0 {
		t.Errorf("Repaired = %d, want 0", got)
	}
	err := j.Verify()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify err = %v, want ErrCorrupt", err)
	}
	t.Logf("Verify: %v", err)
}

func TestEnergy(t *testing.T) {
	j := openT(t, t.TempDir())
	defer j.Close()
	// Readings at 0, 60, 120, 180 s (minutes from t0):
	// import 1000, 1010, 1020, 1030; export 500, 503, 506, 509.
	fill(t, j, 4)
	s := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	tests := []struct {
		name     string
		from, to time.Time
		imp, exp unit.Wh
		ok       bool
	}{
		{"exact readings", s(0), s(180), 30, 9, true},
		{"one interval", s(60), s(120), 10, 3, true},
		{"empty window", s(60), s(60), 0, 0, true},
		{"between readings", s(30), s(90), 10, 3, true},   // 1005→1015, 501(.5)→504(.5) floors
		{"inside one interval", s(10), s(50), 7, 2, true}, // import 1001.67→1008.33 floors 1001→1008; export 500.5→502.5 floors 500→502
		{"floor at border", s(20), s(40), 3, 1, true},     // import 1003.33→1006.67 floors 1003→1006; export 501→502 exact
		{"left edge uncovered", s(-1), s(60), 0, 0, false},
		{"right edge uncovered", s(60), s(181), 0, 0, false},
		{"reversed", s(120), s(60), 0, 0, false},
		{"to at last reading", s(179), s(180), 1, 1, true}, // import 1029.83→1030 floors 1029→1030; export 508.95→509 floors 508→509
	}
	for _, tc := range tests {
		imp, exp, ok := j.Energy(tc.from, tc.to)
		if ok != tc.ok || imp != tc.imp || exp != tc.exp {
			t.Errorf("%s: Energy = %v, %v, %v; want %v, %v, %v", tc.name, imp, exp, ok, tc.imp, tc.exp, tc.ok)
		}
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }

// TestEnergyAdds checks that consecutive windows add up exactly and that
// Energy matches a simple float model to within the 1 Wh of flooring.
func TestEnergyAdds(t *testing.T) {
	j := openT(t, t.TempDir())
	defer j.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	tm, imp, exp := t0, unit.Wh(0), unit.Wh(0)
	type pt struct {
		t    time.Time
		i, e unit.Wh
	}
	var pts []pt
	for range 200 {
		tm = tm.Add(time.Duration(1+rng.IntN(5000)) * time.Millisecond)
		imp += unit.Wh(rng.IntN(7))
		exp += unit.Wh(rng.IntN(3))
		if err := j.Append(Reading{Time: tm, Import: imp, Export: exp}); err != nil {
			t.Fatal(err)
		}
		pts = append(pts, pt{tm, imp, exp})
	}
	model := func(at time.Time) (float64, float64) {
		for k := 1; k < len(pts); k++ {
			if !pts[k].t.Before(at) {
				a, b := pts[k-1], pts[k]
				f := float64(at.Sub(a.t)) / float64(b.t.Sub(a.t))
				return float64(a.i) + f*float64(b.i-a.i), float64(a.e) + f*float64(b.e-a.e)
			}
		}
		t.Fatalf("model: %v out of range", at)
		return 0, 0
	}
	span := pts[len(pts)-1].t.Sub(pts[0].t)
	var borders []time.Time
	for range 40 {
		borders = append(borders, pts[0].t.Add(time.Duration(rng.Int64N(int64(span)))))
	}
	borders = append(borders, pts[0].t, pts[len(pts)-1].t)
	slicesSortTimes(borders)
	var sumI, sumE unit.Wh
	for k := 1; k < len(borders); k++ {
		i, e, ok := j.Energy(borders[k-1], borders[k])
		if !ok {
			t.Fatalf("Energy(%v, %v): ok = false", borders[k-1], borders[k])
		}
		mi0, me0 := model(borders[k-1])
		mi1, me1 := model(borders[k])
		if d := float64(i) - (mi1 - mi0); d < -1 || d > 1 {
			t.Errorf("window %d: import %v, model %.3f", k, i, mi1-mi0)
		}
		if d := float64(e) - (me1 - me0); d < -1 || d > 1 {
			t.Errorf("window %d: export %v, model %.3f", k, e, me1-me0)
		}
		sumI += i
		sumE += e
	}
	if want := pts[len(pts)-1].i - pts[0].i; sumI != want {
		t.Errorf("sum of import windows = %v, want %v", sumI, want)
	}
	if want := pts[len(pts)-1].e - pts[0].e; sumE != want {
		t.Errorf("sum of export windows = %v, want %v", sumE, want)
	}
}

func slicesSortTimes(ts []time.Time) {
	for i := 1; i < len(ts); i++ {
		for k := i; k > 0 && ts[k].Before(ts[k-1]); k-- {
			ts[k], ts[k-1] = ts[k-1], ts[k]
		}
	}
}

func TestScanAndPrune(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir)
	fill(t, j, 10) // minutes 0..9
	var got []uint64
	err := j.Scan(t0.Add(150*time.Second), t0.Add(5*time.Minute), func(e Entry) bool {
		got = append(got, e.Seq)
		return true
	})
	if err != nil || fmt.Sprint(got) != "[4 5 6]" {
		t.Errorf("Scan(2.5 min, 5 min) = %v, %v; want [4 5 6]", got, err)
	}
	imp, exp, _ := j.Energy(t0.Add(150*time.Second), t0.Add(9*time.Minute))
	n, err := j.Prune(t0.Add(150 * time.Second))
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want 2 (entries 1, 2; entry 3 at 2 min stays)", n, err)
	}
	if got := j.Len(); got != 8 {
		t.Errorf("Len after prune = %d, want 8", got)
	}
	if i2, e2, ok := j.Energy(t0.Add(150*time.Second), t0.Add(9*time.Minute)); !ok || i2 != imp || e2 != exp {
		t.Errorf("Energy after prune = %v, %v, %v; want %v, %v, true", i2, e2, ok, imp, exp)
	}
	if _, _, ok := j.Energy(t0.Add(time.Minute), t0.Add(9*time.Minute)); ok {
		t.Error("Energy over pruned time: ok = true")
	}
	if err := j.Verify(); err != nil {
		t.Errorf("Verify after prune: %v", err)
	}
	j.Close()
	j = openT(t, dir)
	defer j.Close()
	if err := j.Verify(); err != nil || j.Len() != 8 || j.Repaired() != 0 {
		t.Errorf("after reopen: Verify %v, Len %d, Repaired %d; want nil, 8, 0", err, j.Len(), j.Repaired())
	}
}

// TestOldMemtableLogOpens: a journal written with the old 4 MiB memtable
// and not closed (its directory copied while open, as a power cut leaves
// it) holds a memtable log of more entries than the current memtable's
// arena takes; OpenJournal replays it (flushOldLogs) and keeps every entry.
func TestOldMemtableLogOpens(t *testing.T) {
	dir, crashed := t.TempDir(), t.TempDir()
	db, err := badger.Open(badgerOptions(dir, oldMemTableSize))
	if err != nil {
		t.Fatal(err)
	}
	j := &Journal{db: db}
	if err := j.load(); err != nil {
		t.Fatal(err)
	}
	const n = 6000 // about 1 MB of log: four times the current memtable
	fill(t, j, n)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var logBytes int64
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(e.Name(), ".mem") {
			logBytes += int64(len(bytes.TrimRight(b, "\x00")))
		}
		if err := os.WriteFile(filepath.Join(crashed, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if logBytes <= 2*memTableSize {
		t.Fatalf("the copy's memtable logs hold %d bytes, want more than %d (else the test tests nothing)", logBytes, 2*memTableSize)
	}
	j = openT(t, crashed)
	defer j.Close()
	if got := j.Len(); got != n {
		t.Errorf("reopened with the current memtable: %d entries, want %d", got, n)
	}
	if err := j.Verify(); err != nil {
		t.Errorf("Verify: %v", err)
	}
	logs, _ := filepath.Glob(filepath.Join(crashed, "*.mem"))
	for _, l := range logs {
		if fi, err := os.Stat(l); err == nil && fi.Size() > 2*memTableSize {
			t.Errorf("%s: %d bytes after reopening, want the old log flushed and gone", l, fi.Size())
		}
	}
}
