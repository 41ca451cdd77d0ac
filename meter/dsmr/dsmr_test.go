package dsmr

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridmesh/gridmesh/meter"
)

// The telegrams in testdata/ are the example telegrams of ndokter/dsmr_parser
// (test/example_telegrams.py, MIT licence, Copyright (c) 2016 Nigel Dokter),
// written out byte for byte with CRLF line ends. From the two EasyMeter
// telegrams the two lines that the COM-1 Ethernet gateway appends after the
// "!" are left out. sagemcom_t210_d_r is the meter of Luxembourg's Smarty
// programme.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + ".txt")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var fixtures = []string{"v2_2", "v3", "v4_2", "v5", "easymeter_q3da", "easymeter_q3db", "sagemcom_t210_d_r"}

func TestParseFixtures(t *testing.T) {
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name    string
		header  string
		version string
		crc     bool
		objects int
		want    meter.Reading
	}{
		{"v2_2", `ISk5\2MT382-1004`, "", false, 16, meter.Reading{
			Import: 2002, Export: 2002, Power: 1010, Serial: "00000000000000"}},
		{"v3", `ISk5\2MT382-1000`, "", false, 16, meter.Reading{
			Import: 24_691_356, Export: 24_691_356, Power: 1190, Serial: "K8EG004046395507"}},
		{"v4_2", "KFM5KAIFA-METER", "42", true, 33, meter.Reading{
			Time: utc("2016-11-13 19:57:57"), Import: 3_016_829, Export: 0, Power: 2027,
			Serial: "3960221976967177082151037881335713", Flags: meter.PhasesValid | meter.MeterTime,
			Phases: [3]meter.Phase{{Current: 0, Power: 170}, {Current: 6000, Power: 1247}, {Current: 2000, Power: 209}}}},
		{"v5", `ISk5\2MT382-1000`, "50", true, 37, meter.Reading{
			Time: utc("2017-01-02 18:20:02"), Import: 6825, Export: 2444, Power: 244,
			Serial: "K8EG004046395507", Flags: meter.PhasesValid | meter.MeterTime,
			Phases: [3]meter.Phase{{Voltage: 230_000, Current: 480, Power: 70}, {Voltage: 230_000, Current: 440, Power: 32}, {Voltage: 229_000, Current: 860, Power: 142}}}},
		{"easymeter_q3da", "ESY5Q3DA1004 V3.04", "", false, 8, meter.Reading{
			Import: 32_549_506, Power: 1688, Serial: "1ESY1336001560", Flags: meter.NoExport | meter.PhasesValid,
			Phases: [3]meter.Phase{{Power: 557}, {Power: 521}, {Power: 609}}}},
		{"easymeter_q3db", "ESY5Q3DB1024 V3.04", "", false, 9, meter.Reading{
			Import: 52_185_782, Export: 19_949_322, Power: 2124, Serial: "1ESY1313002565", Flags: meter.PhasesValid,
			Phases: [3]meter.Phase{{Power: 747}, {Power: 737}, {Power: 639}}}},
		{"sagemcom_t210_d_r", `EST5\253710000_A`, "50", true, 18, meter.Reading{
			Time: utc("2022-10-06 13:50:14"), Import: 6_545_766, Export: 58, Power: 286, Flags: meter.MeterTime}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := Parse(fixture(t, tc.name))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tg.Header != tc.header || tg.Version() != tc.version || tg.CRC != tc.crc || len(tg.Objects) != tc.objects {
				t.Errorf("header %q version %q crc %v objects %d; want %q %q %v %d",
					tg.Header, tg.Version(), tg.CRC, len(tg.Objects), tc.header, tc.version, tc.crc, tc.objects)
			}
			got, err := tg.Reading()
			if err != nil {
				t.Fatalf("Reading: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Reading (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseGasContinuation(t *testing.T) {
	tg, err := Parse(fixture(t, "v2_2"))
	if err != nil {
		t.Fatal(err)
	}
	o, ok := tg.Get("0-1:24.3.0")
	if !ok || len(o.Values) != 7 || o.Values[6].Raw != "00001.001" || o.Values[5].Raw != "m3" {
		t.Errorf("gas object = %+v, want 7 values ending (m3)(00001.001)", o)
	}
}

func TestParseRejects(t *testing.T) {
	v5 := string(fixture(t, "v5"))
	v42 := string(fixture(t, "v4_2"))
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"flipped digit", strings.Replace(v42, "001581.123", "001581.124", 1), ErrCRC},
		{"wrong crc", strings.Replace(v5, "!6EEE", "!6EEF", 1), ErrCRC},
		{"dropped line", strings.Replace(v5, "1-0:1.8.1(000004.426*kWh)\r\n", "", 1), ErrCRC},
		{"dsmr 5 without crc", strings.Replace(v5, "!6EEE", "!", 1), ErrSyntax},
		{"bad crc digits", strings.Replace(v5, "!6EEE", "!6EEG", 1), ErrSyntax},
		{"long trailer", strings.Replace(v5, "!6EEE", "!6EEE0", 1), ErrSyntax},
		{"no trailer", v5[:len(v5)-8], ErrSyntax},
		{"no slash", v5[1:], ErrSyntax},
		{"empty", "", ErrSyntax},
		{"bad obis", "/X\r\n\r\n1-0:1.8(1*kWh)\r\n!\r\n", ErrSyntax},
		{"obis > 255", "/X\r\n\r\n1-0:1.8.256(1*kWh)\r\n!\r\n", ErrSyntax},
		{"unclosed", "/X\r\n\r\n1-0:1.8.0(1*kWh\r\n!\r\n", ErrSyntax},
		{"no value", "/X\r\n\r\n1-0:1.8.0\r\n!\r\n", ErrSyntax},
		{"junk after values", "/X\r\n\r\n1-0:1.8.0(1)x\r\n!\r\n", ErrSyntax},
		{"control char", "/X\r\n\r\n1-0:1.8.0(1\x00)\r\n!\r\n", ErrSyntax},
		{"empty line", "/X\r\n\r\n1-0:1.8.0(1)\r\n\r\n!\r\n", ErrSyntax},
		{"bang mid line", "/X\r\n\r\n1-0:1.8.0(1)!\r\n", ErrSyntax},
		{"too big", "/X\r\n\r\n" + strings.Repeat("1-0:1.8.0(1)\r\n", MaxSize/14+1) + "!\r\n", ErrSyntax},
	}
	for _, tc := range tests {
		if _, err := Parse([]byte(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("%s: Parse err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestReadingErrors(t *testing.T) {
	tests := map[string]string{
		"no import":     "/X\r\n\r\n1-0:2.8.0(1*kWh)\r\n!\r\n",
		"wrong unit":    "/X\r\n\r\n1-0:1.8.0(1*m3)\r\n!\r\n",
		"bad number":    "/X\r\n\r\n1-0:1.8.0(1.2.3*kWh)\r\n!\r\n",
		"two values":    "/X\r\n\r\n1-0:1.8.0(1*kWh)(2*kWh)\r\n!\r\n",
		"overflow":      "/X\r\n\r\n1-0:1.8.0(99999999999999999*kWh)\r\n!\r\n",
		"power unit":    "/X\r\n\r\n1-0:1.8.0(1*kWh)\r\n1-0:1.7.0(1*kWh)\r\n!\r\n",
		"trailing dot":  "/X\r\n\r\n1-0:1.8.0(1.*kWh)\r\n!\r\n",
		"voltage words": "/X\r\n\r\n1-0:1.8.0(1*kWh)\r\n1-0:32.7.0(abc*V)\r\n!\r\n",
	}
	for name, in := range tests {
		tg, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("%s: Parse: %v", name, err)
		}
		if r, err := tg.Reading(); err == nil {
			t.Errorf("%s: Reading = %+v, want an error", name, r)
		}
	}
}

func TestValueInt(t *testing.T) {
	tests := []struct {
		v      Value
		target string
		want   int64
	}{
		{Value{"001581.123", "kWh"}, "Wh", 1_581_123},
		{Value{"00032549.5061662", "kWh"}, "Wh", 32_549_506},
		{Value{"000000286", "Wh"}, "Wh", 286},
		{Value{"02.027", "kW"}, "W", 2027},
		{Value{"000557.29", "W"}, "W", 557},
		{Value{"0.48", "A"}, "mA", 480},
		{Value{"0229.0", "V"}, "mV", 229_000},
		{Value{"-1.5", "kW"}, "W", -1500},
		{Value{"7", ""}, "Wh", 7000},
		{Value{"0", "kWh"}, "Wh", 0},
	}
	for _, tc := range tests {
		got, err := tc.v.Int(tc.target)
		if err != nil || got != tc.want {
			t.Errorf("%+v.Int(%s) = %d, %v; want %d", tc.v, tc.target, got, err, tc.want)
		}
	}
}

func TestScanTelegrams(t *testing.T) {
	v42, v5 := fixture(t, "v4_2"), fixture(t, "v5")
	var stream bytes.Buffer
	stream.WriteString("\x00\xffnoise")
	stream.Write(v5[10:]) // the tail of a telegram we joined in the middle of
	stream.Write(v42)
	stream.WriteString("\r\n")
	stream.Write(v5)
	stream.Write(v42[:50]) // cut off
	sc := bufio.NewScanner(&stream)
	sc.Buffer(make([]byte, 0, 4096), MaxSize+64)
	sc.Split(ScanTelegrams)
	var got [][]byte
	for sc.Scan() {
		got = append(got, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[0], v42) || !bytes.Equal(got[1], v5) {
		t.Fatalf("scanned %d telegrams %q, want v4_2 and v5", len(got), got)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, name := range fixtures {
		tg, err := Parse(fixture(t, name))
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(tg.Encode())
		if err != nil {
			t.Fatalf("%s: Parse(Encode): %v", name, err)
		}
		if diff := cmp.Diff(tg, back); diff != "" {
			t.Errorf("%s: round trip (-want +got):\n%s", name, diff)
		}
	}
	// A telegram with CRC re-encodes byte for byte.
	if v42 := fixture(t, "v4_2"); !bytes.Equal(mustParse(t, v42).Encode(), v42) {
		t.Error("v4_2 does not re-encode byte for byte")
	}
}

func mustParse(t *testing.T, b []byte) Telegram {
	tg, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func FuzzParse(f *testing.F) {
	for _, name := range fixtures {
		f.Add(fixture(f, name))
	}
	f.Add([]byte("/X\r\n\r\n1-0:1.8.0(1*kWh)\r\n(2)\r\n!\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tg, err := Parse(b)
		if err != nil {
			return
		}
		_, _ = tg.Reading()
		_, _ = tg.Time()
		back, err := Parse(tg.Encode())
		if err != nil {
			t.Fatalf("Parse(Encode(t)) failed: %v\n%q", err, tg.Encode())
		}
		if diff := cmp.Diff(tg, back); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}
