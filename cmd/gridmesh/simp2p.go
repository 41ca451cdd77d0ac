package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/p2p/p2psim"
)

func cmdSimP2P(ctx context.Context, args []string, stdout io.Writer) error {
	c := newCommand("sim p2p", "[--nodes N] [--orders M] [--rate R] [--loss P] [--latency D] [--settle D] [--seed X] [--json]", `
Run N real libp2p hosts (gridmesh's p2p layer: Noise, yamux, gossipsub with
signed envelopes and peer scoring) in this process on loopback TCP, connect
each to its ring neighbour and a few random peers, and gossip M signed
order-sized payloads, each published by a random host, R per second in all,
once every host's gossip mesh has formed (the simulator is package
p2p/p2psim).
Measures how long each payload takes to reach every other host, how many
arrive, the gossip bytes each host sends and receives, and the process's peak
RSS (VmHWM) and goroutines.

--loss drops that fraction of the gossip RPCs carrying messages and --latency
delays every gossip RPC, both in the p2p layer's own transport wrapper; with
loss the publishers re-announce (fresh envelopes, same payload) 3 times, a
second apart, as the node does. One seed fixes topology, publishers and loss.

The output ends with one JSON line {"nodes":N,"orders":M,"p50_ms":..,"p95_ms":..,
"p99_ms":..,"delivery_ratio":..,"bytes_per_node":..,"peak_rss_mb":..,
"peak_goroutines":..,...}; bytes_per_node counts gossipsub stream bytes sent and
received (without Noise, yamux and TCP overhead). A delivery ratio below 1
exits 1.`)
	nodes := c.fs.Int("nodes", 50, "number of hosts (at least 2)")
	orders := c.fs.Int("orders", 500, "number of payloads to gossip")
	rate := c.fs.Float64("rate", 20, "payloads published per second, all hosts together")
	loss := c.fs.Float64("loss", 0, "probability that a gossip RPC carrying messages is lost (0 to < 1)")
	latency := c.fs.Duration("latency", 0, "one-way delay added to every gossip RPC")
	reannounce := c.fs.Int("reannounce", -1, "re-announcement rounds after publishing (-1: 3 with --loss, else 0)")
	mesh := c.fs.Int("mesh-degree", 0, "gossipsub D, mesh peers per topic (0: 6; at least 4)")
	size := c.fs.Int("payload", 200, "bytes per payload (an order's size)")
	settle := c.fs.Duration("settle", 3*time.Second, "how long to wait for stragglers after the last publication or re-announcement")
	seed := c.fs.Uint64("seed", 1, "seed of topology, publishers and loss")
	asJSON := c.fs.Bool("json", false, "print only the final JSON line")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	switch {
	case *nodes < 2 || *nodes > 1000:
		return usagef("sim p2p: --nodes: expected 2 to 1000, got %d", *nodes)
	case *orders < 1 || *orders > 1_000_000:
		return usagef("sim p2p: --orders: expected 1 to 1000000, got %d", *orders)
	case *rate <= 0 || *rate > 100_000:
		return usagef("sim p2p: --rate: expected more than 0 and at most 100000, got %g", *rate)
	case *loss < 0 || *loss >= 1:
		return usagef("sim p2p: --loss: expected 0 to below 1, got %g", *loss)
	case *latency < 0 || *latency > 10*time.Second:
		return usagef("sim p2p: --latency: expected 0 to 10s, got %s", *latency)
	case *reannounce < -1 || *reannounce > 100:
		return usagef("sim p2p: --reannounce: expected -1 to 100, got %d", *reannounce)
	case *mesh != 0 && (*mesh < 4 || *mesh > 32):
		return usagef("sim p2p: --mesh-degree: expected 0 or 4 to 32, got %d", *mesh)
	case *size < 16 || *size > p2p.DefaultMaxPayload:
		return usagef("sim p2p: --payload: expected 16 to %d, got %d", p2p.DefaultMaxPayload, *size)
	case *settle <= 0 || *settle > 10*time.Minute:
		return usagef("sim p2p: --settle: expected more than 0 and at most 10m, got %s", *settle)
	}
	cfg := p2psim.Config{
		Nodes:       *nodes,
		Orders:      *orders,
		PayloadSize: *size,
		MeshDegree:  *mesh,
		Rate:        *rate,
		Loss:        *loss,
		Latency:     *latency,
		Settle:      *settle,
		Seed:        *seed,
	}
	switch {
	case *reannounce > 0:
		cfg.Reannounce = *reannounce
	case *reannounce == 0 && *loss > 0:
		return usagef("sim p2p: --reannounce 0 with --loss is not supported (the simulator always re-announces under loss); leave it at -1 or give a count")
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "starting %d hosts on loopback, gossiping %d orders at %g/s (loss %g, latency %s, seed %d)...\n",
			*nodes, *orders, *rate, *loss, *latency, *seed)
	}
	res, err := p2psim.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("sim p2p: %w", err)
	}
	if !*asJSON {
		printSimP2P(stdout, res)
	}
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", line)
	if res.DeliveryRatio < 1 {
		return fmt.Errorf("sim p2p: seed %d: delivery ratio %.6f, want 1", *seed, res.DeliveryRatio)
	}
	return nil
}

func printSimP2P(w io.Writer, r p2psim.Result) {
	fmt.Fprintf(w, "latency to each other host: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		r.P50Ms, r.P95Ms, r.P99Ms, r.MaxMs)
	fmt.Fprintf(w, "delivery: %.4f (%.4f before re-announcement, %d re-announcement rounds), %d duplicate deliveries\n",
		r.DeliveryRatio, r.FirstPassRatio, r.Reannounce, r.Duplicates)
	perOrder := 0.0
	if r.Orders > 0 {
		perOrder = float64(r.BytesPerNode) / float64(r.Orders) / 1000
	}
	fmt.Fprintf(w, "traffic per host: %d bytes in+out (%.1f KB per order), %.1f kbit/s over %.1f s\n",
		r.BytesPerNode, perOrder, r.KbitPerNode, r.DurationS)
	fmt.Fprintf(w, "whole process: peak RSS %.1f MB, peak %d goroutines\n", r.PeakRSSMB, r.PeakGoroutines)
}
