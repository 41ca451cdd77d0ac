package node

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/unit"
)

// The read API (GET /api/v1/...): JSON, versioned by its path, every list
// bounded and paginated, integers for money (unit.Money, micro-units) and
// energy (unit.Wh). Bad input gets 400 with the reason, an unknown route 404,
// both as {"error": "..."}. openapi.json describes every route; routes() is
// the one list the mux is built from, and a test checks the two against each
// other.

// route is one registered pattern.
type route struct {
	method, path string // path as in net/http patterns, {name} wildcards
	h            http.HandlerFunc
}

func (n *Node) routes() []route {
	return []route{
		{"GET", "/api/v1/status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, n.Status()) }},
		{"POST", "/api/v1/tx", n.serveTx},
		{"GET", "/api/v1/home", n.serveHome},
		{"GET", "/api/v1/home/power", n.serveHomePower},
		{"GET", "/api/v1/slots", n.serveSlots},
		{"GET", "/api/v1/trades", n.serveTrades},
		{"GET", "/api/v1/accounts/{key}", n.serveAccount},
		{"GET", "/api/v1/accounts/{key}/statement", n.serveStatement},
		{"GET", "/api/v1/statements", n.serveStatements},
		{"GET", "/api/v1/txs/{hash}", n.serveTxByHash},
		{"GET", "/api/v1/search", n.serveSearch},
		{"GET", "/api/v1/blocks", n.serveBlocks},
		{"GET", "/api/v1/blocks/{height}", n.serveBlock},
		{"GET", "/api/v1/peers", n.servePeers},
		{"GET", "/api/v1/authorities", n.serveAuthorities},
		{"GET", "/api/v1/events", n.serveEvents},
		{"GET", "/api/v1/openapi.json", serveOpenAPI},
	}
}

// Bounds of the read API's lists.
const (
	maxSlotRange  = 40_000 // slots one request may span: a year of 15-min slots and some
	defaultPage   = 100
	maxPage       = 1000
	defaultBlocks = 20
	maxBlocks     = 100
)

var errBadParam = errors.New("bad parameter")

func badParam(name, format string, args ...any) error {
	return fmt.Errorf("%w %s: %s", errBadParam, name, fmt.Sprintf(format, args...))
}

// queryLimit reads ?limit in [1, max], def if absent.
func queryLimit(r *http.Request, def, max int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > max {
		return 0, badParam("limit", "want an integer in [1, %d], got %q", max, s)
	}
	return v, nil
}

// parseSlotBound reads a range bound: a slot index ("123"), a date
// ("2026-12-06", midnight UTC) or an RFC 3339 time. A time stands for the
// first slot starting at or after it.
func (n *Node) parseSlotBound(name, s string) (unit.Slot, error) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		if v < 0 || v > 1<<40 {
			return 0, badParam(name, "slot index %d out of range", v)
		}
		return unit.Slot(v), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return 0, badParam(name, "want a slot index, a date (2006-01-02, UTC) or an RFC 3339 time, got %q", s)
		}
	}
	return n.slotFrom(t), nil
}

// slotFrom is the first slot starting at or after t.
func (n *Node) slotFrom(t time.Time) unit.Slot {
	ms := t.UnixMilli()
	s := n.gen.SlotAt(ms)
	if n.gen.SlotStart(s) < ms {
		s++
	}
	return s
}

// slotRange reads ?from and ?to, the half-open slot range [from, to). An
// absent to is the slot after the last cleared or settled one, an absent
// from is def slots before to. It refuses from > to and spans beyond maxSlotRange.
func (n *Node) slotRange(r *http.Request, def unit.Slot) (from, to unit.Slot, err error) {
	q := r.URL.Query()
	st := n.status.Load()
	to = max(st.LastCleared, st.LastSettled) + 1
	if s := q.Get("to"); s != "" {
		if to, err = n.parseSlotBound("to", s); err != nil {
			return 0, 0, err
		}
	}
	from = max(to-def, 0)
	if s := q.Get("from"); s != "" {
		if from, err = n.parseSlotBound("from", s); err != nil {
			return 0, 0, err
		}
	}
	if from > to {
		return 0, 0, badParam("from", "from (slot %d) is after to (slot %d)", from, to)
	}
	if to-from > maxSlotRange {
		return 0, 0, badParam("to", "the range spans %d slots; at most %d", to-from, maxSlotRange)
	}
	return from, to, nil
}

// pathAccount reads the {key} path value: a hex ed25519 public key.
func pathAccount(r *http.Request) (ident.Account, error) {
	return parseAccount("key", r.PathValue("key"))
}

func parseAccount(name, s string) (ident.Account, error) {
	a := ident.Account(strings.ToLower(s))
	if err := a.Check(); err != nil {
		return "", badParam(name, "want a 64-character hex ed25519 public key, got %q", s)
	}
	return a, nil
}

func notFound(w http.ResponseWriter, r *http.Request) {
	httpError(w, http.StatusNotFound, fmt.Errorf("no route %s %s (see /api/v1/openapi.json)", r.Method, r.URL.Path))
}

// utc formats unix ms as RFC 3339 UTC.
func utc(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }
