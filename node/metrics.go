package node

// Prometheus metrics at GET /metrics (DESIGN.md, Interfaces people use).
//
// Each node has its own registry (no global default registry: the demo and
// the tests run many nodes in one process), holding the Go and process
// collectors, a collector that reads the node's existing counters and state
// at scrape time (nodeCollector), and the few series that only exist as
// blocks commit (histograms, per-authority vote counters, the market totals),
// fed by one call from the loop's commit path (metrics.committed).
//
// Names follow Prometheus conventions: prefix gridmesh_, base units (seconds,
// bytes), _total on counters. Energy is in watt-hours (suffix _wh) and money
// in micro-units of the network's currency (suffix _microunits; a price per
// kWh _microunits_per_kwh): the chain's own integer units (DESIGN.md, Units),
// so a figure on a dashboard is the figure in a signed block. HELP says the
// unit of each.
//
// Every name, with its type and labels (configs/grafana/README.md has the
// same table, and TestMetricsScrape checks both against a scrape):
//
//	gridmesh_node_info{role,network,name,account}             gauge      1, the node's identity
//	gridmesh_clock_synced                                     gauge      1 if the node may do time-dependent work
//	gridmesh_chain_height                                     gauge      height of the committed head
//	gridmesh_chain_head_time_seconds                          gauge      the head block's time (proposer's clock), unix seconds
//	gridmesh_chain_block_interval_seconds                     histogram  block time minus its parent's, per committed block
//	gridmesh_chain_block_commit_seconds                       histogram  time to write a block to this node's store
//	gridmesh_chain_block_finality_seconds                     histogram  block time to its decision by consensus here (voting authorities)
//	gridmesh_chain_txs_committed_total                        counter    transactions in blocks this node committed
//	gridmesh_mempool_txs                                      gauge      transactions accepted, not yet in a block
//	gridmesh_consensus_voting                                 gauge      1 while this node votes (an authority in the set)
//	gridmesh_consensus_authorities                            gauge      size of the next height's authority set
//	gridmesh_consensus_evidence_total                         counter    conflicting signed messages seen from authorities
//	gridmesh_consensus_votes_fetched_total                    counter    consensus messages a peer supplied on request
//	gridmesh_consensus_proposals_fetched_total                counter    proposals fetched whole (a transaction was missing)
//	gridmesh_consensus_votes_missed_total{authority,name}     counter    committed blocks whose certificate lacks the authority's precommit
//	gridmesh_consensus_last_signed_height{authority,name}     gauge      last committed height whose certificate has its precommit
//	gridmesh_p2p_peers                                        gauge      connected libp2p peers
//	gridmesh_p2p_bytes_total{protocol,direction}              counter    stream bytes by libp2p protocol id, direction in|out
//	gridmesh_p2p_peers_banned_total                           counter    bans of peers that sent invalid frames
//	gridmesh_p2p_send_dropped_total                           counter    frames dropped on the way out (queue full, stream failed)
//	gridmesh_gossip_rejected_total{reason}                    counter    payloads from peers refused as malformed or forged
//	gridmesh_gossip_ignored_total{reason}                     counter    payloads dropped as not acceptable now
//	gridmesh_sync_followers                                   gauge      peers this node serves the chain's head to
//	gridmesh_sync_busy_total                                  counter    followers turned away (no slot free)
//	gridmesh_market_last_cleared_slot                         gauge      index of the last cleared slot (-1 none)
//	gridmesh_market_cleared_price_microunits_per_kwh          gauge      its uniform clearing price
//	gridmesh_market_cleared_volume_wh                         gauge      its matched energy
//	gridmesh_market_cleared_trades                            gauge      its number of trades
//	gridmesh_market_last_settled_slot                         gauge      index of the last settled slot (-1 none)
//	gridmesh_market_settled_traded_wh                         gauge      energy traded in that slot
//	gridmesh_market_settled_energy_wh                         gauge      energy settled (delivered) in that slot
//	gridmesh_market_settled_fees_microunits                   gauge      grid fees to the operator in that slot
//	gridmesh_market_slots_cleared_total                       counter    slots cleared in blocks this node committed
//	gridmesh_market_slots_settled_total                       counter    slots settled in blocks this node committed
//	gridmesh_market_traded_wh_total                           counter    energy matched at clearing, same blocks
//	gridmesh_market_settled_wh_total                          counter    energy settled, same blocks
//	gridmesh_market_fees_microunits_total                     counter    grid fees settled, same blocks
//	gridmesh_account_balance_microunits                       gauge      this node's account balance on chain
//	gridmesh_meter_reads_total                                counter    meter reads (homes with a meter)
//	gridmesh_meter_read_errors_total{reason}                  counter    failed or rejected reads
//	gridmesh_meter_failing_reads                              gauge      consecutive failed reads now (0 = the meter answers)
//	gridmesh_meter_last_reading_age_seconds                   gauge      since the last accepted reading (or the node's start)
//	gridmesh_meter_import_wh_total                            counter    the meter's import register, last accepted reading
//	gridmesh_meter_export_wh_total                            counter    the meter's export register, last accepted reading
//	gridmesh_meter_power_watts                                gauge      power of the last accepted reading, + import, − export
//	gridmesh_update_served_total                              counter    release file requests of peers answered (nodes serving releases)
//	gridmesh_update_served_bytes_total                        counter    bytes of releases sent to peers
//	gridmesh_update_refused_total{reason}                     counter    release file requests refused: busy, not_held, malformed
//
// plus go_* and process_* from client_golang's collectors.
//
// Decisions:
//   - values the node already counts (stats, p2p.Host.Stats, the sampler's
//     Stats, the chain's state) are read at scrape time; nothing is counted
//     twice. Only what exists at a commit and nowhere else (intervals,
//     latencies, certificates, the market events) is recorded then;
//   - the gossip reasons are the host's (malformed, wrong_network,
//     bad_signature for rejections; expired, rate_limit, queue_full,
//     throttled for drops) plus the node's own verdicts on what the host let
//     through and on its request answers (invalid, not_acceptable_now): the
//     host's count of validator verdicts duplicates those, so it is left out;
//   - a missed vote is an authority absent from the commit certificate of a
//     block this node committed. The certificate holds the precommits the
//     deciding authority had when it reached the quorum, so a healthy but
//     slow authority misses some; one that is down misses all. Compare rates;
//   - the per-slot market gauges describe the last cleared and the last
//     settled slot at scrape time (traded − settled of the same slot is the
//     imbalance); slots shorter than the scrape interval are covered by the
//     _total counters, which count the events of the blocks this node
//     committed since it started (they reset on restart, as counters may);
//   - finality is observed only where consensus decides (a voting authority):
//     a home that follows sees old blocks while it catches up, which would
//     say nothing about the network;
//   - /metrics is served by the API's handler on api.listen.

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/meter"
	"github.com/gridmesh/gridmesh/wire"
)

