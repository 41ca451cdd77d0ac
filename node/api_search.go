package node

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gridmesh/gridmesh/ident"
)

// SearchHit is one answer of GET /api/v1/search: a block (Height, Hash), a
// transaction (Hash, Height of its block) or an account (Key, Name).
type SearchHit struct {
	Kind   string  `json:"kind"` // "block", "tx" or "account"
	Height *uint64 `json:"height,omitempty"`
	Hash   string  `json:"hash,omitempty"`
	Key    string  `json:"key,omitempty"`
	Name   string  `json:"name,omitempty"`
}

// Bounds of a search.
const (
	maxSearchQuery = 200 // bytes of ?q
	maxSearchHits  = 50
)

// serveSearch resolves ?q, the explorer's one search box: a height (digits),
// 64 hex characters (a transaction, a block hash or an account key: every
// kind that matches is listed), else a name: the accounts whose name (from
// the genesis, admissions and this node's config) equals q, ignoring case,
// then those whose name contains it, at most maxSearchHits. An empty or
// over-long q is a 400; no match is 200 with no items.
func (n *Node) serveSearch(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" || len(q) > maxSearchQuery {
		httpError(w, http.StatusBadRequest, badParam("q", "want a height, a hash, an account key or a name of 1 to %d bytes, got %d bytes", maxSearchQuery, len(q)))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"query": q, "items": n.search(q)})
}

func (n *Node) search(q string) []SearchHit {
	hits := []SearchHit{}
	idx := n.apiIndex()
	if h, err := strconv.ParseUint(q, 10, 64); err == nil && len(q) < 20 {
		if h <= n.status.Load().Height {
			hits = append(hits, SearchHit{Kind: "block", Height: &h})
		}
		return hits
	}
	if len(q) == 64 {
		if hash, err := ident.ParseHash(strings.ToLower(q)); err == nil {
			if h, ok := idx.txHeight(hash); ok {
				hits = append(hits, SearchHit{Kind: "tx", Hash: hash.String(), Height: &h})
			}
			if h, ok := idx.blockHeight(hash); ok {
				hits = append(hits, SearchHit{Kind: "block", Hash: hash.String(), Height: &h})
			}
			if info, ok := n.account(ident.Account(hash.String())); ok {
				hits = append(hits, SearchHit{Kind: "account", Key: info.Key, Name: info.Name})
			}
			return hits
		}
	}
	return append(hits, idx.byName(q)...)
}

// byName lists the accounts whose name equals q (ignoring case), then those
// whose name contains it, each group by name and key, at most maxSearchHits.
func (x *apiIdx) byName(q string) []SearchHit {
	ql := strings.ToLower(q)
	var exact, part []SearchHit
	x.mu.Lock()
	for a, adm := range x.names {
		name := strings.ToLower(adm.name)
		switch {
		case name == "":
		case name == ql:
			exact = append(exact, SearchHit{Kind: "account", Key: string(a), Name: adm.name})
		case strings.Contains(name, ql):
			part = append(part, SearchHit{Kind: "account", Key: string(a), Name: adm.name})
		}
	}
	x.mu.Unlock()
	order := func(a, b SearchHit) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	}
	slices.SortFunc(exact, order)
	slices.SortFunc(part, order)
	out := append(exact, part...)
	return out[:min(len(out), maxSearchHits)]
}
