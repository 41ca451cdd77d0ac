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
	f.Add(encodeSyncResponse(0, false, nil))
	f.Add(encodeSyncResponse(7, true, nil))
	f.Add(encodeSyncResponse(9, false, [][]byte{encodeCertified([]byte("x"), nil)}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 1, kindBlock})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeSyncResponse(b)
		if err != nil {
			return
		}
		if a.busy && len(a.blocks) > 0 {
			t.Fatalf("a busy answer decoded with %d blocks", len(a.blocks))
		}
		items := make([][]byte, len(a.blocks))
		for i, c := range a.blocks {
			items[i] = encodeCertified(c.Raw, c.Cert)
		}
		if got := encodeSyncResponse(a.head, a.busy, items); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func FuzzDecodeSyncRequest(f *testing.F) {
	f.Add(encodeSyncRequest(1, 0))
	f.Add(encodeSyncRequest(1<<40, syncLastResort))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, flags, err := decodeSyncRequest(b)
		if err != nil {
			return
		}
		if got := encodeSyncRequest(h, flags); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

func TestSyncRequest(t *testing.T) {
	for _, h := range []uint64{0, 1, 1 << 40} {
		for _, fl := range []byte{0, syncLastResort} {
			got, gotFlags, err := decodeSyncRequest(encodeSyncRequest(h, fl))
			if err != nil || got != h || gotFlags != fl {
				t.Errorf("round trip of (%d, %d): got (%d, %d), %v", h, fl, got, gotFlags, err)
			}
		}
	}
	for _, bad := range [][]byte{{1, 2, 3}, encodeSyncRequest(1, 0)[:8], append(encodeSyncRequest(1, 0)[:8], 2)} {
		if _, _, err := decodeSyncRequest(bad); err == nil {
			t.Errorf("sync request %x was accepted; want an error", bad)
		}
	}
}