// metrics is a node's Prometheus registry and the series recorded at commit.
// committed and decided are called by the loop only; the rest is safe for
// concurrent use.
type metrics struct {
	reg        *prometheus.Registry
	collectors []prometheus.Collector   // what reg holds
	names      map[ident.Account]string // authority names from genesis, for labels
	sampler    atomic.Pointer[meter.Sampler]
	started    time.Time // when the node was built, for the meter's age before any reading

	blockInterval, commitSeconds, finality prometheus.Histogram
	txs                                    prometheus.Counter
	votesMissed                            *prometheus.CounterVec
	lastSigned                             *prometheus.GaugeVec
	slotsCleared, slotsSettled             prometheus.Counter
	traded, settled, fees                  prometheus.Counter

	mu    sync.Mutex
	known map[ident.Account]bool // authorities whose series exist
}

// newMetrics builds n's registry; names gives authorities' names by account
// (from genesis; missing ones get "").
func newMetrics(n *Node, names map[ident.Account]string) *metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &metrics{
		reg:     prometheus.NewPedanticRegistry(),
		names:   names,
		started: time.Now(),
		known:   make(map[ident.Account]bool),
		blockInterval: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gridmesh_chain_block_interval_seconds",
			Help: "Time between a committed block and its parent, by their block times (proposers' clocks), in seconds. Blocks are produced only when there is work.",
			// From a busy network's batch gap to a quiet hour.
			Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600},
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gridmesh_chain_block_commit_seconds",
			Help:    "Time to execute and write one block, with its state changes, to this node's store (one synced batch), in seconds.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}),
		finality: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gridmesh_chain_block_finality_seconds",
			Help:    "Time from a block's time (its proposer's clock) to its decision by consensus on this node, in seconds; observed on voting authorities only.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
		}),
		txs: counter("gridmesh_chain_txs_committed_total",
			"Transactions in the blocks this node committed since it started."),
		votesMissed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gridmesh_consensus_votes_missed_total",
			Help: "Blocks this node committed whose commit certificate lacks the authority's precommit (offline, or its precommit came after the quorum), by authority account and genesis name.",
		}, []string{"authority", "name"}),
		lastSigned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gridmesh_consensus_last_signed_height",
			Help: "The last height this node committed whose certificate holds the authority's precommit (0 none seen), by authority account and genesis name.",
		}, []string{"authority", "name"}),
		slotsCleared: counter("gridmesh_market_slots_cleared_total",
			"Slots cleared (gate closed, auction run) in the blocks this node committed since it started."),
		slotsSettled: counter("gridmesh_market_slots_settled_total",
			"Slots settled in the blocks this node committed since it started."),
		traded: counter("gridmesh_market_traded_wh_total",
			"Energy matched at clearing in the blocks this node committed since it started, in watt-hours."),
		settled: counter("gridmesh_market_settled_wh_total",
			"Energy settled against metered delivery in the blocks this node committed since it started, in watt-hours."),
		fees: counter("gridmesh_market_fees_microunits_total",
			"Grid fees paid to the operator in the settlements of the blocks this node committed since it started, in micro-units of the network's currency."),
	}
	for a := range names {
		m.know(a)
	}
	m.collectors = []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newNodeCollector(n),
		m.blockInterval, m.commitSeconds, m.finality, m.txs, m.votesMissed, m.lastSigned,
		m.slotsCleared, m.slotsSettled, m.traded, m.settled, m.fees,
	}
	if n.opts.Releases != nil {
		m.collectors = append(m.collectors, newUpdateCollector(n.opts.Releases))
	}
	m.reg.MustRegister(m.collectors...)
	return m
}

