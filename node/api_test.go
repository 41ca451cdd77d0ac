package node

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/node/nodetest"
	"github.com/gridmesh/gridmesh/unit"
)

// TestOpenAPIMatchesRoutes: every route the mux serves is in openapi.json with
// its method, and every path there is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi.json says openapi %q; want 3.x", doc.OpenAPI)
	}
	n := &Node{}
	n.metrics = newMetrics(n, nil) // every node has one (newNode); /metrics is not under /api/v1
	mux := n.handler().(*http.ServeMux)
	served := map[string]bool{}
	wild := regexp.MustCompile(`\{[a-z]+\}`)
	for _, rt := range n.routes() {
		served[strings.ToLower(rt.method)+" "+rt.path] = true
		// The mux must route a request for it to exactly this pattern.
		req := httptest.NewRequest(rt.method, wild.ReplaceAllString(rt.path, "x"), nil)
		if _, pat := mux.Handler(req); pat != rt.method+" "+rt.path {
			t.Errorf("%s %s: the mux routes it to %q", rt.method, rt.path, pat)
		}
		if _, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]; !ok {
			t.Errorf("route %s %s is missing from openapi.json", rt.method, rt.path)
		}
	}
	for p, ops := range doc.Paths {
		for m := range ops {
			if !served[m+" "+p] {
				t.Errorf("openapi.json documents %s %s, which the node does not serve", strings.ToUpper(m), p)
			}
		}
	}
}

// TestReadAPI runs an authority and two homes with 2 s slots until slots
// settle with trades, then reads every route of the read API, checks that
// statements add up to the balances on chain, and that bad input gets 400.
func TestReadAPI(t *testing.T) {
	parallelNetwork(t)
	paths := slotNet(t, 2, 1, 2*time.Second)
	var events nodetest.Settlements
	auth := start(t, paths[0], Options{OnEvent: events.Event})
	home := start(t, paths[1], Options{})
	start(t, paths[2], Options{})
	base := "http://" + auth.n.api.Addr().String() + "/api/v1"

	// Subscribe to the events before the slots settle.
	sse, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Body.Close()
	if ct := sse.Header.Get("Content-Type"); sse.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("GET events: status %d, type %q; want 200 text/event-stream", sse.StatusCode, ct)
	}
	gotEvents := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(sse.Body)
		for sc.Scan() {
			if k, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				select {
				case gotEvents <- k:
				default:
				}
			}
		}
	}()

	waitFor(t, "three settled slots with trades", 90*time.Second, func() bool {
		settled, trades, energy := events.Counts()
		return settled >= 3 && trades > 0 && energy > 0
	})

	// Events: a block, and a settled slot.
	seen := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for !seen["block"] || !seen["settled"] {
		select {
		case k := <-gotEvents:
			seen[k] = true
		case <-deadline:
			t.Fatalf("events seen %v; want block and settled", seen)
		}
	}

	var hm Home
	getJSON(t, "http://"+home.n.api.Addr().String()+"/api/v1/home", &hm)
	if hm.Account != string(home.n.self) || hm.Meter == nil || hm.LastCleared == nil {
		t.Errorf("GET home of a home: %+v; want its account, a meter and a last cleared slot", hm)
	}

	// The power history: slots of the home's meter journal, each within
	// its slot, the mean power matching its energy.
	var power struct {
		SlotSeconds int64      `json:"slot_seconds"`
		Items       []PowerRow `json:"items"`
	}
	getJSON(t, "http://"+home.n.api.Addr().String()+"/api/v1/home/power", &power)
	if len(power.Items) == 0 {
		t.Errorf("GET home/power of a home: no slots")
	}
	for _, r := range power.Items {
		if r.CoveredMs <= 0 || r.CoveredMs > power.SlotSeconds*1000 || r.ImportWh < 0 || r.ExportWh < 0 ||
			int64(r.PowerW) != int64(r.ImportWh-r.ExportWh)*3_600_000/r.CoveredMs {
			t.Errorf("GET home/power: row %+v (slot %d s); want covered_ms in (0, slot], energy ≥ 0, power = net × 3,600,000 / covered_ms", r, power.SlotSeconds)
		}
	}

	var slots Page[SlotRow]
	getJSON(t, base+"/slots?from=0&limit=1000", &slots)
	if len(slots.Items) == 0 {
		t.Fatalf("GET slots: no slots")
	}
	var trades Page[TradeRow]
	getJSON(t, base+"/trades?from=0", &trades)
	if len(trades.Items) == 0 {
		t.Fatalf("GET trades: none")
	}
	var blocks Page[BlockInfo]
	getJSON(t, base+"/blocks?limit=3", &blocks)
	if len(blocks.Items) != 3 || blocks.Next == nil || blocks.Items[0].Height <= blocks.Items[2].Height {
		t.Errorf("GET blocks?limit=3: %d blocks, next %v; want 3 newest first and a next", len(blocks.Items), blocks.Next)
	}
	var older Page[BlockInfo]
	getJSON(t, fmt.Sprintf("%s/blocks?limit=3&before=%d", base, *blocks.Next), &older)
	if len(older.Items) == 0 || older.Items[0].Height != uint64(*blocks.Next)-1 {
		t.Errorf("GET the next page of blocks: %+v; want it to start at height %d", older.Items, *blocks.Next-1)
	}
	tx := blocks.Items[0].Txs
	for _, b := range append(blocks.Items, older.Items...) {
		if len(b.Txs) > 0 {
			tx = b.Txs
			break
		}
	}
	if len(tx) > 0 {
		var ti TxInfo
		getJSON(t, base+"/txs/"+tx[0], &ti)
		if ti.Hash != tx[0] || ti.Height == 0 {
			t.Errorf("GET txs/%s: %+v", tx[0], ti)
		}
	}
	checkSearch(t, base, home.n, tx)
	var auths struct {
		Items []AuthorityInfo `json:"items"`
	}
	getJSON(t, base+"/authorities", &auths)
	if len(auths.Items) != 1 || !auths.Items[0].Live || auths.Items[0].Signed == 0 || auths.Items[0].LastSigned == 0 {
		t.Errorf("GET authorities: %+v; want the one authority live with signed votes", auths.Items)
	}
	var peers struct {
		Count int `json:"count"`
	}
	getJSON(t, base+"/peers", &peers)
	if peers.Count == 0 {
		t.Errorf("GET peers: none")
	}

	// Statements: at a height that does not move while we read, every
	// account's statement over all time ends at its balance on chain, and
	// the operator's fees are the sum of all settlements' fees.
	checkStatements(t, auth.n, base)

	// Bad input: 400 with a reason, unknown routes 404, never 500.
	key := string(home.n.self)
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/nothing/here", 404},
		{"/slots?limit=-1", 400},
		{"/slots?limit=100000", 400},
		{"/slots?from=10&to=5", 400},
		{"/slots?from=0&to=100000000", 400},
		{"/slots?from=yesterday", 400},
		{"/trades?account=nothex", 400},
		{"/blocks?limit=0", 400},
		{"/blocks?before=-3", 400},
		{"/blocks/abc", 400},
		{"/blocks/99999999", 404},
		{"/accounts/zz", 400},
		{"/accounts/" + strings.Repeat("0", 64), 404},
		{"/accounts/" + key + "/statement?format=xml", 400},
		{"/accounts/" + key + "/statement?tz=Mars/Olympus", 400},
		{"/statements?period=fortnight", 400},
		{"/txs/1234", 400},
		{"/home/power?from=10&to=5", 400},
		{"/home/power?from=0&to=5000", 400},
		{"/home/power?to=soon", 400},
		{"/search", 400},
		{"/search?q=%20", 400},
		{"/search?q=" + strings.Repeat("x", 201), 400},
		{"/txs/" + strings.Repeat("ab", 32), 404},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error string }
		_ = json.Unmarshal(body, &e)
		if resp.StatusCode != tc.want || e.Error == "" {
			t.Errorf("GET %s: status %d, body %s; want %d with an error", tc.path, resp.StatusCode, body, tc.want)
		}
	}
}

