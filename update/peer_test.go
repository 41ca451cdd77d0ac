package update

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// servedBy is a Requester that asks s directly, as p2p.Host.Request would
// across a stream; tamper, if not nil, changes each response, and the liar
// it makes answers a request pinned to any release (a tampered manifest has
// a hash s does not know) with s's highest one; tamper sees the request
// without the pin.
func servedBy(s *Server, tamper func(req, resp []byte) []byte) Requester {
	return func(ctx context.Context, req []byte, maxResp int) ([]byte, error) {
		if tamper != nil {
			if pin, rest, ok := bytes.Cut(req, []byte("/")); ok && len(pin) == 64 {
				req = rest
			}
		}
		resp, err := s.Handle(ctx, req)
		if err != nil {
			return nil, err
		}
		if tamper != nil {
			resp = tamper(req, resp)
		}
		if len(resp) > maxResp {
			return nil, errors.New("response too large")
		}
		return resp, nil
	}
}

// TestPeerDelivery: a home that runs v1.1.0 serves it; another home with no
// route to the download server takes it from the first, checked the same
// way; a peer that changes a byte of the binary or of the manifest is
// refused.
func TestPeerDelivery(t *testing.T) {
	pub, priv := newKey(t)
	dir := t.TempDir()
	bin := bytes.Repeat([]byte("gridmesh v1.1.0 "), (5*PeerChunk)/2/16) // 2.5 chunks
	rel := writeRelease(t, filepath.Join(dir, "r"), priv, "v1.1.0", bin, testNow, nil)

	first := Slots{Dir: filepath.Join(dir, "first")}
	srv := NewServer(first, testPlatform, 0)
	if _, err := srv.Handle(context.Background(), []byte("manifest.json 0")); !errors.Is(err, ErrNotHeld) {
		t.Errorf("a home that never updated serves %v, want ErrNotHeld", err)
	}
	must(first.Apply(context.Background(), must(NewSource(rel.dir, nil)), testOptions(pub)))
	must(first.Launch("v1.0.0", testNow))
	must(first.Commit(SlotA))

	second := Slots{Dir: filepath.Join(dir, "second")}
	src := NewPeerSource("first", servedBy(srv, nil))
	p, err := second.Apply(context.Background(), src, testOptions(pub))
	if err != nil {
		t.Fatalf("apply from the peer: %v", err)
	}
	if got := must(os.ReadFile(second.Binary(p.Slot))); !bytes.Equal(got, bin) {
		t.Errorf("the binary from the peer differs (%d bytes, want %d)", len(got), len(bin))
	}

	for _, tc := range []struct {
		name   string
		tamper func(req, resp []byte) []byte
		want   error
	}{
		{"binary byte changed", func(req, resp []byte) []byte {
			if strings.HasPrefix(string(req), "gridmesh-") && len(resp) > 10 {
				resp = append([]byte(nil), resp...)
				resp[10] ^= 1
			}
			return resp
		}, ErrBadBinary},
		{"binary cut short", func(req, resp []byte) []byte {
			if strings.HasPrefix(string(req), "gridmesh-") && !strings.HasSuffix(string(req), " 0") {
				return nil
			}
			return resp
		}, ErrTruncated},
		{"manifest changed", func(req, resp []byte) []byte {
			if string(req) == "manifest.json 0" {
				return bytes.Replace(resp, []byte(`"size": `), []byte(`"size":  `), 1)
			}
			return resp
		}, ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			third := Slots{Dir: filepath.Join(t.TempDir(), "third")}
			_, err := third.Apply(context.Background(), NewPeerSource("liar", servedBy(srv, tc.tamper)), testOptions(pub))
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if third.Exists() || fileExists(third.Binary(SlotA)) {
				t.Error("a refused release from a peer left a state file or a binary")
			}
		})
	}
}

func TestServerRefuses(t *testing.T) {
	pub, priv := newKey(t)
	dir := t.TempDir()
	rel := writeRelease(t, filepath.Join(dir, "r"), priv, "v1.1.0", []byte("bin"), testNow, nil)
	s := Slots{Dir: filepath.Join(dir, "slots")}
	must(s.Apply(context.Background(), must(NewSource(rel.dir, nil)), testOptions(pub)))
	must(s.Launch("v1.0.0", testNow))
	must(s.Commit(SlotA))
	srv := NewServer(s, testPlatform, 0)
	if b, err := srv.Handle(context.Background(), []byte("gridmesh-v1.1.0 1")); err != nil || string(b) != "in" {
		t.Errorf("binary from offset 1: %q, %v", b, err)
	}
	for _, req := range []string{"state.json 0", "gridmesh 0", "../slots/state.json 0", "manifest.json -1", "manifest.json 01", "manifest.json", "manifest.json 0 0", strings.Repeat("a", MaxPeerRequest) + " 0"} {
		if _, err := srv.Handle(context.Background(), []byte(req)); err == nil {
			t.Errorf("request %q was answered", req)
		}
	}
	// Another platform's binary is not served (this home holds only its own).
	other := NewServer(s, "linux/riscv64", 0)
	if _, err := other.Handle(context.Background(), []byte("gridmesh-v1.1.0 0")); !errors.Is(err, ErrNotHeld) {
		t.Errorf("other platform: %v", err)
	}
}