// authorityNames maps the genesis authorities' accounts to their names.
func authorityNames(g config.Genesis) map[ident.Account]string {
	names := make(map[ident.Account]string, len(g.Authorities))
	for _, a := range g.Authorities {
		names[ident.Account(a.Key)] = a.Name
	}
	return names
}

// handler serves the registry in the format the scraper asks for.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A collector's error must not hide the other series.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg, // promhttp_metric_handler_errors_total
	})
}

// know creates a's per-authority series at zero, so that an authority that
// never signs shows as missing every vote, not as no data.
func (m *metrics) know(a ident.Account) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known[a] {
		return
	}
	m.known[a] = true
	m.votesMissed.WithLabelValues(string(a), m.names[a])
	m.lastSigned.WithLabelValues(string(a), m.names[a])
}

// committed records a block the loop committed: parentTime is its parent's
// block time (unix ms), took the time the store took, set the authority set
// of its height in the chain's order, events what the chain reported.
func (m *metrics) committed(blk chain.Block, cert []byte, parentTime int64, took time.Duration, set []ident.Account, events []chain.Event) {
	h := blk.Header.Height
	if h > 1 { // block 1's parent is genesis, whose time is the network's creation
		m.blockInterval.Observe(float64(blk.Header.Time-parentTime) / 1000)
	}
	m.commitSeconds.Observe(took.Seconds())
	m.txs.Add(float64(len(blk.Txs)))
	if votes, err := wire.DecodeCommit(cert, consensusIDs(set)); err == nil {
		signed := make(map[ident.Account]bool, len(votes))
		for _, v := range votes {
			signed[ident.Account(v.From)] = true
		}
		for _, a := range set {
			m.know(a)
			if signed[a] {
				m.lastSigned.WithLabelValues(string(a), m.names[a]).Set(float64(h))
			} else {
				m.votesMissed.WithLabelValues(string(a), m.names[a]).Inc()
			}
		}
	}
	for _, ev := range events {
		switch ev := ev.(type) {
		case chain.SlotCleared:
			m.slotsCleared.Inc()
			m.traded.Add(float64(ev.Result.Volume))
		case chain.SlotSettled:
			m.slotsSettled.Inc()
			m.settled.Add(float64(ev.Settlement.Energy))
			var fee int64
			for _, t := range ev.Settlement.Trades {
				fee += int64(t.Fee)
			}
			m.fees.Add(float64(fee))
		}
	}
}

