package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gridmesh/gridmesh/internal/cluster"
)

// This file holds what `gridmesh bench chain` reads off the nodes after a
// run (homes' lag, traffic between two readings) and how it prints the
// result; bench.go runs the bench.

// homesBehind sets res.HomeLagMax, how many blocks the furthest-behind home
// trails authority-1 (0 if none is behind), res.HomePeakRSSKiB,
// res.HomesOnHomes and res.FollowersMax. A home
// that does not answer is an error.
func homesBehind(ctx context.Context, cl *cluster.Cluster, res *benchResult) error {
	if len(cl.Homes) == 0 {
		return nil
	}
	// Authority-1 first: a home read after it can only have come closer.
	a, err := cl.Status(ctx, 0)
	if err != nil {
		return fmt.Errorf("bench chain: %s: %w", cl.Nodes[0].Name, err)
	}
	for i := range cl.Nodes {
		if st, err := cl.Status(ctx, i); err == nil { // the stopped one does not answer
			res.FollowersMax = max(res.FollowersMax, st.Followers)
		}
	}
	var sts []cluster.Status
	for _, h := range cl.Homes {
		st, err := cl.StatusOf(ctx, h)
		if err != nil {
			return fmt.Errorf("bench chain: %s: %w", h.Name, err)
		}
		sts = append(sts, st)
		if a.Height > st.Height {
			res.HomeLagMax = max(res.HomeLagMax, a.Height-st.Height)
		}
		kib, _ := procUsage(h.Pid())
		res.HomePeakRSSKiB = max(res.HomePeakRSSKiB, kib)
		res.HomeWritesPerDay = max(res.HomeWritesPerDay, writesPerDay(h.Pid()))
	}
	for _, st := range sts {
		if slices.ContainsFunc(sts, func(o cluster.Status) bool { return o.NodeID == st.Upstream }) {
			res.HomesOnHomes++
		}
	}
	return nil
}

// writesPerDay is what process pid wrote to storage over its life so far,
// scaled to a day (0 if unknown).
func writesPerDay(pid int) int64 {
	w, err1 := cluster.WriteBytes(pid)
	age, err2 := cluster.Age(pid)
	if err1 != nil || err2 != nil || age <= 0 {
		return 0
	}
	return int64(float64(w) * float64(24*time.Hour) / float64(age))
}

// traffic is one reading of a node's p2p byte counters.
type traffic struct {
	in, out int64
	proto   map[string][2]int64 // in, out per protocol id
	at      time.Time           // midway through the status request
	ok      bool
}

// readTraffic reads the p2p byte counters of every process in ps; a process
// that does not answer has ok false.
func readTraffic(ctx context.Context, cl *cluster.Cluster, ps []*cluster.Proc) []traffic {
	ts := make([]traffic, len(ps))
	for i, p := range ps {
		t0 := time.Now()
		st, err := cl.StatusOf(ctx, p)
		if err != nil {
			continue
		}
		ts[i] = traffic{in: st.P2PBytesIn, out: st.P2PBytesOut, at: t0.Add(time.Since(t0) / 2), ok: true,
			proto: make(map[string][2]int64, len(st.P2PProtocols))}
		for id, b := range st.P2PProtocols {
			ts[i].proto[id] = [2]int64{b.In, b.Out}
		}
	}
	return ts
}

// protocolMeans is the mean kbit/s (in+out) per protocol id over the
// processes whose two readings are both there.
func protocolMeans(before, after []traffic) map[string]float64 {
	sums, n := make(map[string]float64), 0
	for i := range before {
		a, b := before[i], after[i]
		if _, ok := kbitS(a, b, false); !ok {
			continue
		}
		n++
		secs := b.at.Sub(a.at).Seconds()
		for id, v := range b.proto {
			w := a.proto[id]
			sums[id] += float64(v[0]-w[0]+v[1]-w[1]) * 8 / 1000 / secs
		}
	}
	for id := range sums {
		sums[id] /= float64(n)
	}
	return sums
}

// kbitS is the traffic between two readings of one process in kbit/s (in+out,
// or in only); ok is false if either reading is missing or the counters went
// back (the process restarted).
func kbitS(a, b traffic, inOnly bool) (kbit float64, ok bool) {
	if !a.ok || !b.ok || !b.at.After(a.at) || b.in < a.in || b.out < a.out {
		return 0, false
	}
	n := b.in - a.in
	if !inOnly {
		n += b.out - a.out
	}
	return float64(n) * 8 / 1000 / b.at.Sub(a.at).Seconds(), true
}

