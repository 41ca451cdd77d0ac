package node

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/unit"
)

// Statement is the body of GET /api/v1/accounts/{key}/statement: one line per
// settled slot of [From, To) the account took part in, in slot order, and
// their total. Opening is the account's balance before From (the sum of its
// lines before), Closing = Opening + Total.Net; over all time (from 0) the
// closing balance is the account's balance on chain once To is past the last
// settled slot.
type Statement struct {
	Account string          `json:"account"`
	From    int64           `json:"from"`
	To      int64           `json:"to"`
	Zone    string          `json:"zone"` // of the lines' local times
	Opening unit.Money      `json:"opening_balance"`
	Lines   []StatementLine `json:"lines"`
	Total   StatementLine   `json:"total"` // Slot -1, no times, Price 0, Balance the closing balance
}

// StatementLine is one settled slot of a Statement; money in micro-units,
// energy in Wh.
type StatementLine struct {
	Slot     int64      `json:"slot"`
	StartUTC string     `json:"start_utc,omitempty"`
	Local    string     `json:"start_local,omitempty"`
	Bought   unit.Wh    `json:"bought_wh"`
	Sold     unit.Wh    `json:"sold_wh"`
	Price    unit.Price `json:"price"` // the slot's clearing price per kWh
	Paid     unit.Money `json:"paid"`
	Received unit.Money `json:"received"`
	Fees     unit.Money `json:"fees"` // received as the operator
	Net      unit.Money `json:"net"`
	Balance  unit.Money `json:"balance"` // running, after this slot
}

// statement builds a's statement of [from, to) in zone loc.
func (n *Node) statement(a ident.Account, from, to unit.Slot, loc *time.Location) Statement {
	st := Statement{Account: string(a), From: int64(from), To: int64(to), Zone: loc.String(), Lines: []StatementLine{}}
	n.mu.RLock()
	defer n.mu.RUnlock()
	last := n.chain.Status().LastSettled
	lo, hi := max(from, 0), min(to, last+1)
	lines, prices := n.statementPriced(a, lo, hi)
	// The opening balance: the lines before from, or the balance on chain
	// less the lines from from on, whichever spans fewer slots (the index
	// reads an account's lines by range, so that is the cost).
	if lo <= last+1-hi {
		for _, l := range n.statementLines(a, 0, lo) {
			st.Opening += l.Net
		}
	} else {
		st.Opening = n.chain.Balances()[a]
		for _, l := range lines {
			st.Opening -= l.Net
		}
		for _, l := range n.statementLines(a, hi, last+1) {
			st.Opening -= l.Net
		}
	}
	bal := st.Opening
	st.Total.Slot = -1
	st.Lines = make([]StatementLine, 0, len(lines))
	for i, l := range lines {
		bal += l.Net
		start := n.gen.SlotStart(l.Slot)
		line := StatementLine{Slot: int64(l.Slot), StartUTC: utc(start), Local: time.UnixMilli(start).In(loc).Format(time.RFC3339),
			Bought: l.Bought, Sold: l.Sold, Price: prices[i], Paid: l.Paid, Received: l.Received, Fees: l.Fees, Net: l.Net, Balance: bal}
		st.Lines = append(st.Lines, line)
		t := &st.Total
		t.Bought += l.Bought
		t.Sold += l.Sold
		t.Paid += l.Paid
		t.Received += l.Received
		t.Fees += l.Fees
		t.Net += l.Net
	}
	st.Total.Balance = bal
	return st
}

// statementQuery reads ?from, ?to (default: all settled slots), ?format
// (json or csv) and ?tz (an IANA zone for the local times; default the
// node's).
func (n *Node) statementQuery(r *http.Request) (from, to unit.Slot, format string, loc *time.Location, err error) {
	q := r.URL.Query()
	if q.Get("from") == "" {
		q.Set("from", "0")
		r.URL.RawQuery = q.Encode()
	}
	if from, to, err = n.slotRange(r, 0); err != nil {
		return
	}
	format = q.Get("format")
	switch format {
	case "":
		format = "json"
	case "json", "csv":
	default:
		err = badParam("format", "want csv or json, got %q", format)
		return
	}
	loc = time.Local
	if z := q.Get("tz"); z != "" {
		if loc, err = time.LoadLocation(z); err != nil {
			err = badParam("tz", "want an IANA time zone, got %q", z)
		}
	}
	return
}

