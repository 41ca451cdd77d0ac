package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"

	"github.com/gridmesh/gridmesh/config"
)

// checked is what checkConfig found: the config as far as it decoded, its
// genesis and key where they loaded, and every problem, each naming its file.
type checked struct {
	node    config.Node
	gen     *config.Genesis    // nil if it did not load
	key     ed25519.PrivateKey // nil if it did not load
	errs    []error            // config and genesis problems, all of them
	keyErr  error              // the key file's problem, kept apart: doctor tells a key not made yet from a broken config
	gpath   string
	decoded bool // the config file was read and parsed as TOML
}

// checkConfig checks the node config at path, the genesis it names (or
// gpath if not empty), its key, the trading limits against the genesis
// tariff, and what only this host can tell (data path, API exposure). It
// goes on past the first problem of any kind.
func checkConfig(path, gpath string) checked {
	var c checked
	n, err := config.ReadNode(path)
	c.node, c.decoded = n, n.Dir != ""
	if err != nil {
		c.errs = append(c.errs, err)
	}
	if !c.decoded {
		return c
	}
	if gpath == "" {
		gpath = n.Path(n.Network.Genesis)
	}
	c.gpath = gpath
	if g, err := config.LoadGenesis(gpath); err != nil {
		c.errs = append(c.errs, err)
	} else {
		c.gen = &g
		if err := n.CheckTrading(path, g, gpath); err != nil {
			c.errs = append(c.errs, err)
		}
	}
	if err := n.CheckHost(path); err != nil {
		c.errs = append(c.errs, err)
	}
	if k, err := config.LoadKey(n.Path(n.Node.Key)); err != nil {
		c.keyErr = err
	} else {
		c.key = k
	}
	if c.gen != nil && c.key != nil && n.Node.Role == config.RoleAuthority {
		pub := hex.EncodeToString(c.key.Public().(ed25519.PublicKey))
		listed := false
		for _, a := range c.gen.Authorities {
			listed = listed || a.Key == pub
		}
		if !listed {
			c.errs = append(c.errs, fmt.Errorf("%s: node.role: expected this authority's key %s among the authorities of %s, got none with it", path, pub, gpath))
		}
	}
	return c
}
