package config

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
)

// ReadNode is LoadNode for checkers: with the error it also returns what the
// file's keys decoded to (defaults where a key has a problem), so that
// `gridmesh config check` can go on to the genesis and key files the config
// names and report every problem at once. A file that cannot be read or is
// not TOML gives Node{} and that one error.
func ReadNode(path string) (Node, error) {
	m, order, err := readTOML(path)
	if err != nil {
		return Node{}, err
	}
	p := &problems{file: path, order: order}
	n := DefaultNode()
	p.checkVersion(m)
	p.decodeTable("", m, reflect.ValueOf(&n).Elem())
	n.validate(p)
	n.Dir = filepath.Dir(path)
	return n, p.err()
}

// CheckTrading reports the homeowner's trading limits that the network's
// tariff makes useless: a buy limit below the tariff's floor (no order could
// ever buy) and a sell limit above its ceiling (none could ever sell). name
// is the node config's file, gname the genesis file's; the tariff is the one
// genesis sets (an operator may have changed it on chain since).
func (n Node) CheckTrading(name string, g Genesis, gname string) error {
	p := &problems{file: name}
	if !n.Trading.Enabled || n.Node.Role != RoleHome {
		return nil
	}
	t := g.Tariff
	if n.Trading.BuyMaxPrice < t.Floor {
		p.add("trading.buy_max_price", "expected at least the network's tariff floor %d (tariff.floor in %s), got %d: no buy order could ever be placed",
			int64(t.Floor), gname, int64(n.Trading.BuyMaxPrice))
	}
	if n.Trading.SellMinPrice > t.Ceiling {
		p.add("trading.sell_min_price", "expected at most the network's tariff ceiling %d (tariff.ceiling in %s), got %d: no sell order could ever be placed",
			int64(t.Ceiling), gname, int64(n.Trading.SellMinPrice))
	}
	if n.Flex.Present() && n.Flex.MaxPrice < t.Floor {
		p.add("flex.max_price", "expected at least the network's tariff floor %d (tariff.floor in %s), got %d: the flexible load could never buy",
			int64(t.Floor), gname, int64(n.Flex.MaxPrice))
	}
	return p.err()
}

// APITokenFile is the login token's file beside node.toml (node/web's
// TokenFile; cmd/gridmesh tests that the two agree).
const APITokenFile = "api.token"

// CheckHost reports what only this machine can tell about a valid config: a
// data directory path that is a file, and an API listening beyond loopback
// without a login token the node could ask for (api.token beside node.toml,
// mode 0600; `gridmesh token` makes it), or with one that others may read.
func (n Node) CheckHost(name string) error {
	p := &problems{file: name}
	data := n.Path(n.Node.Data)
	if st, err := os.Stat(data); err == nil && !st.IsDir() {
		p.add("node.data", "expected a directory (or a path that does not exist yet), got the %s %s", describeMode(st.Mode()), data)
	}
	if host, _, err := net.SplitHostPort(n.API.Listen); err == nil && !loopback(host) {
		tok := n.Path(APITokenFile)
		st, err := os.Stat(tok)
		switch {
		case err != nil:
			p.add("api.listen", "expected a login token for an API beyond loopback (%q), found none at %s: run `gridmesh token -c %s` to make it, or listen on a loopback address such as \"127.0.0.1:8080\"", n.API.Listen, tok, name)
		case st.Mode().Perm()&0o077 != 0:
			p.add("api.listen", "expected the login token %s readable by its owner only (mode 0600), got %v: chmod 600 %s", tok, st.Mode().Perm(), tok)
		}
	}
	return p.err()
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
