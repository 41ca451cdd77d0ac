package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/node"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func getInto(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestStatementCommand runs a demo network (one authority, two homes, 2 s
// slots) and reads statements with `gridmesh statement`: every account's
// statement total is its balance on chain, the operator's fees are the sum of
// the settlements' fees, and the CSV parses.
func TestStatementCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a demo network: skipped with -short")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuf
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--homes", "2", "--authorities", "1", "--slot", "2s", "--for", "5m", "--data", dir}, &out, &out)
	}()
	defer func() { cancel(); <-done }()

	urlRE := regexp.MustCompile(`http://127\.0\.0\.1:\d+/api/v1/status`)
	var apis []string // host:port of each node
	deadline := time.Now().Add(60 * time.Second)
	for len(apis) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no status URLs of 3 nodes in the demo's output:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
		apis = apis[:0]
		for _, u := range urlRE.FindAllString(out.String(), -1) {
			apis = append(apis, strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/api/v1/status"))
		}
	}
	var authAPI, homeAPI, homeName string
	for _, a := range apis {
		var st node.Status
		getInto(t, "http://"+a+"/api/v1/status", &st)
		if st.Role == "authority" {
			authAPI = a
		} else {
			homeAPI, homeName = a, st.Name
		}
	}
	base := "http://" + authAPI + "/api/v1"
	for time.Now().Before(deadline.Add(60 * time.Second)) {
		var st node.Status
		getInto(t, base+"/status", &st)
		var tr node.Page[node.TradeRow]
		getInto(t, base+"/trades?from=0", &tr)
		if st.LastSettled >= 3 && len(tr.Items) > 0 && tr.Items[0].Settled != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}

	// --self of a home, as JSON, through its own API and config.
	stdout, stderr, code := gridmesh(t, "statement", "--self", "--format", "json", "-c", dir+"/"+homeName+"/node.toml", "--api", homeAPI)
	if code != 0 {
		t.Fatalf("statement --self: exit %d: %s", code, stderr)
	}
	var self node.Statement
	if err := json.Unmarshal([]byte(stdout), &self); err != nil || len(self.Lines) == 0 {
		t.Fatalf("statement --self: %v, %d lines: %s", err, len(self.Lines), stdout)
	}

	for try := 0; ; try++ {
		var st0 node.Status
		getInto(t, base+"/status", &st0)
		stdout, stderr, code := gridmesh(t, "statement", "--all", "--period", "month", "--api", authAPI)
		if code != 0 {
			t.Fatalf("statement --all: exit %d: %s", code, stderr)
		}
		rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
		if err != nil || len(rows) < 4 {
			t.Fatalf("statement --all: %v, %d rows:\n%s", err, len(rows), stdout)
		}
		var problems []string
		var slots node.Page[node.SlotRow]
		getInto(t, base+"/slots?from=0&limit=1000", &slots)
		var fees int64
		for _, s := range slots.Items {
			fees += int64(s.Fees)
		}
		operator := ""
		for _, r := range rows[1:] {
			key := r[0]
			var acct node.AccountInfo
			getInto(t, base+"/accounts/"+key, &acct)
			// One month here: the row's balance is the month's end.
			if got, want := r[10], fmt.Sprint(int64(acct.Balance)); got != want {
				problems = append(problems, fmt.Sprintf("--all: account %s (%s) balance %s; on chain %s", key[:8], r[1], got, want))
			}
			// And the account's own statement, as CSV.
			out, _, code := gridmesh(t, "statement", "--account", key, "--format", "csv", "--api", authAPI)
			lines, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if code != 0 || err != nil || len(lines) < 2 {
				problems = append(problems, fmt.Sprintf("statement --account %s: exit %d, %v", key[:8], code, err))
				continue
			}
			total := lines[len(lines)-1]
			if total[0] != "total" || total[10] != fmt.Sprint(int64(acct.Balance)) {
				problems = append(problems, fmt.Sprintf("statement --account %s: total row %v; want balance %d", key[:8], total, acct.Balance))
			}
			for _, role := range acct.Roles {
				if role == "operator" {
					operator = key
					if f, _ := strconv.ParseInt(total[8], 10, 64); f != fees {
						problems = append(problems, fmt.Sprintf("operator: fees %d in its statement; %d in all settlements", f, fees))
					}
				}
			}
		}
		var st1 node.Status
		getInto(t, base+"/status", &st1)
		if st1.Height != st0.Height && try < 20 {
			continue // the chain moved while we read
		}
		for _, p := range problems {
			t.Error(p)
		}
		if operator == "" || fees == 0 {
			t.Errorf("operator %q, fees %d: want the operator among the rows and fees > 0", operator, fees)
		}
		break
	}

	// Usage errors.
	for _, args := range [][]string{
		{"statement"},
		{"statement", "--self", "--all"},
		{"statement", "--all", "--format", "xml"},
		{"statement", "--all", "--from", "yesterday"},
	} {
		if _, _, code := gridmesh(t, args...); code != 2 {
			t.Errorf("gridmesh %v: exit %d; want 2 (usage)", args, code)
		}
	}
}