// checkSearch: the search route finds a height, a transaction and the
// genesis block by hash (older than any recent page of blocks), an account
// by key and by its name in any case, and answers nothing found as no items.
func checkSearch(t *testing.T, base string, home *Node, txs []string) {
	t.Helper()
	type hits struct {
		Items []SearchHit `json:"items"`
	}
	search := func(q string) []SearchHit {
		var h hits
		getJSON(t, base+"/search?q="+url.QueryEscape(q), &h)
		return h.Items
	}
	var genesis BlockInfo
	getJSON(t, base+"/blocks/0", &genesis)
	name := home.cfg.Node.Name
	cases := []struct {
		q    string
		want SearchHit // the first hit; Kind "" = no hits
	}{
		{"1", SearchHit{Kind: "block"}},
		{strings.ToUpper(genesis.Hash), SearchHit{Kind: "block", Hash: genesis.Hash}},
		{string(home.self), SearchHit{Kind: "account", Key: string(home.self), Name: name}},
		{strings.ToUpper(name), SearchHit{Kind: "account", Key: string(home.self), Name: name}},
		{"no such name anywhere", SearchHit{}},
		{"99999999", SearchHit{}},
	}
	if len(txs) > 0 {
		cases = append(cases, struct {
			q    string
			want SearchHit
		}{txs[0], SearchHit{Kind: "tx", Hash: txs[0]}})
	}
	for _, tc := range cases {
		got := search(tc.q)
		if tc.want.Kind == "" {
			if len(got) != 0 {
				t.Errorf("search %q: got %+v; want no hits", tc.q, got)
			}
			continue
		}
		if len(got) == 0 {
			t.Errorf("search %q: got no hits; want %+v", tc.q, tc.want)
			continue
		}
		g := got[0]
		if g.Kind != tc.want.Kind || tc.want.Hash != "" && g.Hash != tc.want.Hash || g.Key != tc.want.Key || g.Name != tc.want.Name {
			t.Errorf("search %q: got %+v first; want %+v", tc.q, g, tc.want)
		}
		if g.Kind == "block" && g.Height == nil {
			t.Errorf("search %q: a block hit without a height", tc.q)
		}
	}
}