// meanMax is the mean and the largest kbitS over the processes whose two
// readings are both there (0, 0 if none).
func meanMax(before, after []traffic, inOnly bool) (mean, largest float64) {
	n := 0
	for i := range before {
		k, ok := kbitS(before[i], after[i], inOnly)
		if !ok {
			continue
		}
		n++
		mean += k
		largest = max(largest, k)
	}
	if n == 0 {
		return 0, 0
	}
	return mean / float64(n), largest
}

// print writes the result for a person, and with asJSON one JSON line after it.
func (r benchResult) print(w io.Writer, asJSON bool) {
	fmt.Fprintf(w, "\noffered   %d txs in %.1fs: %.1f tx/s (target %g tx/s for %gs)\n", r.Offered, r.OfferS, r.OfferedRate, r.Rate, r.ForS)
	if r.Via > 0 {
		fmt.Fprintf(w, "          through authority-1..%d only (--via)\n", r.Via)
	}
	fmt.Fprintf(w, "accepted  %d (202), rejected %d, failed %d\n", r.Accepted, r.Rejected, r.Failed)
	for _, s := range r.Reasons {
		fmt.Fprintf(w, "          %s\n", s)
	}
	fmt.Fprintf(w, "committed %d (%d within the offering window, %d accepted but not seen committed)\n", r.Committed, r.InWindow, r.notCommitted)
	fmt.Fprintf(w, "sustained %.1f committed tx/s (every signature checked)\n", r.Sustained)
	fmt.Fprintf(w, "finality  p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms (POST to block seen; polled every %.0f ms)\n",
		r.P50, r.P95, r.P99, r.Max, r.PollMs)
	fmt.Fprintf(w, "proposals %d fetched whole (sent as tx hashes; a transaction was not yet in the pool)\n", r.ProposalsFetched)
	fmt.Fprintf(w, "blocks    %d (largest %d txs)\n", r.Blocks, r.MaxBlockTxs)
	if r.Stopped != "" {
		fmt.Fprintf(w, "stopped   %s by SIGKILL at %.1fs\n", r.Stopped, r.StoppedAtS)
	}
	rss := make([]string, len(r.PeakRSSKiB))
	for i, k := range r.PeakRSSKiB {
		rss[i] = fmt.Sprintf("%.1f", float64(k)/1024)
	}
	cpu := make([]string, len(r.CPUSeconds))
	for i, c := range r.CPUSeconds {
		cpu[i] = fmt.Sprintf("%.1f", c)
	}
	fmt.Fprintf(w, "peak RSS  %s MiB (VmHWM per authority)\n", strings.Join(rss, ", "))
	fmt.Fprintf(w, "CPU       %s s per authority (user+system, whole life)\n", strings.Join(cpu, ", "))
	agreeWord := "agree"
	if !r.StateAgree {
		agreeWord = "DISAGREE"
	}
	fmt.Fprintf(w, "state     running authorities %s at height %d; evidence %d; double-signs %d (among %d consensus messages a gossip observer saw)\n",
		agreeWord, r.CommonHeight, r.Evidence, r.DoubleSigns, r.Observed)
	fmt.Fprintf(w, "traffic   authorities %.1f kbit/s mean, %.1f max (p2p in+out over the offering window); %.1f mean without the observer's gossip\n",
		r.AuthorityKbit, r.AuthorityKbitMax, r.AuthorityKbitNodes)
	ids := slices.Collect(maps.Keys(r.AuthorityProtocols))
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(r.AuthorityProtocols[b], r.AuthorityProtocols[a]) })
	var parts []string
	for _, id := range ids {
		if k := r.AuthorityProtocols[id]; k >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.1f", id, k))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "          by protocol (mean kbit/s; meshsub is the bench's observer): %s\n", strings.Join(parts, ", "))
	}
	if r.Homes > 0 {
		fmt.Fprintf(w, "          %d homes %.1f kbit/s mean (%.1f in), %.1f max; furthest behind authority-1 by %d blocks after the drain; peak RSS %.1f MiB at most; storage writes %.1f MiB a day at most\n",
			r.Homes, r.HomeKbit, r.HomeInKbit, r.HomeKbitMax, r.HomeLagMax, float64(r.HomePeakRSSKiB)/1024, float64(r.HomeWritesPerDay)/(1<<20))
		fmt.Fprintf(w, "          %d homes follow another home; an authority serves the head to %d at most\n", r.HomesOnHomes, r.FollowersMax)
	}
	fmt.Fprintf(w, "load avg  %s at start, %s at end (shared machine)\n", r.LoadStart, r.LoadEnd)
	if r.Dir != "" {
		fmt.Fprintf(w, "kept      %s\n", r.Dir)
	}
	if asJSON {
		b, err := json.Marshal(r)
		if err == nil {
			fmt.Fprintf(w, "%s\n", b)
		}
	}
}
