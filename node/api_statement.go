package node

import (
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

// stmtMem is one statement's reusable memory (apiState.stmtMem): the lines
// read from the chain (at most maxSlotRange, 64 bytes each) and the output
// being formatted.
type stmtMem struct {
	lines []chain.StatementLine
	out   []byte
}

// stmtFlush is the output a statement formats before writing it.
const stmtFlush = 32 << 10

func (n *Node) getStmtMem() *stmtMem {
	if m, ok := n.surf.stmtMem.Get().(*stmtMem); ok {
		return m
	}
	return &stmtMem{out: make([]byte, 0, stmtFlush+1024)}
}

// readStatement reads a's lines of the settled slots in [from, to) into
// m.lines, and the opening balance before from, under n.mu: one view of the
// chain, as the statement's contract needs (Opening + the lines' Nets is the
// balance at that view when to is past the last settled slot). The lines
// come from the chain's account index, prices included, so this reads no
// slot's records; formatting them happens after, without the lock.
func (n *Node) readStatement(m *stmtMem, a ident.Account, from, to unit.Slot) (opening unit.Money, err error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	last := n.chain.Status().LastSettled
	lo, hi := max(from, 0), min(to, last+1)
	if m.lines, err = n.chain.AppendStatement(m.lines[:0], a, lo, hi); err != nil {
		return 0, err
	}
	// The opening balance: the lines before from, or the balance on chain
	// less the lines from from on, whichever spans fewer slots (the index
	// reads an account's lines by range, so that is the cost).
	if lo <= last+1-hi {
		before, err := n.chain.StatementSum(a, 0, lo)
		return before.Net, err
	}
	after, err := n.chain.StatementSum(a, hi, last+1)
	opening = n.chain.Balances()[a] - after.Net
	for _, l := range m.lines {
		opening -= l.Net
	}
	return opening, err
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
	m := n.getStmtMem()
	defer n.surf.stmtMem.Put(m)
	opening, err := n.readStatement(m, a, from, to)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, err)
		return
	}
	f := stmtFormat{gen: &n.gen, loc: loc}
	if format == "json" {
		w.Header().Set("Content-Type", "application/json")
		zone, _ := json.Marshal(loc.String())
		m.out = fmt.Appendf(m.out[:0], `{"account":%q,"from":%d,"to":%d,"zone":%s,"opening_balance":%d,"lines":[`, a, from, to, zone, opening)
	} else {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="statement-%s-%d-%d.csv"`, a[:16], from, to))
		f.csv = true
		m.out = appendCSVHeader(m.out[:0])
	}
	_ = f.write(w, m, opening)
}

// stmtFormat writes a statement's lines as JSON (byte for byte what
// encoding/json makes of a Statement; a test holds it to that) or as CSV
// (RFC 4180, CRLF line ends: a header row, one row per line, and a last row
// "total" with the sums; money in micro-units, energy in Wh). A year's
// statement is 35,040 lines: each is appended to one reused buffer with
// strconv and time's Append functions, so a line allocates nothing.
type stmtFormat struct {
	gen *chain.Genesis
	loc *time.Location // of the lines' local times
	csv bool
}

// write appends m.lines after what m.out holds (the JSON head or the CSV
// header), then the total, writing to w every stmtFlush bytes.
func (f stmtFormat) write(w io.Writer, m *stmtMem, opening unit.Money) error {
	bal := opening
	total := StatementLine{Slot: -1}
	for i, l := range m.lines {
		bal += l.Net
		line := StatementLine{Slot: int64(l.Slot), Bought: l.Bought, Sold: l.Sold, Price: l.Price, Paid: l.Paid,
			Received: l.Received, Fees: l.Fees, Net: l.Net, Balance: bal}
		if f.csv {
			m.out = f.appendCSV(m.out, line, true)
		} else {
			if i > 0 {
				m.out = append(m.out, ',')
			}
			m.out = f.appendJSON(m.out, line, true)
		}
		total.Bought += l.Bought
		total.Sold += l.Sold
		total.Paid += l.Paid
		total.Received += l.Received
		total.Fees += l.Fees
		total.Net += l.Net
		if len(m.out) >= stmtFlush {
			if _, err := w.Write(m.out); err != nil {
				return err
			}
			m.out = m.out[:0]
		}
	}
	total.Balance = bal
	if f.csv {
		m.out = f.appendCSV(m.out, total, false)
	} else {
		m.out = append(m.out, `],"total":`...)
		m.out = f.appendJSON(m.out, total, false)
		m.out = append(m.out, "}\n"...)
	}
	_, err := w.Write(m.out)
	return err
}

// appendTimes appends the slot's start in UTC and in f.loc, RFC 3339, each
// after pre and followed by post.
func (f stmtFormat) appendTimes(b []byte, slot int64, pre1, pre2, post string) []byte {
	t := time.UnixMilli(f.gen.SlotStart(unit.Slot(slot)))
	b = append(b, pre1...)
	b = t.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, post...)
	b = append(b, pre2...)
	b = t.In(f.loc).AppendFormat(b, time.RFC3339)
	return append(b, post...)
}

// appendJSON appends l's JSON object, with the slot's times if times (the
// total has none); RFC 3339 times need no escaping.
func (f stmtFormat) appendJSON(b []byte, l StatementLine, times bool) []byte {
	b = append(b, `{"slot":`...)
	b = strconv.AppendInt(b, l.Slot, 10)
	if times {
		b = f.appendTimes(b, l.Slot, `,"start_utc":"`, `,"start_local":"`, `"`)
	}
	for _, x := range [...]struct {
		k string
		v int64
	}{{`,"bought_wh":`, int64(l.Bought)}, {`,"sold_wh":`, int64(l.Sold)}, {`,"price":`, int64(l.Price)}, {`,"paid":`, int64(l.Paid)},
		{`,"received":`, int64(l.Received)}, {`,"fees":`, int64(l.Fees)}, {`,"net":`, int64(l.Net)}, {`,"balance":`, int64(l.Balance)}} {
		b = append(b, x.k...)
		b = strconv.AppendInt(b, x.v, 10)
	}
	return append(b, '}')
}

