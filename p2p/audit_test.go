package p2p

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
)

// syncBuffer is a bytes.Buffer safe to write from the host's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// TestAuditCapture runs an audited host and a plain one over TCP and over
// QUIC, has the audited one send a request, answer one and publish gossip,
// and checks that the capture holds exactly what it wrote: its payloads,
// none of the peer's, the streams' protocols, and as many bytes as the
// host's own stream byte counter.
func TestAuditCapture(t *testing.T) {
	for _, tc := range []struct{ name, listen string }{
		{"tcp", "/ip4/127.0.0.1/tcp/0"},
		{"quic", "/ip4/127.0.0.1/udp/0/quic-v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var capture syncBuffer
			a := newTestHost(t, 1, func(c *Config) { c.Listen = []string{tc.listen}; c.Audit = &capture })
			b := newTestHost(t, 2, func(c *Config) { c.Listen = []string{tc.listen} })
			a.Handle("ask", 64, func(_ context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
				return []byte("a-answers-" + string(req)), nil
			})
			b.Handle("ask", 64, func(_ context.Context, _ ed25519.PublicKey, req []byte) ([]byte, error) {
				return []byte("b-answers-" + string(req)), nil
			})
			ta, tb := joinBoth(t, "t", a, b)
			connect(t, a, b)
			if got := a.ConnAddrs(b.ID()); len(got) != 1 || !strings.Contains(got[0], tc.name) {
				t.Fatalf("a's connections to b: %v, want one over %s", got, tc.name)
			}
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			if _, err := a.Request(ctx, b.ID(), "ask", []byte("question-from-a"), 64); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Request(ctx, a.ID(), "ask", []byte("question-from-b"), 64); err != nil {
				t.Fatal(err)
			}
			eventually(t, patience, "a in b's mesh", func() bool { return len(tb.MeshPeers()) > 0 && len(ta.MeshPeers()) > 0 })
			if err := ta.Publish(ctx, []byte("gossip-from-a")); err != nil {
				t.Fatal(err)
			}
			if _, err := tb.Next(ctx); err != nil {
				t.Fatal(err)
			}
			// A stream's bytes are recorded, then counted, just after they
			// go out: b may have the gossip before a's writer has done either.
			eventually(t, patience, "the gossip recorded and counted", func() bool {
				data := streamData(t, capture.Bytes())
				return bytes.Contains(data, []byte("gossip-from-a")) && int64(len(data)) == a.Stats().BytesOut
			})
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			checkCapture(t, capture.Bytes(), a)
		})
	}
}

// streamData is the stream data of a capture, every stream's in turn.
func streamData(t *testing.T, capture []byte) []byte {
	t.Helper()
	var data []byte
	if err := ReadAudit(bytes.NewReader(capture), func(r AuditRecord) error {
		if r.Start && r.Peer == "" {
			t.Errorf("stream %d has no peer", r.Stream)
		}
		data = append(data, r.Data...)
		return nil
	}); err != nil {
		t.Fatalf("ReadAudit: %v", err)
	}
	return data
}

func checkCapture(t *testing.T, capture []byte, a *Host) {
	t.Helper()
	data := streamData(t, capture)
	for _, want := range []string{"question-from-a", "a-answers-question-from-b", "gossip-from-a"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("capture of %d bytes lacks %q, which the host sent", len(data), want)
		}
	}
	for _, not := range []string{"question-from-b", "b-answers-"} {
		if i := bytes.Index(data, []byte(not)); i >= 0 && !bytes.Contains(data, []byte("a-answers-"+not)) {
			t.Errorf("capture holds %q at %d, which only the peer sent", not, i)
		}
	}
	if bytes.Contains(data, []byte("b-answers-")) {
		t.Errorf("capture holds the peer's answer")
	}
	if got, want := int64(len(data)), a.Stats().BytesOut; got != want {
		t.Errorf("capture holds %d bytes of stream data, the host counted %d written", got, want)
	}
	streams, err := AuditStreams(bytes.NewReader(capture))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range streams {
		dir := "in"
		if s.Outbound {
			dir = "out"
		}
		seen[dir+" "+s.Protocol] = true
	}
	for _, want := range []string{"out /gridmesh/testnet/ask", "in /gridmesh/testnet/ask", "out /gridmesh/meshsub/1.2.0", "out /ipfs/id/1.0.0"} {
		if !seen[want] {
			t.Errorf("no %s stream among %v", want, seen)
		}
	}
}

