package wire

import (
	"bytes"
	"slices"
	"testing"
)

func FuzzDecodeSnapRequest(f *testing.F) {
	f.Add(EncodeSnapRequest(SnapRequest{Kind: SnapOffer}))
	f.Add(EncodeSnapRequest(SnapRequest{Kind: SnapManifest, Height: 7, Arg: 1 << 20}))
	f.Add(EncodeSnapRequest(SnapRequest{Kind: SnapValues, Height: 7, Arg: 4096, Count: 4096}))
	f.Add([]byte{3})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeSnapRequest(b)
		if err != nil {
			return
		}
		if got := EncodeSnapRequest(r); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func TestDecodeSnapRequestRefuses(t *testing.T) {
	for _, r := range []SnapRequest{
		{Kind: SnapOffer, Height: 1},
		{Kind: SnapValues, Height: 1, Count: 0},
		{Kind: SnapValues, Height: 1, Count: MaxSnapValues + 1},
		{Kind: SnapManifest, Height: 1, Count: 1},
		{Kind: 3},
	} {
		if _, err := DecodeSnapRequest(EncodeSnapRequest(r)); err == nil {
			t.Errorf("%+v decoded, want an error", r)
		}
	}
}

func FuzzDecodeSnapOffer(f *testing.F) {
	f.Add(EncodeSnapOffer(7, 100, EncodeCertified([]byte("x"), nil)))
	f.Add(NotHeld())
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, KindBlock})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, held, err := DecodeSnapOffer(b)
		if err != nil {
			return
		}
		want := NotHeld()
		if held {
			want = EncodeSnapOffer(a.Height, a.ManifestLen, EncodeCertified(a.Block.Raw, a.Block.Cert))
		}
		if !bytes.Equal(want, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", want, b)
		}
	})
}

func FuzzDecodeSnapPiece(f *testing.F) {
	f.Add(EncodeSnapPiece([]byte("manifest")))
	f.Add(NotHeld())
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, held, err := DecodeSnapPiece(b)
		if err != nil {
			return
		}
		want := NotHeld()
		if held {
			want = EncodeSnapPiece(p)
		}
		if !bytes.Equal(want, b) || len(p) > MaxSnapPiece {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", want, b)
		}
	})
}

// FuzzDecodeSnapValues: what decodes holds 1 .. MaxSnapValues values that
// encode and decode back to themselves (zstd's frames have several
// encodings, so the bytes need not match).
func FuzzDecodeSnapValues(f *testing.F) {
	f.Add(EncodeSnapValues([][]byte{[]byte(`{"a":1}`), []byte("2")}))
	f.Add(EncodeSnapValues([][]byte{bytes.Repeat([]byte("x"), 10_000)}))
	f.Add(NotHeld())
	f.Add([]byte{0, 0x28, 0xb5, 0x2f, 0xfd})
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, held, err := DecodeSnapValues(b)
		if err != nil || !held {
			return
		}
		if len(vals) == 0 || len(vals) > MaxSnapValues {
			t.Fatalf("%d values", len(vals))
		}
		back, _, err := DecodeSnapValues(EncodeSnapValues(vals))
		if err != nil || !slices.EqualFunc(back, vals, bytes.Equal) {
			t.Fatalf("values do not round-trip: %v", err)
		}
	})
}
