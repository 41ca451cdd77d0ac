package p2p

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

func testKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	s[1] = 0x5a
	return ed25519.NewKeyFromSeed(s)
}

func signedEnvelope(t testing.TB, key ed25519.PrivateKey, network string, expiry int64, payload []byte) []byte {
	t.Helper()
	e := Envelope{Network: network, Expiry: expiry, Payload: payload}
	e.Sign(key)
	b, err := e.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return b
}

func TestEnvelopeRoundTrip(t *testing.T) {
	key := testKey(1)
	b := signedEnvelope(t, key, "testnet", 1_700_000_000_000, []byte("hello"))
	e, err := DecodeEnvelope(b, 100)
	if err != nil {
		t.Fatalf("DecodeEnvelope: %v", err)
	}
	if !e.Verify() {
		t.Fatalf("Verify = false, want true")
	}
	if got, want := e.Network, "testnet"; got != want {
		t.Errorf("Network = %q, want %q", got, want)
	}
	if got, want := e.Expiry, int64(1_700_000_000_000); got != want {
		t.Errorf("Expiry = %d, want %d", got, want)
	}
	if got, want := string(e.Payload), "hello"; got != want {
		t.Errorf("Payload = %q, want %q", got, want)
	}
	if !e.From.Equal(key.Public()) {
		t.Errorf("From = %x, want %x", e.From, key.Public())
	}
	again, err := e.Marshal()
	if err != nil || !bytes.Equal(again, b) {
		t.Errorf("re-Marshal = %x, %v; want %x", again, err, b)
	}
}

func TestEnvelopeSignatureCoversEveryField(t *testing.T) {
	key := testKey(1)
	b := signedEnvelope(t, key, "testnet", 1000, []byte("pay"))
	// Flip each byte before the signature except the version; the envelope must
	// either fail to decode or fail to verify.
	for i := 1; i < len(b)-ed25519.SignatureSize; i++ {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		e, err := DecodeEnvelope(c, 100)
		if err == nil && e.Verify() {
			t.Errorf("flipping byte %d: envelope still verifies", i)
		}
	}
	other := Envelope{Network: "testnet", Expiry: 1000, Payload: []byte("pay")}
	other.Sign(testKey(2))
	e, _ := DecodeEnvelope(b, 100)
	e.From = other.From
	if e.Verify() {
		t.Errorf("envelope with another key as From verifies")
	}
}

func TestDecodeEnvelopeRejects(t *testing.T) {
	key := testKey(1)
	good := signedEnvelope(t, key, "net", 5, []byte("abcdef"))
	tests := []struct {
		name    string
		b       []byte
		max     int
		wantErr error
	}{
		{"empty", nil, 100, ErrEnvelopeMalformed},
		{"bad version", append([]byte{2}, good[1:]...), 100, ErrEnvelopeMalformed},
		{"trailing byte", append(bytes.Clone(good), 0), 100, ErrEnvelopeMalformed},
		{"truncated sig", good[:len(good)-1], 100, ErrEnvelopeMalformed},
		{"payload over limit", good, 5, ErrEnvelopeTooLarge},
		{"whole too large", make([]byte, envelopeOverhead+MaxNetworkLen+11), 10, ErrEnvelopeTooLarge},
		{"non-minimal network length", func() []byte {
			c := append([]byte{}, good[:33]...)
			c = append(c, 0x83, 0x00) // 3 encoded in two bytes
			return append(c, good[34:]...)
		}(), 100, ErrEnvelopeMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeEnvelope(tt.b, tt.max)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("DecodeEnvelope err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if _, err := DecodeEnvelope(good, 6); err != nil {
		t.Errorf("payload exactly at limit: err = %v, want nil", err)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	key := testKey(3)
	f.Add(signedEnvelope(f, key, "net", 5, []byte("abc")))
	f.Add(signedEnvelope(f, key, "", -1, nil))
	f.Add(signedEnvelope(f, key, "gridmesh-test", 1<<62, bytes.Repeat([]byte{7}, 200)))
	f.Add([]byte{1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnvelope(b, 256)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to exactly the same bytes (the encoding is canonical).
		again, err := e.Marshal()
		if err != nil {
			t.Fatalf("decoded envelope does not marshal: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b)
		}
		if len(e.Payload) > 256 || len(e.Network) > MaxNetworkLen {
			t.Fatalf("limits not enforced: payload %d network %d", len(e.Payload), len(e.Network))
		}
		_ = e.Verify()
	})
}
