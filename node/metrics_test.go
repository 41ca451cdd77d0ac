package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gridmesh/gridmesh/node/nodetest"
	"github.com/gridmesh/gridmesh/update"
)

// promtool returns the path of promtool (Debian package prometheus), or
// skips the test (fails it in CI or with GRIDMESH_REQUIRE_ALL=1).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		msg := "promtool not installed (apt-get install prometheus); CI=true or GRIDMESH_REQUIRE_ALL=1 makes this a failure"
		if os.Getenv("CI") == "true" || os.Getenv("GRIDMESH_REQUIRE_ALL") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg) // only off CI: CI=true or GRIDMESH_REQUIRE_ALL=1 failed above
	}
	return p
}

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// describedNames returns the metric family names a node's registry
// describes (its collectors' descriptors; no node needs to run): the Go and
// process collectors' and the node's own.
func describedNames(t *testing.T) map[string]bool {
	t.Helper()
	m := newMetrics(&Node{opts: Options{Releases: update.NewServer(update.Slots{Dir: t.TempDir()}, "linux/arm64", 0)}}, nil)
	ch := make(chan *prometheus.Desc, 1024)
	for _, c := range m.collectors {
		c.Describe(ch)
	}
	close(ch)
	// The handler registers its own error counter (metrics.handler).
	names := map[string]bool{"promhttp_metric_handler_errors_total": true}
	for d := range ch {
		// Desc keeps its name unexported; its String form is stable.
		sm := descName.FindStringSubmatch(d.String())
		if sm == nil {
			t.Fatalf("no name in descriptor %s", d)
		}
		names[sm[1]] = true
	}
	return names
}

// documentedNames returns the gridmesh_ names that file lists, in order.
func documentedNames(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range regexp.MustCompile(`\bgridmesh_[a-z0-9_]+`).FindAllString(string(b), -1) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// TestMetricsDocumented checks that every gridmesh_ metric a node describes
// is documented in metrics.go and in configs/grafana/README.md, and that
// neither names one the node does not have.
func TestMetricsDocumented(t *testing.T) {
	names := describedNames(t)
	var ours []string
	for n := range names {
		if strings.HasPrefix(n, "gridmesh_") {
			ours = append(ours, n)
		}
	}
	slices.Sort(ours)
	if len(ours) < 40 {
		t.Fatalf("the node describes %d gridmesh_ metrics: %v; want the full set", len(ours), ours)
	}
	for _, file := range []string{"metrics.go", filepath.Join("..", "configs", "grafana", "README.md")} {
		docs := documentedNames(t, file)
		for _, n := range ours {
			if !slices.Contains(docs, n) {
				t.Errorf("%s does not document %s", file, n)
			}
		}
		for _, n := range docs {
			if !names[n] && !names[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")] {
				t.Errorf("%s names %s, which the node does not export", file, n)
			}
		}
	}
}

// dashboardExprs returns every PromQL expression in the Grafana dashboard:
// the panels' targets and the query variables, with where each is.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "configs", "grafana", "gridmesh.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("gridmesh.json: %v", err)
	}
	exprs := make(map[string]string)
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for i, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %d has no expression", p.Title, i)
			}
			exprs[fmt.Sprintf("panel %q target %d", p.Title, i)] = tg.Expr
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			exprs["variable "+v.Name] = v.Definition
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("the dashboard has %d expressions; want the utility's panels", len(exprs))
	}
	return exprs
}

var (
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promqlMetric   = regexp.MustCompile(`\b(?:gridmesh|go|process)_[a-zA-Z0-9_]+\b`)
)

// exprMetrics returns the metric names expr selects: what is left after
// removing strings, label matchers and ranges that has a metric prefix
// (label names and functions have none).
func exprMetrics(expr string) []string {
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, "")
	e = promqlRanges.ReplaceAllString(e, "")
	return promqlMetric.FindAllString(e, -1)
}

func TestExprMetrics(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`histogram_quantile(0.5, sum by (le) (rate(gridmesh_a_bucket{job=~"$job"}[$__rate_interval])))`, []string{"gridmesh_a_bucket"}},
		{`max(gridmesh_a{name="gridmesh_fake"}) - max(go_b)`, []string{"gridmesh_a", "go_b"}},
		{`label_values(gridmesh_node_info, job)`, []string{"gridmesh_node_info"}},
		{`sum by (protocol) (rate(x[5m]))`, nil},
	} {
		if got := exprMetrics(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("exprMetrics(%q) = %v; want %v", tc.expr, got, tc.want)
		}
	}
}