// checkStatements compares statements with the chain at a height that stays
// put while they are read (it retries while the chain moves).
func checkStatements(t *testing.T, n *Node, base string) {
	t.Helper()
	for try := 0; ; try++ {
		h := n.Status().Height
		n.mu.RLock()
		balances := n.chain.Balances()
		var fees int64
		last := n.chain.Status().LastSettled
		for s := range last + 1 {
			if st, ok := n.chain.Settlement(s); ok {
				for _, tr := range st.Trades {
					fees += int64(tr.Fee)
				}
			}
		}
		n.mu.RUnlock()
		var problems []string
		accounts := []string{string(n.gen.Operator)}
		for a := range balances {
			if a != n.gen.Operator {
				accounts = append(accounts, string(a))
			}
		}
		sort.Strings(accounts[1:])
		for _, a := range accounts {
			// The lines the node reads from the account index are those a
			// plain walk over every settled slot finds.
			n.mu.RLock()
			got, want := n.statementLines(ident.Account(a), 0, last+1), walkStatement(n, ident.Account(a), 0, last+1)
			n.mu.RUnlock()
			if !slices.Equal(got, want) {
				problems = append(problems, fmt.Sprintf("account %.8s: statementLines %+v; the walk over settlements %+v", a, got, want))
			}
			// A statement from the middle opens where the earlier lines end.
			for _, from := range []int64{1, int64(last) / 2, int64(last)} {
				var part Statement
				getJSON(t, fmt.Sprintf("%s/accounts/%s/statement?from=%d", base, a, from), &part)
				if got, want := int64(part.Opening+part.Total.Net), int64(balances[ident.Account(a)]); got != want {
					problems = append(problems, fmt.Sprintf("account %.8s from slot %d: opening %d + net %d = %d; balance %d", a, from, part.Opening, part.Total.Net, got, want))
				}
			}
			var st Statement
			getJSON(t, base+"/accounts/"+a+"/statement", &st)
			for _, l := range st.Lines {
				n.mu.RLock()
				res, _ := n.chain.Result(unit.Slot(l.Slot))
				n.mu.RUnlock()
				if l.Price != res.Price {
					problems = append(problems, fmt.Sprintf("account %.8s slot %d: price %d; the slot cleared at %d", a, l.Slot, l.Price, res.Price))
				}
			}
			if got, want := int64(st.Total.Balance), int64(balances[ident.Account(a)]); got != want {
				problems = append(problems, fmt.Sprintf("account %.8s: statement closing balance %d; on chain %d", a, got, want))
			}
			if a == string(n.gen.Operator) && int64(st.Total.Fees) != fees {
				problems = append(problems, fmt.Sprintf("operator: statement fees %d; settlements' fees %d", st.Total.Fees, fees))
			}
			rows := getCSV(t, base+"/accounts/"+a+"/statement?format=csv")
			if len(rows) != len(st.Lines)+2 || !slices.Equal(rows[0], StatementCSVHeader) || rows[len(rows)-1][0] != "total" {
				problems = append(problems, fmt.Sprintf("account %.8s: CSV of %d rows (header %v); want %d with a header and a total", a, len(rows), rows[0], len(st.Lines)+2))
			} else if got, want := rows[len(rows)-1][10], fmt.Sprint(int64(st.Total.Balance)); got != want {
				problems = append(problems, fmt.Sprintf("account %.8s: CSV total balance %s; JSON %s", a, got, want))
			}
		}
		if n.Status().Height != h && try < 20 {
			continue // the chain moved while we read
		}
		for _, p := range problems {
			t.Error(p)
		}
		if fees == 0 {
			t.Errorf("no fees in %d settled slots: the test proves little", last+1)
		}
		return
	}
}

// walkStatement is the reference for statementLines: a's part in every
// settled slot of [from, to), found by reading each slot's settlement. The
// caller holds n.mu.
func walkStatement(n *Node, a ident.Account, from, to unit.Slot) []chain.StatementLine {
	var out []chain.StatementLine
	for s := from; s < to; s++ {
		st, ok := n.chain.Settlement(s)
		if !ok {
			continue
		}
		res, _ := n.chain.Result(s)
		l, involved := chain.StatementLine{Slot: s, Price: res.Price}, false
		for _, tr := range st.Trades {
			if tr.Buyer == string(a) {
				l.Bought, l.Paid, involved = l.Bought+tr.Settled, l.Paid+tr.Paid, true
			}
			if tr.Seller == string(a) {
				l.Sold, l.Received, involved = l.Sold+tr.Settled, l.Received+tr.Received, true
			}
			if a == n.gen.Operator {
				l.Fees += tr.Fee
			}
		}
		for _, t := range st.Transfers {
			if t.Account == string(a) {
				l.Net, involved = t.Amount, true
			}
		}
		if involved {
			out = append(out, l)
		}
	}
	return out
}

func getCSV(t *testing.T, url string) [][]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatalf("GET %s: not CSV: %v", url, err)
	}
	return rows
}
