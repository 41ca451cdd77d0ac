package sml

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gridmesh/gridmesh/meter"
)

// Real transmissions, copied from the tests of felixwrt/sml-rs (MIT OR
// Apache-2.0, Copyright Felix Kohlgrüber): iskra from src/transport.rs
// (test real_data, an ISKRA MT175), easymeter from the (disabled) easymeter
// test there: the third whole transmission of its EasyMeter Q3A stream.
const (
	iskraHex = "1B1B1B1B010101017605006345516200620072630101760101050021171B0B0A0149534B00047A5544726201650021155A620163828E00" +
		"760500634552620062007263070177010B0A0149534B00047A5544070100620AFFFF726201650021155A757707010060320101010101010449534B01" +
		"77070100600100FF010101010B0A0149534B00047A55440177070100010800FF650010010401621E52FF65000C13610177070100020800FF0101621E" +
		"52FF62000177070100100700FF0101621B5200530860010101638E71007605006345536200620072630201710163AD55001B1B1B1B1A00D54B"
	easymeterHex = "1B1B1B1B01010101760B4553594199A502EA9AF7620062007263010176010445535908455359DF6F9AF70B09014553591103B599A5010163620E00" +
		"760B4553594199A502EA9AF8620062007263070177010B09014553591103B599A5070100620AFFFF7262016500F8DF6F7E77078181C78203FF010101" +
		"01044553590177070100000009FF010101010B09014553591103B599A50177070100010800FF6400008001621E52FC5900000006D95B952E0177070100" +
		"020800FF6400008001621E52FC5900000000419BD4D30177070100100700FF0101621B52FE590000000000013C820177070100240700FF0101621B52FE" +
		"59000000000000C55B0177070100380700FF0101621B52FE5900000000000018AF01770701004C0700FF0101621B52FE590000000000005E7701770781" +
		"81C78205FF0101010183021A24687A277E98565E1093055BEE0F704E58FDAA3DD19D4FAF3EE067C164C30494DAE9EA1566ED727D236AAF5AB09A5B0177" +
		"070100000000FF010101010F31455359313136323233323939370177070100200700FF0101622352FF6309150177070100340700FF0101622352FF6309" +
		"030177070100480700FF0101622352FF6309150177078181C7F006FF010101010401071E0101016362BC00760B4553594199A502EA9AF9620062007263" +
		"02017101635BFB000000001B1B1B1B1A03F8B1"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeReal(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		tags []uint32
		want meter.Reading
	}{
		{"iskra", iskraHex, []uint32{TagOpenResponse, TagGetListResponse, TagCloseResponse}, meter.Reading{
			Import: 79_139, Export: 0, Power: 2144, Serial: "0a0149534b00047a5544"}},
		{"easymeter", easymeterHex, []uint32{TagOpenResponse, TagGetListResponse, TagCloseResponse}, meter.Reading{
			Import: 2_941_646, Export: 110_073, Power: 810, Serial: "1ESY1162232997", Flags: meter.PhasesValid,
			Phases: [3]meter.Phase{{Voltage: 232_500, Power: 505}, {Voltage: 230_700, Power: 63}, {Voltage: 232_500, Power: 241}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Decode(mustHex(t, tc.hex))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			var tags []uint32
			for _, m := range f.Messages {
				tags = append(tags, m.Tag)
			}
			if !slicesEqual(tags, tc.tags) {
				t.Errorf("message tags = %#x, want %#x", tags, tc.tags)
			}
			got, err := f.Reading()
			if err != nil {
				t.Fatalf("Reading: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Reading (-want +got):\n%s", diff)
			}
		})
	}
}

func slicesEqual(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecodeRejects(t *testing.T) {
	good := mustHex(t, iskraHex)
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x01; return b }
	// Recompute the transport CRC after changing a message byte, so that only
	// the message CRC catches it.
	reframe := func(b []byte) []byte {
		msgs, err := Unframe(good)
		if err != nil {
			t.Fatal(err)
		}
		msgs = bytes.Clone(msgs)
		copy(msgs, b)
		return Frame(msgs)
	}
	msgs, _ := Unframe(good)
	changed := bytes.Clone(msgs)
	changed[200] ^= 0x01 // inside the 1.8.0 value
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"flipped value byte", flip(210), ErrCRC},
		{"flipped crc", flip(len(good) - 1), ErrCRC},
		{"message crc", reframe(changed), ErrCRC},
		{"no start", good[4:], ErrFrame},
		{"truncated", good[:len(good)-4], ErrFrame},
		{"not aligned", good[:len(good)-1], ErrFrame},
		{"empty", nil, ErrFrame},
		{"bad escape", append(append(bytes.Clone(good[:8]), 0x1b, 0x1b, 0x1b, 0x1b, 0x02, 0, 0, 0), good[len(good)-8:]...), ErrFrame},
		{"no messages", Frame(nil), ErrSyntax},
		{"garbage messages", Frame([]byte{0x76, 0x01, 0x01}), ErrSyntax},
	}
	for _, tc := range tests {
		if _, err := Decode(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: Decode err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, h := range []string{iskraHex, easymeterHex} {
		good := mustHex(t, h)
		msgs, err := Unframe(good)
		if err != nil {
			t.Fatal(err)
		}
		if got := Frame(msgs); !bytes.Equal(got, good) {
			t.Errorf("Frame(Unframe(x)) differs from x:\n got %x\nwant %x", got, good)
		}
	}
	// Escaping: message bytes holding 1B1B1B1B at an aligned offset.
	payload := []byte{1, 2, 3, 4, 0x1b, 0x1b, 0x1b, 0x1b, 5}
	back, err := Unframe(Frame(payload))
	if err != nil || !bytes.Equal(back, payload) {
		t.Errorf("escaped payload: Unframe(Frame(p)) = %x, %v; want %x", back, err, payload)
	}
}

func TestCRC16(t *testing.T) {
	// CRC-16/X-25 check value.
	if got := CRC16([]byte("123456789")); got != 0x906e {
		t.Errorf("CRC16(123456789) = %#04x, want 0x906e", got)
	}
}

func TestScaled(t *testing.T) {
	tests := []struct {
		e     Entry
		extra int
		want  int64
	}{
		{Entry{Scaler: -1, Value: Node{Kind: Uint, Uint: 791393}}, 0, 79139},
		{Entry{Scaler: -2, Value: Node{Kind: Int, Int: -83389}}, 0, -833},
		{Entry{Scaler: -1, Value: Node{Kind: Uint, Uint: 2325}}, 3, 232_500},
		{Entry{Scaler: 2, Value: Node{Kind: Int, Int: 7}}, 0, 700},
		{Entry{Scaler: -100, Value: Node{Kind: Int, Int: 7}}, 0, 0},
	}
	for _, tc := range tests {
		got, err := tc.e.Scaled(tc.extra)
		if err != nil || got != tc.want {
			t.Errorf("Scaled(%+v, %d) = %d, %v; want %d", tc.e, tc.extra, got, err, tc.want)
		}
	}
	if _, err := (Entry{Scaler: 20, Value: Node{Kind: Int, Int: 7}}).Scaled(0); err == nil {
		t.Error("Scaled overflow: err = nil")
	}
	if _, err := (Entry{Value: Node{Kind: Octets}}).Scaled(0); err == nil {
		t.Error("Scaled of octets: err = nil")
	}
}

func TestNegativePower(t *testing.T) {
	// 16.7.0 as integer16 −1234 W: export.
	f, err := Decode(mustHex(t, strings.Replace(iskraHex, "621B5200530860", "621B520053FB2E", 1)))
	if err == nil {
		t.Fatal("changed bytes kept the CRCs valid")
	}
	msgs, _ := Unframe(mustHex(t, iskraHex))
	msgs = bytes.Replace(msgs, mustHex(t, "621B5200530860"), mustHex(t, "621B520053FB2E"), 1)
	msgs = fixMessageCRCs(t, msgs)
	f, err = Decode(Frame(msgs))
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Reading()
	if err != nil || r.Power != -1234 {
		t.Errorf("Reading power = %v, %v; want -1234 W", r.Power, err)
	}
}

// fixMessageCRCs recomputes every message's CRC (for tests that edit values).
func fixMessageCRCs(t *testing.T, msgs []byte) []byte {
	out := bytes.Clone(msgs)
	pos := 0
	for pos < len(out) {
		d := &dec{b: out[pos:], pos: 1}
		for range 4 {
			d.node(1)
		}
		if d.err != nil {
			t.Fatal(d.err)
		}
		crcStart := d.pos
		crc := CRC16(out[pos : pos+crcStart])
		out[pos+crcStart+1], out[pos+crcStart+2] = byte(crc), byte(crc>>8)
		pos += crcStart + 4
	}
	return out
}

func FuzzDecode(f *testing.F) {
	f.Add(mustHex(f, iskraHex))
	f.Add(mustHex(f, easymeterHex))
	f.Add(Frame([]byte{0x76, 0x01}))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Decode(b)
		if err != nil {
			return
		}
		_, _ = file.Reading()
		// A frame that decodes re-frames to itself.
		msgs, err := Unframe(b)
		if err != nil {
			t.Fatalf("Unframe after Decode: %v", err)
		}
		if got := Frame(msgs); !bytes.Equal(got, b) {
			t.Fatalf("Frame(Unframe(b)) = %x, want %x", got, b)
		}
	})
}

// FuzzDecodeMessages fuzzes the message layer directly (the transport CRC
// makes random frames rare).
func FuzzDecodeMessages(f *testing.F) {
	for _, h := range []string{iskraHex, easymeterHex} {
		msgs, err := Unframe(mustHex(f, h))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msgs)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := DecodeMessages(b)
		if err != nil {
			return
		}
		_, _, _ = file.Entries()
		_, _ = file.Reading()
	})
}

// FuzzNode fuzzes the TL decoder below the message CRC.
func FuzzNode(f *testing.F) {
	f.Add([]byte{0x77, 0x07, 0x01, 0x00, 0x01, 0x08, 0x00, 0xff, 0x01, 0x01, 0x62, 0x1e, 0x52, 0xff, 0x65, 0, 0x0c, 0x13, 0x61, 0x01})
	f.Add([]byte{0x83, 0x02, 0x1a})
	f.Add([]byte{0xf1, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := &dec{b: b}
		n := d.node(0)
		if d.err == nil && (d.pos > len(b) || d.pos <= 0) {
			t.Fatalf("consumed %d of %d bytes", d.pos, len(b))
		}
		_ = n
	})
}