// StatementCSVHeader is the header row of a statement in CSV.
var StatementCSVHeader = []string{"slot", "start_utc", "start_local", "bought_wh", "sold_wh", "price_per_kwh", "paid", "received", "fees", "net", "balance"}

func appendCSVHeader(b []byte) []byte {
	for i, h := range StatementCSVHeader {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, h...)
	}
	return append(b, "\r\n"...)
}

// appendCSV appends l's row: its slot and times if times, else "total" and
// two empty fields. Every field is digits, a sign, or an RFC 3339 time: none
// needs quoting (a test parses the rows back with encoding/csv).
func (f stmtFormat) appendCSV(b []byte, l StatementLine, times bool) []byte {
	if times {
		b = strconv.AppendInt(b, l.Slot, 10)
		b = f.appendTimes(b, l.Slot, ",", ",", "")
	} else {
		b = append(b, "total,,"...)
	}
	for _, v := range [...]int64{int64(l.Bought), int64(l.Sold), int64(l.Price), int64(l.Paid), int64(l.Received), int64(l.Fees), int64(l.Net), int64(l.Balance)} {
		b = append(b, ',')
		b = strconv.AppendInt(b, v, 10)
	}
	return append(b, "\r\n"...)
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
	m := n.getStmtMem()
	defer n.surf.stmtMem.Put(m)
	for _, a := range keys {
		bal, err := n.readStatement(m, a, from, to)
		if err != nil {
			continue // a closed chain: no rows
		}
		var cur *MonthRow
		name := ""
		if adm, ok := idx.admission(a); ok {
			name = adm.name
		}
		var y int
		var mon time.Month
		for _, l := range m.lines {
			t := time.UnixMilli(n.gen.SlotStart(l.Slot)).UTC()
			if cur == nil || t.Year() != y || t.Month() != mon {
				y, mon = t.Year(), t.Month()
				rows = append(rows, MonthRow{Account: string(a), Name: name, Month: t.Format("2006-01")})
				cur = &rows[len(rows)-1]
			}
			bal += l.Net
			cur.Slots++
			cur.Bought += l.Bought
			cur.Sold += l.Sold
			cur.Paid += l.Paid
			cur.Received += l.Received
			cur.Fees += l.Fees
			cur.Net += l.Net
			cur.Balance = bal
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
