package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
)

// cmdStatement prints a billing statement read from a running node's API
// (GET /api/v1/accounts/{key}/statement, GET /api/v1/statements).
func cmdStatement(ctx context.Context, args []string, stdout io.Writer) error {
	c := newCommand("statement", "--account KEY|--self|--all [--from DATE] [--to DATE] [--period month] [--format csv|json] [-c node.toml] [--api HOST:PORT]", `
Print a statement from the running node configured with -c: one line per
settled slot the account took part in (slot start in UTC and local time,
energy bought and sold in Wh, the slot's price per kWh, paid, received, fees
and net in micro-units of the currency, the running balance) and a total.
With --all, one row per account per month (UTC) instead, for the utility.

DATE is 2006-01-02 (UTC) or an RFC 3339 time; --from is included, --to is
the last day included when it is a date (a time is the exclusive end).
Without --from the statement starts at the first slot, so its total ends at
the account's balance on chain. CSV is RFC 4180.`)
	path := c.fs.String("c", "node.toml", "the node config file")
	api := c.fs.String("api", "", "the node's API as host:port (default: api.listen of the config)")
	account := c.fs.String("account", "", "the account: a public key in hex")
	self := c.fs.Bool("self", false, "the account of the node configured with -c")
	all := c.fs.Bool("all", false, "every account, one row per --period")
	period := c.fs.String("period", "month", "with --all: month (the only period)")
	from := c.fs.String("from", "", "first day (or time) included")
	to := c.fs.String("to", "", "last day included (or exclusive end time)")
	format := c.fs.String("format", "csv", "csv or json")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	if err := checkStatementFlags(*account != "", *self, *all, *format, *period); err != nil {
		return err
	}
	q, err := statementQuery(*format, *from, *to)
	if err != nil {
		return err
	}
	cfg, err := config.LoadNode(*path)
	if err != nil && (*self || *api == "") {
		return err
	}
	if *api == "" {
		*api = cfg.API.Listen
	}
	base, err := statementAPIBase(*api)
	if err != nil {
		return err
	}
	var target string
	switch {
	case *all:
		q.Set("period", *period)
		target = base + "/statements?" + q.Encode()
	default:
		key := ident.Account(*account)
		if *self {
			k, err := config.LoadKey(cfg.Path(cfg.Node.Key))
			if err != nil {
				return err
			}
			key = ident.AccountOf(k.Public().(ed25519.PublicKey))
		}
		if err := key.Check(); err != nil {
			return usagef("statement: --account: %v", err)
		}
		target = base + "/accounts/" + string(key) + "/statement?" + q.Encode()
	}
	return getStatement(ctx, target, base, *path, stdout)
}

// checkStatementFlags checks that exactly one of --account, --self and --all
// is given, and --format and (with --all) --period.
func checkStatementFlags(account, self, all bool, format, period string) error {
	n := 0
	for _, b := range []bool{account, self, all} {
		if b {
			n++
		}
	}
	if n != 1 {
		return usagef("statement: give exactly one of --account KEY, --self or --all")
	}
	if format != "csv" && format != "json" {
		return usagef("statement: --format: expected csv or json, got %q", format)
	}
	if all && period != "month" {
		return usagef("statement: --period: expected month, got %q", period)
	}
	return nil
}

// statementQuery is the query of a statement request: format, and from and
// to when given (to as the exclusive end in RFC 3339, the day after a date).
func statementQuery(format, from, to string) (url.Values, error) {
	q := url.Values{"format": {format}}
	if from != "" {
		if _, err := parseDate(from); err != nil {
			return nil, usagef("statement: --from: %v", err)
		}
		q.Set("from", from)
	}
	if to != "" {
		t, err := parseDate(to)
		if err != nil {
			return nil, usagef("statement: --to: %v", err)
		}
		if _, derr := time.Parse(time.DateOnly, to); derr == nil {
			t = t.AddDate(0, 0, 1) // the last day is included
		}
		q.Set("to", t.UTC().Format(time.RFC3339))
	}
	return q, nil
}

// statementAPIBase is the base URL of the node's API at api (host:port); an
// empty or unspecified host is the loopback address.
func statementAPIBase(api string) (string, error) {
	host, port, err := net.SplitHostPort(api)
	if err != nil {
		return "", fmt.Errorf("API address %q: %w", api, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/api/v1", nil
}

// getStatement fetches target from the node's API at base and copies the
// statement to stdout; path is the config file, for the hint when the node
// does not answer.
func getStatement(ctx context.Context, target, base, path string, stdout io.Writer) error {
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the node's API at %s does not answer (is `gridmesh run -c %s` running?): %w", base, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("statement: the node says: %s", e.Error)
		}
		return fmt.Errorf("statement: HTTP %d from %s", resp.StatusCode, target)
	}
	_, err = io.Copy(stdout, resp.Body)
	return err
}

// parseDate reads 2006-01-02 (UTC midnight) or an RFC 3339 time.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("expected a date 2006-01-02 or an RFC 3339 time, got %q", s)
	}
	return t, nil
}
