package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestServerHeldReleases: a home that kept v1.1.0 and has v1.2.0 on trial
// serves both: without a pin the highest, with a manifest's hash that
// release; a binary damaged on the card is not served; the counts say what
// was answered and refused.
func TestServerHeldReleases(t *testing.T) {
	pub, priv := newKey(t)
	dir := t.TempDir()
	r1 := writeRelease(t, filepath.Join(dir, "r1"), priv, "v1.1.0", []byte("binary one"), testNow, nil)
	r2 := writeRelease(t, filepath.Join(dir, "r2"), priv, "v1.2.0", []byte("binary two"), testNow, nil)
	s := Slots{Dir: filepath.Join(dir, "slots")}
	must(s.Apply(context.Background(), must(NewSource(r1.dir, nil)), testOptions(pub)))
	must(s.Launch("v1.0.0", testNow))
	must(s.Commit(SlotA))
	must(s.Apply(context.Background(), must(NewSource(r2.dir, nil)), testOptions(pub)))
	srv := NewServer(s, testPlatform, 0)
	ask := func(req string) (string, error) {
		b, err := srv.Handle(context.Background(), []byte(req))
		return string(b), err
	}
	m1 := must(os.ReadFile(filepath.Join(r1.dir, "manifest.json")))
	m2 := must(os.ReadFile(filepath.Join(r2.dir, "manifest.json")))
	h1 := sha256.Sum256(m1)
	pin1 := hex.EncodeToString(h1[:])

	for _, tc := range []struct{ req, want string }{
		{"manifest.json 0", string(m2)},
		{"gridmesh-v1.2.0 0", "binary two"},
		{pin1 + "/manifest.json 0", string(m1)},
		{pin1 + "/gridmesh-v1.1.0 7", "one"},
		{pin1 + "/gridmesh-v1.1.0 100", ""},
	} {
		if got, err := ask(tc.req); err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.req, got, err, tc.want)
		}
	}
	for _, req := range []string{
		pin1 + "/gridmesh-v1.2.0 0", // not that release's binary
		"0000000000000000000000000000000000000000000000000000000000000000/manifest.json 0",
		"state.json 0",
	} {
		if _, err := ask(req); !errors.Is(err, ErrNotHeld) {
			t.Errorf("%q: got %v, want ErrNotHeld", req, err)
		}
	}
	// Bit rot in slot a: v1.1.0's binary is no longer served.
	if err := os.WriteFile(s.Binary(SlotA), []byte("binary 0ne"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ask(pin1 + "/gridmesh-v1.1.0 0"); !errors.Is(err, ErrNotHeld) {
		t.Errorf("a damaged binary: got %v, want ErrNotHeld", err)
	}
	if _, err := ask("manifest.json  0"); err == nil {
		t.Error("a malformed request was answered")
	}
	got, want := srv.Stats(), ServerStats{Served: 5, Bytes: int64(len(m1) + len(m2) + len("binary two") + len("one")), NotHeld: 4, Malformed: 1}
	if got != want {
		t.Errorf("stats: got %+v, want %+v", got, want)
	}

	// A rolled-back version is not served.
	must(s.Launch("v1.0.0", testNow))
	if err := s.Fail(SlotB, testNow, "test"); err != nil {
		t.Fatal(err)
	}
	if got, err := ask("manifest.json 0"); err != nil || got != string(m1) {
		t.Errorf("after v1.2.0 was rolled back: got %.40q, %v; want v1.1.0's manifest", got, err)
	}
}

// TestServerBusy: beyond MaxStreams requests at once, a Server says so
// instead of reading.
func TestServerBusy(t *testing.T) {
	srv := NewServer(Slots{Dir: t.TempDir()}, testPlatform, 1)
	srv.sem <- struct{}{} // one request being answered
	if _, err := srv.Handle(context.Background(), []byte("manifest.json 0")); !errors.Is(err, ErrServerBusy) {
		t.Errorf("got %v, want ErrServerBusy", err)
	}
	<-srv.sem
	if _, err := srv.Handle(context.Background(), []byte("manifest.json 0")); !errors.Is(err, ErrNotHeld) {
		t.Errorf("got %v, want ErrNotHeld (nothing installed)", err)
	}
	if got := srv.Stats(); got.Busy != 1 || got.NotHeld != 1 {
		t.Errorf("stats: got %+v, want 1 busy, 1 not held", got)
	}
}

// FuzzParsePeerRequest: the request decoder never panics, and what it
// accepts re-encodes to the same bytes.
func FuzzParsePeerRequest(f *testing.F) {
	f.Add([]byte("manifest.json 0"))
	f.Add([]byte("gridmesh-linux-arm64 1048576"))
	f.Add([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/manifest.json.minisig 0"))
	f.Add([]byte("../state.json 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		release, file, offset, err := parsePeerRequest(b)
		if err != nil {
			return
		}
		enc := file + " " + itoa(offset)
		if release != "" {
			enc = release + "/" + enc
		}
		if enc != string(b) {
			t.Errorf("%q decoded as (%q, %q, %d), which encodes as %q", b, release, file, offset, enc)
		}
	})
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
