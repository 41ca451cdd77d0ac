package p2p

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"
)

// TestRequestFirst: a host of the next release serves "sum/2" and "sum/1"
// and asks for "sum/2" first; with a peer of the previous release, which
// serves only "sum/1", the stream falls back to "sum/1" and the request is
// built in that version's form; with a peer of its own release it speaks
// "sum/2". Speaks tells the same from the peers' announcements.
func TestRequestFirst(t *testing.T) {
	old := newTestHost(t, 1, nil)
	cur := newTestHost(t, 2, nil)
	me := newTestHost(t, 3, nil)
	v1 := func(_ context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
		return append([]byte("v1:"), req...), nil
	}
	v2 := func(_ context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
		return append([]byte("v2:"), req...), nil
	}
	old.Handle("sum/1", 16, v1)
	cur.Handle("sum/2", 16, v2)
	cur.Handle("sum/1", 16, v1)
	connect(t, me, old)
	connect(t, me, cur)
	protos := []string{"sum/2", "sum/1"}
	build := func(proto string) []byte { return []byte("req-" + proto) }
	for _, c := range []struct {
		peer        *Host
		proto, resp string
	}{{old, "sum/1", "v1:req-sum/1"}, {cur, "sum/2", "v2:req-sum/2"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		proto, resp, err := me.RequestFirst(ctx, c.peer.ID(), protos, build, 64)
		cancel()
		if err != nil || proto != c.proto || string(resp) != c.resp {
			t.Errorf("RequestFirst(%v) to a peer serving up to %s: got %q, %q, %v; want %q, %q", protos, c.proto, proto, resp, err, c.proto, c.resp)
		}
		eventually(t, 5*time.Second, "the peer's protocols announced", func() bool {
			got, ok := me.Speaks(c.peer.ID(), protos...)
			return ok && got == c.proto
		})
	}
	if got, ok := me.Speaks(old.ID(), "sum/3"); ok {
		t.Errorf("Speaks(sum/3) of a peer that serves only sum/1: got %q, true; want false", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := me.RequestFirst(ctx, old.ID(), []string{"sum/3"}, build, 64); err == nil {
		t.Errorf("RequestFirst(sum/3) to a peer that serves only sum/1: got no error, want one")
	}
}

// TestWithhold: a host built with Config.Withhold {"sum/2", "note/2"}
// registers every version, as its release's code does, but serves neither
// withheld one: a peer it meets first and whose handlers come after (as a
// node's do, registered once its host is up) hears, by libp2p's identify
// push, of sum/1 and note/1 only, falls back to them, and cannot open sum/2.
func TestWithhold(t *testing.T) {
	me := newTestHost(t, 1, nil)
	prev := newTestHost(t, 2, func(c *Config) { c.Withhold = []string{"sum/2", "/note/2"} })
	connect(t, me, prev)
	for _, v := range []string{"sum/2", "sum/1"} {
		prev.Handle(v, 16, func(_ context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
			return append([]byte(v+":"), req...), nil
		})
	}
	for _, v := range []string{"note/2", "note/1"} {
		prev.HandleMessages(v, 16, 10, func(ed25519.PublicKey) bool { return true }, func(ed25519.PublicKey, []byte) Verdict { return Accept })
	}
	for _, c := range []struct{ want, withheld string }{{"sum/1", "sum/2"}, {"note/1", "note/2"}} {
		eventually(t, 5*time.Second, c.want+" announced", func() bool {
			_, ok := me.Speaks(prev.ID(), c.want)
			return ok
		})
		if got, ok := me.Speaks(prev.ID(), c.withheld, c.want); !ok || got != c.want {
			t.Errorf("Speaks(%s, %s) of a host withholding %s: got %q, %v; want %q, true", c.withheld, c.want, c.withheld, got, ok, c.want)
		}
	}
	build := func(proto string) []byte { return []byte("req-" + proto) }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	proto, resp, err := me.RequestFirst(ctx, prev.ID(), []string{"sum/2", "sum/1"}, build, 64)
	if err != nil || proto != "sum/1" || string(resp) != "sum/1:req-sum/1" {
		t.Errorf("RequestFirst(sum/2, sum/1) to a host withholding sum/2: got %q, %q, %v; want %q, %q", proto, resp, err, "sum/1", "sum/1:req-sum/1")
	}
	if _, err := me.Request(ctx, prev.ID(), "sum/2", build("sum/2"), 64); err == nil {
		t.Errorf("Request(sum/2) to a host withholding it: got no error, want one")
	}
}
