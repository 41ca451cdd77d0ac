package node

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/wire"
)

// TestPrivacyCapture checks the README's Privacy section against every
// byte a home sends. One authority and two homes run on loopback through
// their config files, as `gridmesh run` does; the audited home records its
// sends ([network] audit_file) and has a simulated meter whose readings,
// five per slot, carry values no slot total and no other number in the
// network comes near: a load of 8 GW (so every power sample and current is
// above 2^32) and cumulative counters of seven to eleven digits. Once the
// chain holds several of its attestations, the home is stopped and the
// whole capture is searched for every value of every reading in its
// journal, in every encoding a sender might use: decimal text, in Wh and
// as kWh, and, for values above 2^32, 8-byte little- and big-endian
// integers and floats, uvarint and zigzag varint. Any hit fails, naming
// the reading, the encoding, the stream, its protocol and the offset.
//
// The positive controls make sure the search can fail: every slot total
// the home attested and every order's energy are found in the capture;
// the capture holds gossip, transaction, sync and identify streams; and
// its bytes add up to exactly what the host counted written to its streams.
func TestPrivacyCapture(t *testing.T) {
	parallelNetwork(t)
	if testing.Short() {
		t.Skip("runs real nodes for about half a minute; runs without -short")
	}
	paths := slotNet(t, 2, 1, 2*time.Second)
	audited := auditedHome(t, paths[2])
	// The other home sells (a roof of panels), so that the audited home's
	// bids trade and its slots have something to settle: only those take
	// attestations.
	seller, err := config.LoadNode(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	seller.Meter.Sim.PVPeakW = 50_000
	if err := os.WriteFile(paths[1], seller.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}
	auth := start(t, paths[0], Options{})
	start(t, paths[1], Options{})
	home := start(t, paths[2], Options{})
	self := home.n.Account()

	const wantAttests = 4
	var txs []chain.Tx
	// Without them the positive controls fail, but the capture is still
	// searched: a leak is reported even if it kept the chain from
	// accepting what carried it.
	if !eventually(2*time.Minute, func() bool {
		txs = homeTxs(t, auth.n, self)
		n := 0
		for _, tx := range txs {
			if tx.Kind == chain.TxAttest {
				n++
			}
		}
		return n >= wantAttests
	}) {
		t.Errorf("timed out after 2m waiting for %d attestations of the audited home on chain", wantAttests)
	}
	if st := home.n.Status(); st.Audit == nil || st.Audit.Bytes == 0 || st.Audit.Full {
		t.Errorf("status audit = %+v, want a file being written, not full", st.Audit)
	}
	home.Halt(t) // closes the host: the capture is complete
	sent := home.n.host.Stats().BytesOut

	streams := readCapture(t, audited.Network.AuditFile)
	var captured int64
	for _, s := range streams {
		captured += int64(len(s.data))
	}
	if captured != sent {
		t.Errorf("the capture holds %d bytes of stream data; the host wrote %d to its streams", captured, sent)
	}
	checkProtocols(t, streams, auth.n.gen.ChainID)

	published := publishedTotals(txs)
	needles, binaryValues := readingNeedles(t, audited, published)
	if len(needles) < 200 || binaryValues < 50 {
		t.Fatalf("only %d needles from the journal, %d values above 2^32: too few to show anything", len(needles), binaryValues)
	}
	for _, s := range streams {
		for _, h := range search(s.data, needles) {
			t.Errorf("a per-reading value left the home: %s as %s, in stream %d (%s, to %s) at offset %d",
				h.what, h.enc, s.Stream, s.Protocol, s.Peer, h.off)
		}
	}
	var controls []needle
	for v, what := range published {
		if v >= 100_000 { // six digits or more: not found by chance
			controls = append(controls, needle{what: what, enc: "decimal", b: []byte(strconv.FormatInt(v, 10)), decimal: true})
		}
	}
	if len(controls) < wantAttests {
		t.Errorf("%d published totals of six digits or more, want at least %d", len(controls), wantAttests)
	}
	for _, c := range controls {
		found := false
		for _, s := range streams {
			found = found || len(search(s.data, []needle{c})) > 0
		}
		if !found {
			t.Errorf("positive control: %s is not in the capture, though the home sent it", c.what)
		}
	}
	t.Logf("capture: %d streams, %d bytes; searched for %d encodings of %d reading values (%d above 2^32); %d published totals found",
		len(streams), captured, len(needles), countValues(needles), binaryValues, len(controls))
}

// auditedHome rewrites the home config at path: an audit file, a meter no
// slot total can be mistaken for, no panels (a consumer only), no battery.
func auditedHome(t *testing.T, path string) config.Node {
	t.Helper()
	c, err := config.LoadNode(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Network.AuditFile, c.Network.AuditMaxMiB = "audit.bin", 256
	c.Meter.Sim.PVPeakW, c.Meter.Sim.LoadW = 0, 8_000_000_000
	c.Meter.MaxPowerW = 100_000_000_000
	c.Battery = config.DefaultNode().Battery
	if err := os.WriteFile(path, c.TOML(), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Network.AuditFile = c.Path(c.Network.AuditFile)
	return c
}

// homeTxs returns the transactions from account on n's chain.
func homeTxs(t *testing.T, n *Node, from ident.Account) []chain.Tx {
	t.Helper()
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []chain.Tx
	for h := uint64(1); ; {
		bs, _, err := n.chain.Blocks(h, 64)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) == 0 {
			return out
		}
		for _, b := range bs {
			for _, tx := range b.Txs {
				if tx.From == from {
					out = append(out, tx)
				}
			}
		}
		h = bs[len(bs)-1].Header.Height + 1
	}
}

// publishedTotals are the slot totals the home sent, by value: the energy
// it attested per slot and the energy of each order.
func publishedTotals(txs []chain.Tx) map[int64]string {
	m := make(map[int64]string)
	for _, tx := range txs {
		switch {
		case tx.Attest != nil:
			m[int64(tx.Attest.Import)] = fmt.Sprintf("the import attested for %s (%s)", tx.Attest.Slot, tx.Attest.Import)
		case tx.Order != nil:
			m[int64(tx.Order.Energy)] = fmt.Sprintf("the energy of the order for %s (%s)", tx.Order.Slot, tx.Order.Energy)
		}
	}
	return m
}

type capturedStream struct {
	p2p.AuditStream
	data []byte
}

// readCapture reads the audit file into its streams, each with its data.
func readCapture(t *testing.T, path string) []capturedStream {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sums, err := p2p.AuditStreams(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]capturedStream, len(sums))
	index := make(map[uint64]int)
	for i, s := range sums {
		out[i].AuditStream, index[s.Stream] = s, i
	}
	if err := p2p.ReadAudit(bytes.NewReader(b), func(r p2p.AuditRecord) error {
		if !r.Start {
			s := &out[index[r.Stream]]
			s.data = append(s.data, r.Data...)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkProtocols checks that the capture holds the home's gossip, its
// transactions, its sync requests and libp2p's identify.
func checkProtocols(t *testing.T, streams []capturedStream, network string) {
	t.Helper()
	bytesBy := make(map[string]int)
	for _, s := range streams {
		bytesBy[s.Protocol] += len(s.data)
	}
	t.Logf("bytes sent by protocol: %v", bytesBy)
	for _, p := range []string{
		string(p2p.GossipSubID12),
		p2p.ProtocolID(network, wire.TxProto),
		p2p.ProtocolID(network, wire.SyncProto),
		"/ipfs/id/1.0.0",
	} {
		if bytesBy[p] == 0 {
			t.Errorf("the capture holds no bytes of %s; by protocol: %v", p, bytesBy)
		}
	}
}

// needle is one encoding of one value to look for.
type needle struct {
	what, enc string
	b         []byte
	decimal   bool // a match must not touch another digit
}

// readingNeedles returns the encodings of every value of every reading in
// the home's journal, leaving out values equal to a published total, and
// how many values were large enough for binary encodings.
func readingNeedles(t *testing.T, c config.Node, published map[int64]string) ([]needle, int) {
	t.Helper()
	j, err := meter.OpenJournal(filepath.Join(c.Path(c.Node.Data), "meter"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var rs []meter.Reading
	if err := j.Scan(time.Time{}, time.Now().Add(time.Hour), func(e meter.Entry) bool {
		rs = append(rs, e.Reading)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(rs) < 2 {
		t.Fatalf("the journal holds %d readings", len(rs))
	}
	span := rs[len(rs)-1].Time.Sub(rs[0].Time)
	if perSlot := float64(len(rs)-1) * 2 / span.Seconds(); perSlot < 4 {
		t.Fatalf("%d readings over %s: %.1f per 2-s slot, not sampling resolution", len(rs), span, perSlot)
	}
	seen := make(map[int64]bool)
	var out []needle
	large := 0
	add := func(v int64, what string) {
		if seen[v] || v < 1_000_000 {
			return // the same value again, or too short to tell from chance (export 0)
		}
		seen[v] = true
		if _, ok := published[v]; ok {
			t.Logf("left out: %s equals a published total", what)
			return
		}
		out = append(out, encodings(v, what)...)
		if v >= 1<<32 {
			large++
		}
	}
	for _, r := range rs {
		at := r.Time.UTC().Format("15:04:05.000")
		add(int64(r.Import), fmt.Sprintf("the import counter %d Wh at %s", r.Import, at))
		add(int64(r.Export), fmt.Sprintf("the export counter %d Wh at %s", r.Export, at))
		add(int64(r.Power), fmt.Sprintf("the power %d W at %s", r.Power, at))
		// Phase voltages (228-232 V in mV) are six digits in a range
		// that order prices share: they are left out. Phase power is
		// Power; the current is checked.
		add(r.Phases[0].Current, fmt.Sprintf("the current %d mA at %s", r.Phases[0].Current, at))
	}
	if s := rs[0].Serial; s != "" {
		out = append(out, needle{what: "the meter's serial " + s, enc: "text", b: []byte(s)})
	}
	return out, large
}

// encodings returns v as a sender might encode it: decimal text in Wh and
// in kWh and, above 2^32 (so that chance cannot match 4 or fewer bytes),
// 8-byte integers and floats both ways round, uvarint and zigzag varint.
func encodings(v int64, what string) []needle {
	dec := func(enc, s string) needle { return needle{what: what, enc: enc, b: []byte(s), decimal: true} }
	out := []needle{dec("decimal", strconv.FormatInt(v, 10))}
	if v%1000 != 0 {
		out = append(out, dec("decimal kWh", strconv.FormatFloat(float64(v)/1000, 'f', -1, 64)))
	}
	if v < 1<<32 {
		return out
	}
	bin := func(enc string, b []byte) needle { return needle{what: what, enc: enc, b: b} }
	f := math.Float64bits(float64(v))
	return append(out,
		bin("int64 little-endian", binary.LittleEndian.AppendUint64(nil, uint64(v))),
		bin("int64 big-endian", binary.BigEndian.AppendUint64(nil, uint64(v))),
		bin("float64 little-endian", binary.LittleEndian.AppendUint64(nil, f)),
		bin("float64 big-endian", binary.BigEndian.AppendUint64(nil, f)),
		bin("uvarint", binary.AppendUvarint(nil, uint64(v))),
		bin("zigzag varint", binary.AppendVarint(nil, v)),
	)
}

func countValues(ns []needle) int {
	m := make(map[string]bool)
	for _, n := range ns {
		m[n.what] = true
	}
	return len(m)
}

type hit struct {
	what, enc string
	off       int
}

// search finds every needle in hay in one pass, by the needles' first five
// bytes (every needle has at least six).
func search(hay []byte, needles []needle) []hit {
	const k = 5
	by := make(map[[k]byte][]int)
	for i, n := range needles {
		if len(n.b) < k {
			panic(fmt.Sprintf("needle %q is shorter than %d bytes", n.b, k))
		}
		by[[k]byte(n.b[:k])] = append(by[[k]byte(n.b[:k])], i)
	}
	isDigit := func(i int) bool { return i >= 0 && i < len(hay) && hay[i] >= '0' && hay[i] <= '9' }
	var hits []hit
	for i := 0; i+k <= len(hay); i++ {
		for _, ni := range by[[k]byte(hay[i:i+k])] {
			n := needles[ni]
			if !bytes.HasPrefix(hay[i:], n.b) || (n.decimal && (isDigit(i-1) || isDigit(i+len(n.b)))) {
				continue
			}
			hits = append(hits, hit{what: n.what, enc: n.enc, off: i})
		}
	}
	return hits
}

// TestSearch checks the capture search on a haystack with a value hidden in
// each encoding, and that a decimal inside a longer number is no match.
func TestSearch(t *testing.T) {
	const v = 6_087_398_401
	for _, n := range encodings(v, "v") {
		hay := append(append([]byte("xx\x00"), n.b...), "\x00yy"...)
		hits := search(hay, encodings(v, "v"))
		if len(hits) == 0 || hits[0].off != 3 {
			t.Errorf("%s: hits %v, want one at offset 3", n.enc, hits)
		}
	}
	if hits := search([]byte("a=16087398401;"), encodings(v, "v")); len(hits) != 0 {
		t.Errorf("a longer number matched: %v", hits)
	}
}
