package p2p

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// collector gathers what a HandleMessages handler receives.
type collector struct {
	mu   sync.Mutex
	got  []string
	from []ed25519.PublicKey
}

// handle takes every frame; one that starts with "bad" it takes and rejects.
func (c *collector) handle(from ed25519.PublicKey, b []byte) Verdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, string(b))
	c.from = append(c.from, from)
	if strings.HasPrefix(string(b), "bad") {
		return Reject
	}
	return Accept
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func anyone(ed25519.PublicKey) bool { return true }

// Frames sent to a peer arrive once each, in order, from the sender's key, on
// one stream; a stream that breaks is replaced on the next send.
func TestSendMessages(t *testing.T) {
	a := newTestHost(t, 1, nil)
	b := newTestHost(t, 2, nil)
	connect(t, a, b)
	var c collector
	b.HandleMessages("vote/1", 64, 10_000, anyone, c.handle)

	const n = 200 // within one queue (sendQueue) even if the stream is slow to open
	for i := range n {
		if err := a.Send(b.ID(), "vote/1", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	eventually(t, patience, fmt.Sprintf("%d frames", n), func() bool { return c.len() >= n })
	c.mu.Lock()
	for i, g := range c.got {
		if want := fmt.Sprintf("m%d", i); g != want {
			t.Errorf("frame %d = %q; want %q (in order, once each)", i, g, want)
			break
		}
	}
	if !c.from[0].Equal(testKey(1).Public()) {
		t.Errorf("from = %x; want the sender's key", c.from[0])
	}
	c.mu.Unlock()
	streams := 0
	for _, conn := range a.h.Network().ConnsToPeer(b.h.ID()) {
		for _, s := range conn.GetStreams() {
			if s.Protocol() == protocol.ID(ProtocolID(a.cfg.Network, "vote/1")) {
				streams++
			}
		}
	}
	if streams != 1 {
		t.Errorf("%d vote/1 streams to the peer after %d sends; want 1 (kept open)", streams, n)
	}
	// Each frame is at least its 2-4 payload bytes and a length byte.
	vote := ProtocolID(a.cfg.Network, "vote/1")
	if got := a.Stats().Protocols[vote].Out; got < 3*n {
		t.Errorf("sender's %s bytes out = %d; want at least %d (%d frames)", vote, got, 3*n, n)
	}
	if got := b.Stats().Protocols[vote].In; got < 3*n {
		t.Errorf("receiver's %s bytes in = %d; want at least %d", vote, got, 3*n)
	}

	// A frame over the limit ends the stream at the receiver; the sender
	// finds out on a later write and opens a new one.
	if err := a.Send(b.ID(), "vote/1", make([]byte, 65)); err != nil {
		t.Fatal(err)
	}
	eventually(t, patience, "a frame after the broken stream", func() bool {
		_ = a.Send(b.ID(), "vote/1", []byte("after"))
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.got[len(c.got)-1] == "after"
	})
	if c.len() < n+1 {
		t.Errorf("%d frames; want the %d and at least one after", c.len(), n)
	}
}

// Frames beyond the handler's rate are dropped and counted; a closed host
// refuses to send.
func TestSendMessagesLimits(t *testing.T) {
	a := newTestHost(t, 1, nil)
	b := newTestHost(t, 2, nil)
	connect(t, a, b)
	var c collector
	b.HandleMessages("vote/1", 64, 5, anyone, c.handle) // burst 10
	start := time.Now()
	for range 100 {
		if err := a.Send(b.ID(), "vote/1", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, patience, "the frames to be read", func() bool { return int64(c.len())+b.Stats().RateLimit >= 100 })
	// The burst of 10 plus the 5/s refill while the frames were read.
	if got, most := c.len(), 10+int(5*time.Since(start).Seconds())+1; got < 10 || got > most {
		t.Errorf("%d of 100 frames sent at once delivered at 5/s, burst 10; want 10 to %d", got, most)
	}
	if err := a.Send("not a peer id", "vote/1", nil); err == nil {
		t.Error("send to a malformed peer id: err = nil; want an error")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(b.ID(), "vote/1", []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("send after close: err = %v; want ErrClosed", err)
	}
}

// A peer the handler does not allow has its stream reset unread.
func TestSendMessagesRefused(t *testing.T) {
	a := newTestHost(t, 1, nil)
	b := newTestHost(t, 2, nil)
	connect(t, a, b)
	var c, ok collector
	b.HandleMessages("vote/1", 64, 100, func(from ed25519.PublicKey) bool { return !from.Equal(testKey(1).Public()) }, c.handle)
	b.HandleMessages("open/1", 64, 100, anyone, ok.handle)
	for range 5 {
		if err := a.Send(b.ID(), "vote/1", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// A frame on another, allowed protocol sent after them arrives; by then
	// the refused ones would have too.
	if err := a.Send(b.ID(), "open/1", []byte("y")); err != nil {
		t.Fatal(err)
	}
	eventually(t, patience, "the allowed frame", func() bool { return ok.len() == 1 })
	// Not synchronisation: a little longer for a refused frame to show up
	// (a check that can only miss on a slow machine, not fail wrongly).
	time.Sleep(100 * time.Millisecond)
	if got := c.len(); got != 0 {
		t.Errorf("%d frames from a refused peer delivered; want 0", got)
	}
}

// A peer whose frames the handler rejects is banned from that protocol
// after banPoints of them; its other protocols and other peers are not.
func TestSendMessagesBan(t *testing.T) {
	a := newTestHost(t, 1, nil)
	b := newTestHost(t, 2, nil)
	c := newTestHost(t, 3, nil)
	connect(t, a, b)
	connect(t, c, b)
	var votes, txs collector
	b.HandleMessages("vote/1", 64, 1000, anyone, votes.handle)
	b.HandleMessages("txs/1", 64, 1000, anyone, txs.handle)
	for i := range banPoints - 1 {
		if err := a.Send(b.ID(), "vote/1", fmt.Appendf(nil, "bad%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, patience, "the bad frames", func() bool { return votes.len() == banPoints-1 })
	if got := b.Stats().Banned; got != 0 {
		t.Fatalf("banned %d after %d bad frames; want 0 before %d", got, banPoints-1, banPoints)
	}
	if err := a.Send(b.ID(), "vote/1", []byte("bad, the last")); err != nil {
		t.Fatal(err)
	}
	eventually(t, patience, "the ban", func() bool { return b.Stats().Banned == 1 })

	// The banned peer's new streams of that protocol are refused, unread.
	eventually(t, patience, "a's new vote stream to be refused", func() bool {
		_ = a.Send(b.ID(), "vote/1", []byte("after the ban"))
		return b.Stats().StreamsRefused > 0
	})
	// Its other protocol, and another peer, are heard.
	if err := a.Send(b.ID(), "txs/1", []byte("from a")); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(b.ID(), "vote/1", []byte("from c")); err != nil {
		t.Fatal(err)
	}
	eventually(t, patience, "a's txs frame and c's vote", func() bool { return txs.len() == 1 && votes.len() == banPoints+1 })
	votes.mu.Lock()
	defer votes.mu.Unlock()
	if got := votes.got[len(votes.got)-1]; got != "from c" {
		t.Errorf("the last vote/1 frame delivered is %q; want \"from c\" (nothing from the banned peer after the ban)", got)
	}
}

// Points fade: half of them go every penaltyHalfLife, so a peer with an
// occasional bad frame is never banned; a ban ends after banFor.
func TestPenaltyBox(t *testing.T) {
	b := newPenaltyBox()
	now := time.Unix(1_000_000, 0)
	for i := range 100 {
		if b.add("slow", now.Add(time.Duration(i)*penaltyHalfLife)) {
			t.Fatalf("one bad frame per half-life banned the peer at frame %d; want never", i)
		}
	}
	banned := false
	for range banPoints {
		banned = b.add("fast", now)
	}
	if !banned || !b.banned("fast", now.Add(banFor-time.Second)) {
		t.Fatalf("%d bad frames at once: banned %v, still at banFor-1s %v; want both", banPoints, banned, b.banned("fast", now.Add(banFor-time.Second)))
	}
	if b.banned("fast", now.Add(banFor)) {
		t.Error("still banned after banFor")
	}
	b.sweep(now.Add(200 * penaltyHalfLife))
	if len(b.m) != 0 {
		t.Errorf("%d peers left after a long quiet sweep; want 0", len(b.m))
	}
}