// decided records the finality of a block consensus decided here: from its
// block time (unix ms) to now.
func (m *metrics) decided(blockTime int64, now time.Time) {
	m.finality.Observe(max(float64(now.UnixMilli()-blockTime)/1000, 0))
}

// nodeCollector reads the node's counters and state at scrape time.
type nodeCollector struct {
	n *Node

	info, clockSynced, height, headTime, mempool                   *prometheus.Desc
	voting, authorities, evidence, votesFetched, proposalsFetched  *prometheus.Desc
	peers, bytes, banned, sendDropped, rejected, ignored           *prometheus.Desc
	followers, syncBusy                                            *prometheus.Desc
	lastCleared, price, volume, trades                             *prometheus.Desc
	lastSettled, settledTraded, settledEnergy, settledFees         *prometheus.Desc
	balance                                                        *prometheus.Desc
	reads, readErrors, failing, readingAge, imported, exported, pw *prometheus.Desc
}

func newNodeCollector(n *Node) *nodeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &nodeCollector{
		n:           n,
		info:        d("gridmesh_node_info", "Always 1; the labels say which node this is: role (authority or home), network (chain id), name, account.", "role", "network", "name", "account"),
		clockSynced: d("gridmesh_clock_synced", "1 if the node's clock is synchronised (or trusted by config), so it may propose, attest and trade; 0 otherwise."),
		height:      d("gridmesh_chain_height", "Height of the committed head block."),
		headTime:    d("gridmesh_chain_head_time_seconds", "Block time of the committed head (its proposer's clock), in unix seconds; time() minus this is how long no block came."),
		mempool:     d("gridmesh_mempool_txs", "Transactions in this node's mempool: accepted, not yet in a block."),

		voting:           d("gridmesh_consensus_voting", "1 while this node is an authority in the current set and runs consensus, 0 otherwise."),
		authorities:      d("gridmesh_consensus_authorities", "Size of the authority set deciding the next height."),
		evidence:         d("gridmesh_consensus_evidence_total", "Conflicting signed messages (double signs) this node saw from authorities."),
		votesFetched:     d("gridmesh_consensus_votes_fetched_total", "Consensus messages a peer supplied when this node asked for missing votes."),
		proposalsFetched: d("gridmesh_consensus_proposals_fetched_total", "Proposals that came as transaction hashes with a transaction missing here, fetched whole from the proposer."),

		peers:       d("gridmesh_p2p_peers", "Connected libp2p peers."),
		bytes:       d("gridmesh_p2p_bytes_total", "Bytes the node's libp2p streams carried (without transport framing), by protocol id (negotiation: multistream-select, before a protocol is agreed) and direction (in, out).", "protocol", "direction"),
		banned:      d("gridmesh_p2p_peers_banned_total", "Bans this node gave peers that sent invalid frames on a message stream (10 minutes each)."),
		sendDropped: d("gridmesh_p2p_send_dropped_total", "Frames dropped on the way out: the peer's queue was full or its stream failed."),
		rejected:    d("gridmesh_gossip_rejected_total", "Payloads from peers refused as malformed or forged, by reason: malformed, wrong_network, bad_signature (checked by the host), invalid (by the node: content, signature, or a bad answer to a request).", "reason"),
		ignored:     d("gridmesh_gossip_ignored_total", "Payloads from peers dropped as not acceptable now (honest peers send these too), by reason: expired, rate_limit, queue_full, throttled (the host), not_acceptable_now (the node: late, duplicate, unknown signer).", "reason"),
		followers:   d("gridmesh_sync_followers", "Peers this node serves the chain's head to now."),
		syncBusy:    d("gridmesh_sync_busy_total", "Followers this node turned away since it started because its follower slots were full."),

		lastCleared:   d("gridmesh_market_last_cleared_slot", "Index of the last cleared slot (unix seconds / slot length), -1 if none."),
		price:         d("gridmesh_market_cleared_price_microunits_per_kwh", "Uniform clearing price of the last cleared slot, in micro-units of the network's currency per kWh (1 EUR/kWh = 1000000); 0 if nothing traded."),
		volume:        d("gridmesh_market_cleared_volume_wh", "Energy matched in the last cleared slot, in watt-hours."),
		trades:        d("gridmesh_market_cleared_trades", "Trades in the last cleared slot."),
		lastSettled:   d("gridmesh_market_last_settled_slot", "Index of the last settled slot, -1 if none."),
		settledTraded: d("gridmesh_market_settled_traded_wh", "Energy traded in the last settled slot, in watt-hours; minus gridmesh_market_settled_energy_wh it is the slot's imbalance."),
		settledEnergy: d("gridmesh_market_settled_energy_wh", "Energy settled against metered delivery in the last settled slot, in watt-hours."),
		settledFees:   d("gridmesh_market_settled_fees_microunits", "Grid fees paid to the operator in the last settled slot, in micro-units of the network's currency."),
		balance:       d("gridmesh_account_balance_microunits", "This node's account balance on chain, in micro-units of the network's currency (negative: it owes)."),

		reads:      d("gridmesh_meter_reads_total", "Meter reads the sampler made (accepted, rejected or failed). Homes with a meter only."),
		readErrors: d("gridmesh_meter_read_errors_total", "Meter reads that failed (read_failed) or were rejected as implausible, by reason: backwards, jump, overpower, stale, future.", "reason"),
		failing:    d("gridmesh_meter_failing_reads", "Consecutive failed meter reads up to now; 0 while the meter answers."),
		readingAge: d("gridmesh_meter_last_reading_age_seconds", "Seconds since the last accepted meter reading (since the node started, if none yet)."),
		imported:   d("gridmesh_meter_import_wh_total", "The meter's import register at the last accepted reading (the journal's), in watt-hours."),
		exported:   d("gridmesh_meter_export_wh_total", "The meter's export register at the last accepted reading (the journal's), in watt-hours."),
		pw:         d("gridmesh_meter_power_watts", "Power at the last accepted reading, in watts: positive importing, negative exporting."),
	}
}