// exported reports whether name is a series of a family the node exports
// (a histogram's _bucket, _sum and _count included).
func exported(names map[string]bool, name string) bool {
	if names[name] {
		return true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && names[base] {
			return true
		}
	}
	return false
}

// TestGrafanaDashboard checks that every expression in
// configs/grafana/gridmesh.json names only metrics the node exports (by its
// registry's descriptors; TestMetricsScrape checks those against a scrape)
// and that promtool parses each as PromQL.
func TestGrafanaDashboard(t *testing.T) {
	names := describedNames(t)
	exprs := dashboardExprs(t)
	var rules strings.Builder
	rules.WriteString("groups:\n- name: dashboard\n  rules:\n")
	i := 0
	for _, where := range slices.Sorted(func(yield func(string) bool) {
		for k := range exprs {
			if !yield(k) {
				return
			}
		}
	}) {
		expr := exprs[where]
		used := exprMetrics(expr)
		if len(used) == 0 {
			t.Errorf("%s: %q names no gridmesh_, go_ or process_ metric", where, expr)
		}
		for _, n := range used {
			if !exported(names, n) {
				t.Errorf("%s: %q uses %s, which the node does not export", where, expr, n)
			}
		}
		if strings.HasPrefix(where, "variable ") {
			continue // label_values() is Grafana's, not PromQL
		}
		// Grafana's variables, as Grafana would fill them in.
		q := strings.NewReplacer("$__rate_interval", "5m", "$job", ".*").Replace(expr)
		qj, _ := json.Marshal(q)
		fmt.Fprintf(&rules, "  - record: dashboard:expr%d\n    expr: %s\n", i, qj)
		i++
	}
	tool := promtool(t)
	f := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(f, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the dashboard's expressions: %v\n%s\n%s", err, out, rules.String())
	}
}

// scrape GETs n's /metrics and returns the body and its parsed families.
func scrape(t *testing.T, n *Node) ([]byte, map[string]*dto.MetricFamily) {
	t.Helper()
	resp, err := http.Get("http://" + n.api.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics on %s: %d\n%s", n.cfg.Node.Name, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics Content-Type %q; want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("scrape of %s does not parse: %v", n.cfg.Node.Name, err)
	}
	return body, fams
}

