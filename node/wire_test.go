package node

import (
	"bytes"
	"testing"
)

// The wire decoders take bytes from any peer: they must never panic, and what they
// accept must re-encode to the same bytes.
func FuzzDecodeCertified(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{kindBlock, 0, 0})
	f.Add(encodeCertified([]byte("not a block"), encodeCert(nil)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || b[0] != kindBlock {
			return
		}
		c, err := decodeCertifiedBody(b[1:])
		if err != nil {
			return
		}
		if got := encodeCertified(c.Raw, c.Cert); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func FuzzDecodeCert(f *testing.F) {
	f.Add(encodeCert(nil))
	f.Add([]byte{1, 3, 1, 2, 3})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		votes, err := decodeCert(b)
		if err != nil {
			return
		}
		if got := encodeCert(votes); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func FuzzDecodeSyncResponse(f *testing.F) {
	f.Add(encodeSyncResponse(nil))
	f.Add(encodeSyncResponse([][]byte{encodeCertified([]byte("x"), nil)}))
	f.Add([]byte{2, 1, kindBlock})
	f.Fuzz(func(t *testing.T, b []byte) {
		blocks, err := decodeSyncResponse(b)
		if err != nil {
			return
		}
		items := make([][]byte, len(blocks))
		for i, c := range blocks {
			items[i] = encodeCertified(c.Raw, c.Cert)
		}
		if got := encodeSyncResponse(items); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func TestSyncRequest(t *testing.T) {
	for _, h := range []uint64{0, 1, 1 << 40} {
		got, err := decodeSyncRequest(encodeSyncRequest(h))
		if err != nil || got != h {
			t.Errorf("round trip of %d: got %d, %v", h, got, err)
		}
	}
	if _, err := decodeSyncRequest([]byte{1, 2, 3}); err == nil {
		t.Error("a 3-byte sync request was accepted; want an error")
	}
}