func (c *nodeCollector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{
		c.info, c.clockSynced, c.height, c.headTime, c.mempool,
		c.voting, c.authorities, c.evidence, c.votesFetched, c.proposalsFetched,
		c.peers, c.bytes, c.banned, c.sendDropped, c.rejected, c.ignored, c.followers, c.syncBusy,
		c.lastCleared, c.price, c.volume, c.trades, c.lastSettled, c.settledTraded, c.settledEnergy, c.settledFees,
		c.balance,
		c.reads, c.readErrors, c.failing, c.readingAge, c.imported, c.exported, c.pw,
	}
}

// Describe implements prometheus.Collector.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It reads what GET /api/v1/status
// reads, under the same locks.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	st := n.Status()
	gauge(c.info, 1, st.Role, st.Network, st.Name, st.Account)
	gauge(c.clockSynced, b2f(st.ClockSynced))
	gauge(c.height, float64(st.Height))
	gauge(c.headTime, float64(st.BlockTime)/1000)
	gauge(c.mempool, float64(st.PendingTxs))
	gauge(c.voting, b2f(st.Voting))
	gauge(c.authorities, float64(st.Authorities))
	counter(c.evidence, float64(st.Evidence))
	counter(c.votesFetched, float64(st.VotesFetched))
	counter(c.proposalsFetched, float64(st.ProposalsFetched))

	ps := n.host.Stats()
	gauge(c.peers, float64(st.Peers))
	for proto, t := range ps.Protocols {
		if proto == "" {
			// libp2p counts a stream's bytes before its protocol is agreed
			// under no id; an empty label value would read as no label.
			proto = "negotiation"
		}
		counter(c.bytes, float64(t.In), proto, "in")
		counter(c.bytes, float64(t.Out), proto, "out")
	}
	counter(c.banned, float64(ps.Banned))
	counter(c.sendDropped, float64(ps.SendDropped))
	counter(c.rejected, float64(ps.Malformed), "malformed")
	counter(c.rejected, float64(ps.Network), "wrong_network")
	counter(c.rejected, float64(ps.BadSig), "bad_signature")
	counter(c.rejected, float64(st.Rejected), "invalid")
	counter(c.ignored, float64(ps.Expired), "expired")
	counter(c.ignored, float64(ps.RateLimit), "rate_limit")
	counter(c.ignored, float64(ps.QueueFull), "queue_full")
	counter(c.ignored, float64(ps.Throttled), "throttled")
	counter(c.ignored, float64(st.Ignored), "not_acceptable_now")
	gauge(c.followers, float64(st.Followers))
	counter(c.syncBusy, float64(st.SyncBusy))

	c.collectMarket(ch, st, gauge)
	c.collectMeter(gauge, counter)
}