// value returns the value of the series of family name whose labels
// include want (counter, gauge, or a histogram's count), and whether there
// is one.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			if !slices.ContainsFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() == want[i] && l.GetValue() == want[i+1] }) {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsScrape runs one authority and two homes in-process on loopback
// with 2-second slots until a slot has settled with trades, then scrapes the
// authority and a home: each scrape passes promtool check metrics, parses
// with expfmt, has exactly the families the registry describes (less the
// meter's on an authority), and its values agree with the node's state.
func TestMetricsScrape(t *testing.T) {
	tool := promtool(t)
	paths := slotNet(t, 2, 1, 2*time.Second)
	var events nodetest.Settlements
	// The authority and the first home serve releases (their slots are
	// empty: the update series are there, at zero).
	serve := func() *update.Server { return update.NewServer(update.Slots{Dir: t.TempDir()}, platformHere, 0) }
	auth := start(t, paths[0], Options{OnEvent: events.Event, Releases: serve()})
	home := start(t, paths[1], Options{Releases: serve()})
	start(t, paths[2], Options{})
	waitFor(t, "a settled slot with trades", 90*time.Second, func() bool {
		_, trades, energy := events.Counts()
		return trades > 0 && energy > 0
	})
	waitFor(t, "the home to follow and read its meter", 30*time.Second, func() bool {
		s := home.n.metrics.sampler.Load()
		return home.n.Status().Height > 0 && s != nil && s.Stats().Accepted > 0
	})

	described := describedNames(t)
	for _, r := range []*running{auth, home} {
		name := r.n.cfg.Node.Name
		body, fams := scrape(t, r.n)
		cmd := exec.Command(tool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics on %s's scrape: %v\n%s", name, err, out)
		}
		for f := range fams {
			if !described[f] {
				t.Errorf("%s exports %s, which no descriptor describes", name, f)
			}
		}
		for f := range described {
			if r.n.journal == nil && strings.HasPrefix(f, "gridmesh_meter_") {
				continue
			}
			if strings.HasPrefix(f, "gridmesh_") && fams[f] == nil {
				t.Errorf("%s's scrape lacks %s", name, f)
			}
		}
		for _, f := range fams {
			if f.GetHelp() == "" {
				t.Errorf("%s: %s has no HELP", name, f.GetName())
			}
		}

		st := r.n.Status()
		check := func(metric string, ok func(float64) bool, want string, labels ...string) {
			t.Helper()
			v, found := value(fams, metric, labels...)
			if !found || !ok(v) {
				t.Errorf("%s: %s%v = %v (present %v); want %s", name, metric, labels, v, found, want)
			}
		}
		positive := func(v float64) bool { return v > 0 }
		check("gridmesh_chain_height", func(v float64) bool { return v > 0 && v <= float64(st.Height) }, fmt.Sprintf("in (0, %d], the status's height after the scrape", st.Height))
		check("gridmesh_chain_head_time_seconds", func(v float64) bool { return v > float64(time.Now().Add(-time.Hour).Unix()) }, "a time within the hour")
		check("gridmesh_chain_block_commit_seconds", positive, "blocks observed")
		check("gridmesh_chain_block_interval_seconds", positive, "blocks observed")
		check("gridmesh_p2p_peers", positive, "> 0")
		check("gridmesh_node_info", func(v float64) bool { return v == 1 }, "1", "role", string(r.n.cfg.Node.Role), "account", string(r.n.self))
		check("gridmesh_p2p_bytes_total", positive, "> 0", "direction", "in")
		check("gridmesh_p2p_bytes_total", positive, "> 0", "direction", "out")
		for _, m := range fams["gridmesh_p2p_bytes_total"].GetMetric() {
			// The text format drops an empty label value.
			if !slices.ContainsFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() == "protocol" && l.GetValue() != "" }) {
				t.Errorf("%s: gridmesh_p2p_bytes_total has a series without a protocol: %v", name, m.Label)
			}
		}
		check("gridmesh_market_last_cleared_slot", func(v float64) bool { return v >= 0 }, ">= 0 (a slot cleared)")
		check("gridmesh_market_last_settled_slot", func(v float64) bool { return v >= 0 }, ">= 0 (a slot settled)")
		check("gridmesh_clock_synced", func(v float64) bool { return v == 1 }, "1")
		for _, a := range r.n.authoritiesAt(st.Height) {
			check("gridmesh_consensus_votes_missed_total", func(v float64) bool { return v >= 0 }, "a series per authority", "authority", string(a))
			check("gridmesh_consensus_last_signed_height", positive, "> 0 (the only authority signs every block)", "authority", string(a))
		}
		us := r.n.opts.Releases.Stats()
		check("gridmesh_update_served_total", func(v float64) bool { return v == float64(us.Served) }, fmt.Sprint(us.Served, ", the server's count"))
		check("gridmesh_update_refused_total", func(v float64) bool { return v == float64(us.NotHeld) }, fmt.Sprint(us.NotHeld, ", the server's count"), "reason", "not_held")
		if r == auth {
			check("gridmesh_chain_block_finality_seconds", positive, "decisions observed")
			check("gridmesh_chain_txs_committed_total", positive, "orders and attestations committed")
			check("gridmesh_consensus_voting", func(v float64) bool { return v == 1 }, "1")
			check("gridmesh_market_traded_wh_total", positive, "> 0 (a slot traded)")
			check("gridmesh_market_settled_wh_total", positive, "> 0 (a slot settled)")
			check("gridmesh_market_slots_settled_total", positive, "> 0")
		} else {
			check("gridmesh_consensus_voting", func(v float64) bool { return v == 0 }, "0 (a home)")
			check("gridmesh_meter_reads_total", positive, "> 0")
			check("gridmesh_meter_read_errors_total", func(v float64) bool { return v >= 0 }, "a series per reason", "reason", "read_failed")
			check("gridmesh_meter_last_reading_age_seconds", func(v float64) bool { return v >= 0 && v < 60 }, "in [0, 60) s")
			last, _ := r.n.journal.Last()
			check("gridmesh_meter_import_wh_total", func(v float64) bool { return v >= 0 && v <= float64(last.Import) }, fmt.Sprintf("in [0, %d], the journal's register after the scrape", last.Import))
			check("gridmesh_meter_export_wh_total", func(v float64) bool { return v >= 0 && v <= float64(last.Export) }, fmt.Sprintf("in [0, %d], the journal's register after the scrape", last.Export))
			// A slot may settle between the scrape and this read: then
			// the next scrape must agree.
			for try := 0; ; try++ {
				r.n.mu.RLock()
				bal := r.n.chain.Balances()[r.n.self]
				r.n.mu.RUnlock()
				if v, _ := value(fams, "gridmesh_account_balance_microunits"); v == float64(bal) {
					break
				} else if try == 1 {
					t.Errorf("%s: gridmesh_account_balance_microunits = %v; want the chain's %d", name, v, bal)
					break
				}
				_, fams = scrape(t, r.n)
			}
		}
	}
}
