package meter

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestEntryRoundTrip(t *testing.T) {
	tests := []Entry{
		{Seq: 1, Reading: Reading{Time: t0}},
		{Seq: 1 << 40, Prev: [32]byte{1, 2, 3}, Reading: Reading{
			Time: t0.Add(123456789), Import: 1 << 50, Export: 7, Power: -4200,
			Serial: "ESMR5 123", Flags: MeterTime | PhasesValid,
			Phases: [3]Phase{{Voltage: 231_000, Current: -1_200, Power: -300}, {}, {Voltage: 1}},
		}},
	}
	for _, e := range tests {
		b, err := e.Encode()
		if err != nil {
			t.Fatalf("Encode(%+v): %v", e, err)
		}
		got, err := DecodeEntry(b)
		if err != nil {
			t.Fatalf("DecodeEntry: %v", err)
		}
		if !got.Reading.Time.Equal(e.Reading.Time) {
			t.Errorf("time = %v, want %v", got.Reading.Time, e.Reading.Time)
		}
		got.Reading.Time = e.Reading.Time
		if got != e {
			t.Errorf("round trip = %+v, want %+v", got, e)
		}
	}
}

func TestDecodeEntryRejects(t *testing.T) {
	good, err := Entry{Seq: 5, Reading: Reading{Time: t0, Import: 10, Serial: "x",
		Phases: [3]Phase{{Voltage: 230_000}}}}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeEntry(good); err != nil {
		t.Fatalf("good entry: %v", err)
	}
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := map[string][]byte{
		"empty":         {},
		"version":       mod(func(b []byte) []byte { b[0] = 2; return b }),
		"trailing":      append(bytes.Clone(good), 0),
		"short":         good[:len(good)-1],
		"non-minimal":   append([]byte{1, 0x85, 0x00}, good[2:]...), // seq 5 as two bytes
		"phase count 4": mod(func(b []byte) []byte { b[len(b)-4] = 4; return b }),
		"zero phase":    append(append(bytes.Clone(good[:len(good)-4]), 1), 0, 0, 0),
	}
	for name, b := range tests {
		if _, err := DecodeEntry(b); !errors.Is(err, ErrEncoding) {
			t.Errorf("%s: DecodeEntry err = %v, want ErrEncoding", name, err)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	for _, e := range []Entry{
		{Seq: 1, Reading: Reading{Time: t0}},
		{Seq: 99, Prev: [32]byte{9}, Reading: Reading{Time: t0.Add(time.Hour), Import: 5, Export: 6,
			Power: -7, Serial: "abc", Flags: Simulated, Phases: [3]Phase{{1, 2, 3}, {4, 5, 6}}}},
	} {
		b, err := e.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			return
		}
		// Canonical: what decodes re-encodes to the same bytes.
		b2, err := e.Encode()
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", b2, b)
		}
	})
}
