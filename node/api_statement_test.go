package node

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/unit"
)

// refStatement is the statement the handler made before it streamed, kept
// as the reference: a Statement built line by line, the opening balance
// always from the lines before from, each line's price from its slot's
// clearing result (chain.Result), not from the account index.
func refStatement(n *Node, a ident.Account, from, to unit.Slot, loc *time.Location) Statement {
	st := Statement{Account: string(a), From: int64(from), To: int64(to), Zone: loc.String(), Lines: []StatementLine{}}
	last := n.chain.Status().LastSettled
	lo, hi := max(from, 0), min(to, last+1)
	for _, l := range n.chain.Statement(a, 0, lo) {
		st.Opening += l.Net
	}
	bal := st.Opening
	st.Total.Slot = -1
	for _, l := range n.chain.Statement(a, lo, hi) {
		bal += l.Net
		res, _ := n.chain.Result(l.Slot)
		start := n.gen.SlotStart(l.Slot)
		st.Lines = append(st.Lines, StatementLine{Slot: int64(l.Slot), StartUTC: utc(start), Local: time.UnixMilli(start).In(loc).Format(time.RFC3339),
			Bought: l.Bought, Sold: l.Sold, Price: res.Price, Paid: l.Paid, Received: l.Received, Fees: l.Fees, Net: l.Net, Balance: bal})
		t := &st.Total
		t.Bought, t.Sold, t.Paid, t.Received, t.Fees, t.Net = t.Bought+l.Bought, t.Sold+l.Sold, t.Paid+l.Paid, t.Received+l.Received, t.Fees+l.Fees, t.Net+l.Net
	}
	st.Total.Balance = bal
	return st
}

// refCSV is st as encoding/csv writes it: a header, a row per line, a total.
func refCSV(st Statement) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	row := func(slot, start, local string, l StatementLine) {
		f := []string{slot, start, local}
		for _, v := range []int64{int64(l.Bought), int64(l.Sold), int64(l.Price), int64(l.Paid), int64(l.Received), int64(l.Fees), int64(l.Net), int64(l.Balance)} {
			f = append(f, strconv.FormatInt(v, 10))
		}
		_ = w.Write(f)
	}
	_ = w.Write(StatementCSVHeader)
	for _, l := range st.Lines {
		row(strconv.FormatInt(l.Slot, 10), l.StartUTC, l.Local, l)
	}
	row("total", "", "", st.Total)
	w.Flush()
	return b.String()
}

// TestStatementOutput: the streamed statement is byte for byte what
// encoding/json (JSON) and encoding/csv (CSV) make of the reference
// statement, for the buyer, the seller, the operator and an account that
// never traded, over whole and partial ranges (the opening balance taken
// from either side), in UTC and in a zone whose offset changes within the
// history (Europe/Berlin leaves summer time on 2026-10-25), and the month
// rows of GET /api/v1/statements. The CSV parses
// back with encoding/csv to as many rows.
func TestStatementOutput(t *testing.T) {
	const slots = 800
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Date(2026, 10, 24, 22, 0, 0, 0, time.UTC).Unix() // 200 h: across the change at 01:00 UTC and into November
	n, self := buildHistory(t, slots, "", epoch)
	defer n.chain.Close()
	h := n.guard(n.handler())
	var seller ident.Account
	for a := range n.chain.Balances() {
		if a != self && a != n.gen.Operator {
			seller = a
		}
	}
	never := ident.Account(strings.Repeat("ab", 32))
	prices := map[unit.Price]bool{}
	for _, a := range []ident.Account{self, seller, n.gen.Operator, never} {
		for _, r := range [][2]unit.Slot{{0, slots + 10}, {1, 50}, {slots - 20, slots + 2}, {slots - 3, slots - 3}, {slots + 5, slots + 9}} {
			for _, loc := range []*time.Location{time.UTC, berlin} {
				ref := refStatement(n, a, r[0], r[1], loc)
				for _, l := range ref.Lines {
					prices[l.Price] = true
				}
				want, _ := json.Marshal(ref)
				url := fmt.Sprintf("/api/v1/accounts/%s/statement?from=%d&to=%d&tz=%s", a, r[0], r[1], loc)
				if got := get(t, h, url); got != string(want)+"\n" {
					t.Errorf("GET %s:\n got %.600s\nwant %.600s", url, got, want)
				}
				got := get(t, h, url+"&format=csv")
				if want := refCSV(ref); got != want {
					t.Errorf("GET %s&format=csv:\n got %.600q\nwant %.600q", url, got, want)
				}
				rows, err := csv.NewReader(strings.NewReader(got)).ReadAll()
				if err != nil || len(rows) != len(ref.Lines)+2 {
					t.Errorf("GET %s&format=csv: %d rows, %v; want %d", url, len(rows), err, len(ref.Lines)+2)
				}
			}
		}
	}
	// The utility's months: each account's lines by UTC month, as the
	// reference statement has them.
	var months struct {
		Items []MonthRow `json:"items"`
	}
	if err := json.Unmarshal([]byte(get(t, h, fmt.Sprintf("/api/v1/statements?period=month&from=0&to=%d", slots+10))), &months); err != nil {
		t.Fatal(err)
	}
	var want []MonthRow
	for _, a := range []ident.Account{n.gen.Operator, self, seller} {
		for _, l := range refStatement(n, a, 0, slots+10, time.UTC).Lines {
			if len(want) == 0 || want[len(want)-1].Account != string(a) || want[len(want)-1].Month != l.StartUTC[:7] {
				want = append(want, MonthRow{Account: string(a), Month: l.StartUTC[:7]})
			}
			m := &want[len(want)-1]
			m.Slots++
			m.Bought, m.Sold, m.Paid, m.Received, m.Fees, m.Net, m.Balance = m.Bought+l.Bought, m.Sold+l.Sold, m.Paid+l.Paid, m.Received+l.Received, m.Fees+l.Fees, m.Net+l.Net, l.Balance
		}
	}
	got := months.Items
	for i := range got {
		got[i].Name = ""
	}
	slices.SortFunc(want, func(x, y MonthRow) int { return strings.Compare(x.Account+x.Month, y.Account+y.Month) })
	if !slices.Equal(got, want) || len(want) < 6 {
		t.Errorf("GET statements?period=month:\n got %+v\nwant %+v (two months each)", got, want)
	}
	if len(prices) < 3 {
		t.Errorf("the lines have %d distinct prices; the history should vary them", len(prices))
	}
	if ref := refStatement(n, self, 0, slots+10, berlin); len(ref.Lines) < slots-2 ||
		!strings.HasSuffix(ref.Lines[0].Local, "+02:00") || !strings.HasSuffix(ref.Lines[len(ref.Lines)-1].Local, "+01:00") {
		t.Errorf("the history does not cross the change of offset: %d lines, %+v", len(ref.Lines), ref.Lines[:min(len(ref.Lines), 1)])
	}
}

// get is the body of GET url on h, which must answer 200.
func get(t *testing.T, h http.Handler, url string) string {
	t.Helper()
	req := httptest.NewRequest("GET", url, nil)
	req.Host = "127.0.0.1"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("GET %s: %d %s", url, w.Code, w.Body.String())
	}
	return w.Body.String()
}
