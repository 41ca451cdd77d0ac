//go:build linux

package nattest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/internal/cluster"
)

// mgReport is what a microgrid run measured, for a utility engineer (text)
// and for tools (JSON).
type mgReport struct {
	Spec        mgSpec   `json:"spec"`
	Date        string   `json:"date"`
	Seconds     float64  `json:"test_seconds"`
	First       int64    `json:"first_slot"`
	Last        int64    `json:"last_slot"`
	Window      float64  `json:"window_seconds"` // between the two samples of the nodes' counters
	GateLead    int64    `json:"gate_lead_s"`
	Trades      int      `json:"trades"`
	OnTime      int      `json:"cleared_on_time"`
	ClearedN    int      `json:"cleared"`
	SettledN    int      `json:"settled"`
	FinalityP50 float64  `json:"finality_p50_s"`
	FinalityP99 float64  `json:"finality_p99_s"`
	Slots       []mgSlot `json:"slots"`
	Nodes       []mgNode `json:"nodes"`
}

// mgSlot is one measured slot as the first authority saw it. Times are
// seconds, seen by polling every 200 ms: ClearedAt from the slot's start
// (negative: before delivery began, which is on time), Finality from the
// slot's end to its settlement on the chain.
type mgSlot struct {
	Slot      int64   `json:"slot"`
	Start     string  `json:"start"`
	Cleared   bool    `json:"cleared"`
	ClearedAt float64 `json:"cleared_at_s"`
	AfterGate float64 `json:"cleared_after_gate_s"` // from gate closure (gate_lead before the start)
	OnTime    bool    `json:"on_time"`
	Settled   bool    `json:"settled"`
	Finality  float64 `json:"finality_s"`
	Trades    int     `json:"trades"`
	VolumeWh  int64   `json:"volume_wh"`
	Price     int64   `json:"price"`
}

// mgNode is one process over the measured window: CPU, memory, traffic
// (p2p: the node's libp2p stream counters; wire: its namespace's eth0, IP
// overhead included) and, at the end, how far behind the first authority's
// head it was.
type mgNode struct {
	Name     string  `json:"name"`
	LAN      int     `json:"lan"` // 0: public side
	Link     string  `json:"link"`
	CPUSec   float64 `json:"cpu_s"`
	CPUPct   float64 `json:"cpu_pct"`
	RSSMiB   float64 `json:"rss_mib"`
	PeakMiB  float64 `json:"peak_rss_mib"`
	P2PIn    float64 `json:"p2p_in_bps"` // bytes per second
	P2POut   float64 `json:"p2p_out_bps"`
	WireRx   float64 `json:"wire_rx_bps"`
	WireTx   float64 `json:"wire_tx_bps"`
	Behind   int64   `json:"blocks_behind"`
	Upstream string  `json:"upstream,omitempty"`
	Error    string  `json:"error,omitempty"`
}

