package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridmesh/gridmesh/update"
)

// updateCollector reports what the node's release server (Options.Releases,
// update.Server.Stats) counted, at scrape time; a node without one has no
// such series. The names (metrics.go lists them with the others):
//
//	gridmesh_update_served_total           counter  requests for release files answered with bytes
//	gridmesh_update_served_bytes_total     counter  bytes sent in those answers
//	gridmesh_update_refused_total{reason}  counter  requests refused: busy, not_held, malformed
type updateCollector struct {
	srv                    *update.Server
	served, bytes, refused *prometheus.Desc
}

func newUpdateCollector(srv *update.Server) *updateCollector {
	return &updateCollector{
		srv:     srv,
		served:  prometheus.NewDesc("gridmesh_update_served_total", "Requests of peers for update release files (manifest, signature, binary chunks of up to 1 MiB) this node answered with bytes since it started.", nil, nil),
		bytes:   prometheus.NewDesc("gridmesh_update_served_bytes_total", "Bytes of update releases this node sent to peers since it started.", nil, nil),
		refused: prometheus.NewDesc("gridmesh_update_refused_total", "Requests of peers for update release files this node refused since it started, by reason: busy (it was answering as many as it may at once; the peer asks again), not_held (a release or file it does not serve), malformed (not a request of the update protocol).", []string{"reason"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *updateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.served
	ch <- c.bytes
	ch <- c.refused
}

// Collect implements prometheus.Collector.
func (c *updateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.srv.Stats()
	ch <- prometheus.MustNewConstMetric(c.served, prometheus.CounterValue, float64(s.Served))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(s.Bytes))
	for _, r := range []struct {
		reason string
		v      int64
	}{{"busy", s.Busy}, {"not_held", s.NotHeld}, {"malformed", s.Malformed}} {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(r.v), r.reason)
	}
}