// failingWriter fails every write after the first n.
type failingWriter struct {
	n, writes int
	syncBuffer
}

func (w *failingWriter) Write(p []byte) (int, error) {
	w.writes++
	if w.writes > w.n {
		return 0, errors.New("full")
	}
	return w.syncBuffer.Write(p)
}

// TestAuditStops checks that a capture whose writer fails stops for good
// and stays readable up to its last whole record.
func TestAuditStops(t *testing.T) {
	w := &failingWriter{n: 4}
	a, err := newAuditor(w, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.record(auditStart, 1, []byte{'o', 1, 'p', 1, 'a'}, nil)
	for range 10 {
		a.record(auditData, 1, nil, []byte("x"))
	}
	if w.writes != 5 { // the magic, the start, two data, the failure
		t.Errorf("%d writes, want 5: the auditor went on after a failed write", w.writes)
	}
	var n int
	if err := ReadAudit(bytes.NewReader(w.Bytes()), func(AuditRecord) error { n++; return nil }); err != nil || n != 3 {
		t.Errorf("ReadAudit: %d records, %v; want 3, nil", n, err)
	}
}

// TestReadAuditRoundTrip writes records through the auditor and reads them
// back, including a record cut short at the end.
func TestReadAuditRoundTrip(t *testing.T) {
	var buf syncBuffer
	a, err := newAuditor(&buf, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_700_000_000, 123)
	a.now = func() time.Time { return at }
	head := []byte{'i'}
	head = binary.AppendUvarint(head, 4)
	head = append(head, "peer"...)
	head = binary.AppendUvarint(head, 3)
	head = append(head, "adr"...)
	a.record(auditStart, 7, head, nil)
	a.record(auditData, 7, nil, []byte("hello"))
	b := buf.Bytes()
	b = append(b, 0x20, auditData) // a record cut short
	var got []AuditRecord
	if err := ReadAudit(bytes.NewReader(b), func(r AuditRecord) error {
		r.Data = bytes.Clone(r.Data)
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []AuditRecord{
		{Start: true, Time: at, Stream: 7, Peer: "peer", Addr: "adr"},
		{Time: at, Stream: 7, Data: []byte("hello")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Start != w.Start || !g.Time.Equal(w.Time) || g.Stream != w.Stream || g.Outbound != w.Outbound ||
			g.Peer != w.Peer || g.Addr != w.Addr || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("record %d: got %+v, want %+v", i, g, w)
		}
	}
	for name, bad := range map[string][]byte{
		"no magic":       []byte("hello"),
		"data first":     append([]byte(AuditMagic), 11, auditData, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'x'),
		"unknown kind":   append([]byte(AuditMagic), 11, 'Q', 0, 0, 0, 0, 0, 0, 0, 0, 1, 'x'),
		"stream 0":       append([]byte(AuditMagic), 11, auditData, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'x'),
		"bad direction":  append([]byte(AuditMagic), 13, auditStart, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'x', 0, 0),
		"start trailing": append([]byte(AuditMagic), 14, auditStart, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'o', 0, 0, 9),
	} {
		if err := ReadAudit(bytes.NewReader(bad), func(AuditRecord) error { return nil }); !errors.Is(err, ErrAudit) {
			t.Errorf("%s: ReadAudit = %v, want ErrAudit", name, err)
		}
	}
}

func TestNegotiated(t *testing.T) {
	msg := func(s string) []byte { return append(binary.AppendUvarint(nil, uint64(len(s)+1)), s+"\n"...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"proposal then data", cat(msg("/multistream/1.0.0"), msg("/gridmesh/n/sync/2"), []byte{3, 1, 2, 3}), "/gridmesh/n/sync/2"},
		{"second proposal", cat(msg("/multistream/1.0.0"), msg("/gridmesh/meshsub/1.2.0"), msg("/gridmesh/meshsub/1.1.0")), "/gridmesh/meshsub/1.1.0"},
		{"refused then accepted", cat(msg("/multistream/1.0.0"), msg("na"), msg("/ipfs/id/1.0.0")), "/ipfs/id/1.0.0"},
		{"no negotiation", []byte("hello"), ""},
		{"empty", nil, ""},
	} {
		if got := negotiated(tc.b); got != tc.want {
			t.Errorf("%s: negotiated = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func FuzzReadAudit(f *testing.F) {
	var buf syncBuffer
	a, _ := newAuditor(&buf, slog.New(slog.DiscardHandler))
	a.record(auditStart, 1, []byte{'o', 1, 'p', 1, 'a'}, nil)
	a.record(auditData, 1, nil, []byte("\x13/multistream/1.0.0\n"))
	f.Add(buf.Bytes())
	f.Add([]byte(AuditMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		var n int
		err := ReadAudit(bytes.NewReader(b), func(r AuditRecord) error {
			n++
			if !r.Start && (len(r.Data) == 0 || len(r.Data) > AuditChunk) {
				t.Fatalf("data record of %d bytes", len(r.Data))
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrAudit) {
			t.Fatalf("ReadAudit: %v does not wrap ErrAudit", err)
		}
		if _, err := AuditStreams(bytes.NewReader(b)); err != nil && !errors.Is(err, ErrAudit) {
			t.Fatalf("AuditStreams: %v", err)
		}
	})
}

// TestAuditRelayed connects an audited home to another through a circuit
// relay and checks that the relayed connection's streams are in the
// capture in the clear (identify runs on every new connection), beside the
// relay stream that carries them encrypted, and that the capture still
// holds exactly the bytes the host counted.
func TestAuditRelayed(t *testing.T) {
	relay := newTestHost(t, 50, func(c *Config) { c.RelayService = true })
	var capture syncBuffer
	home := func(seed byte, audit *syncBuffer) *Host {
		return newTestHost(t, seed, func(c *Config) {
			c.NATTraversal = true
			c.Bootstrap = relay.Addrs()
			if audit != nil {
				c.Audit = audit
			}
		})
	}
	a, b := home(51, &capture), home(52, nil)
	for _, h := range []*Host{a, b} {
		eventually(t, patience, "homes to reach the relay", func() bool { return len(h.Peers()) >= 1 })
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if _, err := client.Reserve(ctx, b.h, peer.AddrInfo{ID: relay.h.ID(), Addrs: relay.h.Addrs()}); err != nil {
		t.Fatalf("reservation: %v", err)
	}
	if err := a.Connect(ctx, fmt.Sprintf("%s/p2p-circuit/p2p/%s", relay.Addrs()[0], b.ID())); err != nil {
		t.Fatalf("connect through the relay: %v", err)
	}
	eventually(t, patience, "identify over the relayed connection", func() bool {
		streams, _ := AuditStreams(bytes.NewReader(capture.Bytes()))
		for _, s := range streams {
			if strings.HasPrefix(s.Addr, "relay[") && s.Protocol == "/ipfs/id/1.0.0" && s.Peer == b.ID() {
				return true
			}
		}
		return false
	})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	streams, err := AuditStreams(bytes.NewReader(capture.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	hop := false
	for _, s := range streams {
		total += s.Bytes
		hop = hop || (s.Protocol == "/libp2p/circuit/relay/0.2.0/hop" && s.Peer == relay.ID())
	}
	if !hop {
		t.Errorf("no circuit relay hop stream to the relay in the capture: %+v", streams)
	}
	if want := a.Stats().BytesOut; total != want {
		t.Errorf("capture holds %d bytes, the host counted %d written", total, want)
	}
}
