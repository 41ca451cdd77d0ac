package p2p

import (
	"crypto/ed25519"
	"errors"
	"fmt"
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

func (c *collector) handle(from ed25519.PublicKey, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, string(b))
	c.from = append(c.from, from)
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
	eventually(t, 10*time.Second, fmt.Sprintf("%d frames", n), func() bool { return c.len() >= n })
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
	eventually(t, 10*time.Second, "a frame after the broken stream", func() bool {
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
	for range 100 {
		if err := a.Send(b.ID(), "vote/1", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "the frames to be read", func() bool { return int64(c.len())+b.Stats().RateLimit >= 100 })
	if got := c.len(); got < 10 || got > 20 {
		t.Errorf("%d of 100 frames sent at once delivered at 5/s, burst 10; want 10 to 20", got)
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
	eventually(t, 10*time.Second, "the allowed frame", func() bool { return ok.len() == 1 })
	time.Sleep(100 * time.Millisecond)
	if got := c.len(); got != 0 {
		t.Errorf("%d frames from a refused peer delivered; want 0", got)
	}
}