func (n *Node) serveStatement(w http.ResponseWriter, r *http.Request) {
	a, err := pathAccount(r)
	var from, to unit.Slot
	var format string
	var loc *time.Location
	if err == nil {
		from, to, format, loc, err = n.statementQuery(r)
	}
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	st := n.statement(a, from, to, loc)
	bw := bufio.NewWriterSize(w, 32<<10)
	defer bw.Flush()
	if format == "json" {
		w.Header().Set("Content-Type", "application/json")
		_ = writeStatementJSON(bw, st)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="statement-%s-%d-%d.csv"`, a[:16], from, to))
	_ = writeStatementCSV(bw, st)
}

// writeStatementJSON writes st as encoding/json would (a test holds it to
// that), without reflection: a year's statement is 35,040 lines.
func writeStatementJSON(w io.Writer, st Statement) error {
	zone, _ := json.Marshal(st.Zone)
	b := make([]byte, 0, 64<<10)
	b = fmt.Appendf(b, `{"account":%q,"from":%d,"to":%d,"zone":%s,"opening_balance":%d,"lines":[`, st.Account, st.From, st.To, zone, st.Opening)
	for i, l := range st.Lines {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLineJSON(b, l)
		if len(b) > 60<<10 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = append(b, `],"total":`...)
	b = appendLineJSON(b, st.Total)
	b = append(b, "}\n"...)
	_, err := w.Write(b)
	return err
}

// appendLineJSON appends l's JSON; its times are RFC 3339 strings, which
// need no escaping.
func appendLineJSON(b []byte, l StatementLine) []byte {
	b = append(b, `{"slot":`...)
	b = strconv.AppendInt(b, l.Slot, 10)
	if l.StartUTC != "" {
		b = append(b, `,"start_utc":"`...)
		b = append(b, l.StartUTC...)
		b = append(b, '"')
	}
	if l.Local != "" {
		b = append(b, `,"start_local":"`...)
		b = append(b, l.Local...)
		b = append(b, '"')
	}
	for _, f := range [...]struct {
		k string
		v int64
	}{{"bought_wh", int64(l.Bought)}, {"sold_wh", int64(l.Sold)}, {"price", int64(l.Price)}, {"paid", int64(l.Paid)},
		{"received", int64(l.Received)}, {"fees", int64(l.Fees)}, {"net", int64(l.Net)}, {"balance", int64(l.Balance)}} {
		b = append(b, `,"`...)
		b = append(b, f.k...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, f.v, 10)
	}
	return append(b, '}')
}

// StatementCSVHeader is the header row of a statement in CSV.
var StatementCSVHeader = []string{"slot", "start_utc", "start_local", "bought_wh", "sold_wh", "price_per_kwh", "paid", "received", "fees", "net", "balance"}

// writeStatementCSV writes st as CSV (RFC 4180, CRLF line ends): a header
// row, one row per line, and a last row "total" with the sums. Money is in
// micro-units (unit.Money), energy in Wh.
func writeStatementCSV(w io.Writer, st Statement) error {
	// Every field is digits, a sign, or an RFC 3339 time: none needs
	// quoting, so rows are appended directly (a test parses them back).
	b := make([]byte, 0, 64<<10)
	for i, h := range StatementCSVHeader {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, h...)
	}
	b = append(b, "\r\n"...)
	row := func(slot, utc, local string, l StatementLine) {
		b = append(b, slot...)
		b = append(b, ',')
		b = append(b, utc...)
		b = append(b, ',')
		b = append(b, local...)
		for _, v := range [...]int64{int64(l.Bought), int64(l.Sold), int64(l.Price), int64(l.Paid), int64(l.Received), int64(l.Fees), int64(l.Net), int64(l.Balance)} {
			b = append(b, ',')
			b = strconv.AppendInt(b, v, 10)
		}
		b = append(b, "\r\n"...)
	}
	for _, l := range st.Lines {
		row(strconv.FormatInt(l.Slot, 10), l.StartUTC, l.Local, l)
		if len(b) > 60<<10 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	row("total", "", "", st.Total)
	_, err := w.Write(b)
	return err
}

// MonthRow is one account's month in GET /api/v1/statements?period=month.
type MonthRow struct {
	Account  string     `json:"account"`
	Name     string     `json:"name,omitempty"`
	Month    string     `json:"month"` // 2006-01, UTC
	Slots    int        `json:"settled_slots"`
	Bought   unit.Wh    `json:"bought_wh"`
	Sold     unit.Wh    `json:"sold_wh"`
	Paid     unit.Money `json:"paid"`
	Received unit.Money `json:"received"`
	Fees     unit.Money `json:"fees"`
	Net      unit.Money `json:"net"`
	Balance  unit.Money `json:"balance"` // at the end of the month
}

// serveStatements gives the utility one row per account and month (UTC) of
// [from, to) for every account with a balance or admitted: ?period=month
// (the only period), ?from, ?to, ?format=json|csv.
func (n *Node) serveStatements(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Query().Get("period"); p != "" && p != "month" {
		httpError(w, http.StatusBadRequest, badParam("period", "want month, got %q", p))
		return
	}
	from, to, format, _, err := n.statementQuery(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	rows := n.monthRows(from, to)
	if format == "json" {
		writeJSON(w, http.StatusOK, map[string]any{"from": from, "to": to, "items": rows})
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	_ = cw.Write([]string{"account", "name", "month", "settled_slots", "bought_wh", "sold_wh", "paid", "received", "fees", "net", "balance"})
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, m := range rows {
		_ = cw.Write([]string{m.Account, m.Name, m.Month, strconv.Itoa(m.Slots), i(int64(m.Bought)), i(int64(m.Sold)),
			i(int64(m.Paid)), i(int64(m.Received)), i(int64(m.Fees)), i(int64(m.Net)), i(int64(m.Balance))})
	}
	cw.Flush()
}

// maxStatementAccounts bounds GET /api/v1/statements.
const maxStatementAccounts = 10_000

func (n *Node) monthRows(from, to unit.Slot) []MonthRow {
	n.mu.RLock()
	accts := map[ident.Account]bool{n.gen.Operator: true}
	for a := range n.chain.Balances() {
		accts[a] = true
	}
	for _, a := range n.chain.Participants() {
		accts[a] = true
	}
	n.mu.RUnlock()
	keys := make([]ident.Account, 0, len(accts))
	for a := range accts {
		keys = append(keys, a)
	}
	slices.Sort(keys)
	keys = keys[:min(len(keys), maxStatementAccounts)]
	idx := n.apiIndex()
	rows := []MonthRow{}
	for _, a := range keys {
		st := n.statement(a, from, to, time.UTC)
		var cur *MonthRow
		name := ""
		if adm, ok := idx.admission(a); ok {
			name = adm.name
		}
		for _, l := range st.Lines {
			month := l.StartUTC[:7]
			if cur == nil || cur.Month != month {
				rows = append(rows, MonthRow{Account: string(a), Name: name, Month: month})
				cur = &rows[len(rows)-1]
			}
			cur.Slots++
			cur.Bought += l.Bought
			cur.Sold += l.Sold
			cur.Paid += l.Paid
			cur.Received += l.Received
			cur.Fees += l.Fees
			cur.Net += l.Net
			cur.Balance = l.Balance
		}
	}
	return rows
}

// statementLines is a's lines of the settled slots in [from, to), read by
// range from the chain's account index (chain.Statement): it costs what it
// returns, not the number of slots. The caller holds n.mu.
func (n *Node) statementLines(a ident.Account, from, to unit.Slot) []chain.StatementLine {
	return n.chain.Statement(a, from, to)
}

// statementPriced is statementLines with each line's slot clearing price
// (market.Result.Price), from the price ring (api_prices.go).
func (n *Node) statementPriced(a ident.Account, from, to unit.Slot) ([]chain.StatementLine, []unit.Price) {
	lines := n.statementLines(a, from, to)
	prices := make([]unit.Price, len(lines))
	n.surf.prices.fill(n.chain, lines, prices)
	return lines, prices
}