func (c *nodeCollector) collectMarket(ch chan<- prometheus.Metric, st Status, gauge func(*prometheus.Desc, float64, ...string)) {
	n := c.n
	n.mu.RLock()
	res, _ := n.chain.Result(st.LastCleared)
	set, _ := n.chain.Settlement(st.LastSettled)
	bal := n.chain.Balances()[n.self]
	n.mu.RUnlock()
	gauge(c.lastCleared, float64(st.LastCleared))
	gauge(c.price, float64(res.Price))
	gauge(c.volume, float64(res.Volume))
	gauge(c.trades, float64(len(res.Trades)))
	var traded, fees int64
	for _, t := range set.Trades {
		traded += int64(t.Energy)
		fees += int64(t.Fee)
	}
	gauge(c.lastSettled, float64(st.LastSettled))
	gauge(c.settledTraded, float64(traded))
	gauge(c.settledEnergy, float64(set.Energy))
	gauge(c.settledFees, float64(fees))
	gauge(c.balance, float64(bal))
}

// collectMeter reports the sampler's counters and the journal's last
// reading; nodes without a meter report none of these.
func (c *nodeCollector) collectMeter(gauge, counter func(*prometheus.Desc, float64, ...string)) {
	n := c.n
	s := n.metrics.sampler.Load()
	if s == nil || n.journal == nil {
		return
	}
	ss := s.Stats()
	counter(c.reads, float64(ss.Accepted+ss.Rejected()+ss.Errors))
	for _, r := range []struct {
		reason string
		v      uint64
	}{
		{"read_failed", ss.Errors}, {"backwards", ss.Backwards}, {"jump", ss.Jump},
		{"overpower", ss.Overpower}, {"stale", ss.Stale}, {"future", ss.Future},
	} {
		counter(c.readErrors, float64(r.v), r.reason)
	}
	gauge(c.failing, float64(ss.Failing))
	// The journal's last reading may be older than this run: a meter that
	// died before a restart is that old.
	since := n.metrics.started
	last, ok := n.journal.Last()
	if ok {
		since = last.Time
	}
	gauge(c.readingAge, max(time.Since(since).Seconds(), 0))
	if ok {
		counter(c.imported, float64(last.Import))
		counter(c.exported, float64(last.Export))
		gauge(c.pw, float64(last.Power))
	}
}