func (w *watch) report(first, last int64, rows []cluster.Slot, before, after []nodeSample, elapsed time.Duration) *mgReport {
	r := &mgReport{Spec: w.spec, Date: time.Now().UTC().Format(time.RFC3339), First: first, Last: last, Window: elapsed.Seconds(),
		GateLead: w.c.Genesis.GateLeadSeconds}
	byslot := map[int64]cluster.Slot{}
	for _, row := range rows {
		byslot[row.Slot] = row
	}
	w.mu.Lock()
	var fin []float64
	for s := first; s <= last; s++ {
		start := w.slotStart(s)
		m := mgSlot{Slot: s, Start: start.UTC().Format("15:04:05")}
		row, ok := byslot[s]
		if at, seen := w.cleared[s]; ok && seen {
			m.Cleared, m.ClearedAt = true, at.Sub(start).Seconds()
			m.AfterGate = m.ClearedAt + float64(w.c.Genesis.GateLeadSeconds)
			m.OnTime = !at.After(start)
			m.Trades, m.VolumeWh, m.Price = row.Trades, row.Volume, row.Price
		}
		if at, seen := w.settled[s]; ok && row.Settled && seen {
			m.Settled = true
			m.Finality = at.Sub(w.slotStart(s + 1)).Seconds()
			fin = append(fin, m.Finality)
		}
		r.Trades += m.Trades
		r.OnTime += b2i(m.OnTime)
		r.ClearedN += b2i(m.Cleared)
		r.SettledN += b2i(m.Settled)
		r.Slots = append(r.Slots, m)
	}
	w.mu.Unlock()
	r.FinalityP50, r.FinalityP99 = percentile(fin, 50), percentile(fin, 99)
	head := after[0].height
	names := map[string]string{}
	for i, p := range w.procs {
		names[after[i].id] = p.Name
	}
	for i, p := range w.procs {
		b, a := before[i], after[i]
		secs := elapsed.Seconds()
		rate := func(x, y int64) float64 { return float64(y-x) / secs }
		n := mgNode{Name: p.Name, LAN: w.links[i].lan, Link: w.links[i].String(),
			CPUSec: (a.cpu - b.cpu).Seconds(), RSSMiB: float64(a.rssKiB) / 1024, PeakMiB: float64(a.peakKiB) / 1024,
			P2PIn: rate(b.p2pIn, a.p2pIn), P2POut: rate(b.p2pOut, a.p2pOut), WireRx: rate(b.wireRx, a.wireRx), WireTx: rate(b.wireTx, a.wireTx),
			Behind: int64(head) - int64(a.height), Upstream: a.upstream, Error: a.status}
		if name, ok := names[a.upstream]; ok {
			n.Upstream = name
		}
		n.CPUPct = 100 * n.CPUSec / secs
		r.Nodes = append(r.Nodes, n)
	}
	return r
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// percentile is the nearest-rank p-th percentile of xs (0 if empty).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}

func (r *mgReport) json() []byte {
	b, _ := json.MarshalIndent(r, "", " ")
	return b
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// text is the report as tables: the run, one line per slot, one line per
// node, and the homes' median and worst.
func (r *mgReport) text() string {
	var b strings.Builder
	n := len(r.Slots)
	fmt.Fprintf(&b, "%d processes (%d authorities, %d homes on %d LANs behind NAT), %d s slots, slots %d..%d measured over %.0f s, %s\n",
		r.Spec.Processes, len(r.Nodes)-r.homes(), r.homes(), gridLANs, r.Spec.SlotSeconds, r.First, r.Last, r.Window, r.Date)
	fmt.Fprintf(&b, "cleared on time (before the slot starts; gate closure is %d s before) %d/%d (%.0f %%), cleared %d/%d, settled %d/%d, finality (slot end to settled on chain) p50 %.1f s, p99 %.1f s, %d trades\n\n",
		r.GateLead, r.OnTime, n, pct(r.OnTime, n), r.ClearedN, n, r.SettledN, n, r.FinalityP50, r.FinalityP99, r.Trades)
	fmt.Fprintf(&b, "%6s  %8s  %-16s  %10s  %-7s  %10s  %6s  %9s  %9s\n", "slot", "start", "cleared", "after gate", "settled", "finality", "trades", "volume", "price")
	for _, s := range r.Slots {
		cl, gate, st, fin := "no", "-", "no", "-"
		if s.Cleared {
			gate = fmt.Sprintf("%.1f s", s.AfterGate)
			cl = fmt.Sprintf("%+.1f s", s.ClearedAt)
			if s.OnTime {
				cl += " on time"
			} else {
				cl += " LATE"
			}
		}
		if s.Settled {
			st, fin = "yes", fmt.Sprintf("%.1f s", s.Finality)
		}
		fmt.Fprintf(&b, "%6d  %8s  %-16s  %10s  %-7s  %10s  %6d  %6d Wh  %9d\n", s.Slot, s.Start, cl, gate, st, fin, s.Trades, s.VolumeWh, s.Price)
	}
	fmt.Fprintf(&b, "\n%-13s  %3s  %-24s  %6s  %5s  %6s  %6s  %8s  %8s  %8s  %8s  %6s  %s\n",
		"node", "lan", "link", "cpu s", "cpu %", "rss MB", "peak", "p2p in", "p2p out", "wire rx", "wire tx", "behind", "follows")
	for _, nd := range r.Nodes {
		lan := "pub"
		if nd.LAN > 0 {
			lan = fmt.Sprint(nd.LAN)
		}
		fmt.Fprintf(&b, "%-13s  %3s  %-24s  %6.1f  %5.1f  %6.1f  %6.1f  %8s  %8s  %8s  %8s  %6d  %s%s\n", nd.Name, lan, nd.Link,
			nd.CPUSec, nd.CPUPct, nd.RSSMiB, nd.PeakMiB, rateStr(nd.P2PIn), rateStr(nd.P2POut), rateStr(nd.WireRx), rateStr(nd.WireTx), nd.Behind, nd.Upstream, nd.Error)
	}
	b.WriteString("(traffic in bytes per second over the window; p2p: the node's libp2p streams, wire: its interface)\n")
	b.WriteString(r.homeSummary())
	return b.String()
}

func (r *mgReport) homes() int {
	n := 0
	for _, nd := range r.Nodes {
		n += b2i(nd.LAN > 0)
	}
	return n
}

// homeSummary is the homes' median and maximum of each figure.
func (r *mgReport) homeSummary() string {
	var cpu, rss, in, out, rx, tx []float64
	for _, nd := range r.Nodes {
		if nd.LAN == 0 {
			continue
		}
		cpu, rss, in, out = append(cpu, nd.CPUPct), append(rss, nd.RSSMiB), append(in, nd.P2PIn), append(out, nd.P2POut)
		rx, tx = append(rx, nd.WireRx), append(tx, nd.WireTx)
	}
	if len(cpu) == 0 {
		return ""
	}
	return fmt.Sprintf("per home, median / max: cpu %.1f / %.1f %% of a core, rss %.1f / %.1f MB, p2p in %s / %s, out %s / %s, wire rx %s / %s, tx %s / %s B/s\n",
		percentile(cpu, 50), percentile(cpu, 100), percentile(rss, 50), percentile(rss, 100),
		rateStr(percentile(in, 50)), rateStr(percentile(in, 100)), rateStr(percentile(out, 50)), rateStr(percentile(out, 100)),
		rateStr(percentile(rx, 50)), rateStr(percentile(rx, 100)), rateStr(percentile(tx, 50)), rateStr(percentile(tx, 100)))
}

// rateStr prints bytes per second compactly: 950, 12.3k, 1.20M.
func rateStr(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {99, 10}, {100, 10}, {10, 1}, {0, 1}} {
		if got := percentile(xs, c.p); got != c.want {
			t.Errorf("percentile(1..10, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
}

// TestReportCounts builds a report from a watch's observations without
// running anything: a slot cleared before its start is on time, one after
// is late, one unseen is neither cleared nor settled, and finality runs
// from the slot's end.
func TestReportCounts(t *testing.T) {
	c := &cluster.Cluster{Genesis: config.Genesis{Epoch: 1000, SlotSeconds: 10}}
	w := &watch{c: c, procs: nil, spec: mgSpec{Processes: 4, SlotSeconds: 10, Slots: 3},
		cleared: map[int64]time.Time{1: time.Unix(1009, 0), 2: time.Unix(1021, 0)},
		settled: map[int64]time.Time{1: time.Unix(1036, 0), 2: time.Unix(1042, 0)}}
	rows := []cluster.Slot{{Slot: 1, Trades: 2, Settled: true}, {Slot: 2, Trades: 1, Settled: true}}
	r := w.report(1, 3, rows, []nodeSample{{}}, []nodeSample{{}}, time.Minute)
	if r.OnTime != 1 || r.ClearedN != 2 || r.SettledN != 2 || r.Trades != 3 {
		t.Errorf("on time %d, cleared %d, settled %d, trades %d; want 1, 2, 2, 3", r.OnTime, r.ClearedN, r.SettledN, r.Trades)
	}
	if !r.Slots[0].OnTime || r.Slots[1].OnTime || r.Slots[2].Cleared {
		t.Errorf("slots on time %v %v, slot 3 cleared %v; want true false false", r.Slots[0].OnTime, r.Slots[1].OnTime, r.Slots[2].Cleared)
	}
	// Slot 1 ends at 1020 and settled at 1036; slot 2 ends at 1030, settled at 1042.
	if r.Slots[0].Finality != 16 || r.Slots[1].Finality != 12 || r.FinalityP99 != 16 || r.FinalityP50 != 12 {
		t.Errorf("finality %v, %v, p50 %v, p99 %v; want 16, 12, 12, 16", r.Slots[0].Finality, r.Slots[1].Finality, r.FinalityP50, r.FinalityP99)
	}
	if s := r.text(); !strings.Contains(s, "1/3 (33 %)") || !strings.Contains(s, "LATE") {
		t.Errorf("text report lacks the on-time count or the late slot:\n%s", s)
	}
}
