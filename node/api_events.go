package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gridmesh/gridmesh/chain"
)

// The event stream, GET /api/v1/events (Server-Sent Events): "block" for
// every committed block (BlockInfo), "cleared" and "settled" for every slot
// the block cleared or settled (SlotRow). A comment line every
// sseKeepAlive keeps proxies and the browser's EventSource from giving up.
// At most maxSubscribers streams are open at once (503 beyond); a
// subscriber that falls sseBuffer events behind is dropped, and its
// EventSource reconnects.
const (
	maxSubscribers = 16
	sseBuffer      = 64
	sseKeepAlive   = 15 * time.Second
	sseWriteLimit  = 10 * time.Second // one event's write; a stuck reader is dropped
)

// broker fans events out to the subscribers; the zero value is ready.
type broker struct {
	mu   sync.Mutex
	subs map[chan []byte]struct{}
}

func (b *broker) subscribe() (chan []byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subs) >= maxSubscribers {
		return nil, false
	}
	if b.subs == nil {
		b.subs = make(map[chan []byte]struct{})
	}
	c := make(chan []byte, sseBuffer)
	b.subs[c] = struct{}{}
	return c, true
}

func (b *broker) unsubscribe(c chan []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[c]; ok {
		delete(b.subs, c)
		close(c)
	}
}

func (b *broker) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// send gives every subscriber one event; it never blocks (the loop calls it).
func (b *broker) send(kind string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	msg := fmt.Appendf(nil, "event: %s\ndata: %s\n\n", kind, data)
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.subs {
		select {
		case c <- msg:
		default: // too far behind: drop it
			delete(b.subs, c)
			close(c)
		}
	}
}

// publishBlock sends blk's events; with no subscribers it does nothing.
func (b *broker) publishBlock(n *Node, blk chain.Block, events []chain.Event) {
	if b.count() == 0 {
		return
	}
	b.send("block", blockInfo(blk))
	for _, ev := range events {
		switch ev := ev.(type) {
		case chain.SlotCleared:
			b.send("cleared", SlotRow{Slot: int64(ev.Slot), Start: utc(n.gen.SlotStart(ev.Slot)), Price: ev.Result.Price,
				Volume: ev.Result.Volume, Trades: len(ev.Result.Trades)})
		case chain.SlotSettled:
			n.mu.RLock()
			row := n.slotRow(ev.Slot)
			n.mu.RUnlock()
			b.send("settled", row)
		}
	}
}

func (n *Node) serveEvents(w http.ResponseWriter, r *http.Request) {
	c, ok := n.surf.events.subscribe()
	if !ok {
		httpError(w, http.StatusServiceUnavailable, fmt.Errorf("%d event streams open already; try again later", maxSubscribers))
		return
	}
	defer n.surf.events.unsubscribe(c)
	pinConn(r)
	rc := http.NewResponseController(w)
	// A stream outlives the server's timeouts: no read deadline (nothing
	// more is read), and a deadline for each write instead of the whole
	// response's.
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteLimit))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte(": gridmesh events\nretry: 3000\n\n")) {
		return
	}
	tick := time.NewTicker(sseKeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case msg, ok := <-c:
			if !ok || !write(msg) {
				return
			}
		case <-tick.C:
			if !write([]byte(": keep-alive\n\n")) {
				return
			}
		}
	}
}
