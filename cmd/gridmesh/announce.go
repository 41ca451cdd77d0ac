package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/node"
	"github.com/gridmesh/gridmesh/update"
)

// cmdReleaseAnnounce is `gridmesh release announce`: an authority's vote
// that the network moves to a release (chain/release.go).
func cmdReleaseAnnounce(ctx context.Context, args []string, stdout io.Writer) error {
	c := newCommand("release announce", "DIR|MANIFEST [-c node.toml] [--api HOST:PORT]", `
Vote, as this authority node, that the network moves to the release in DIR
(its manifest.json and manifest.json.minisig, as gridmesh release sign
wrote them) or of the manifest file MANIFEST. The vote names the release's
version and the sha256 of its manifest; the release is announced when more
than 2/3 of the authorities have voted for the same manifest. Homes with
[updates] auto = true then ask their peers for exactly that manifest,
verify it with the release keys and install it on trial; every home shows
"announced" in its status. The manifest must verify with the release keys
in force (genesis.toml's, or those the authorities voted), so that a
release nobody can install is not announced. Needs upgrade release-votes in
force (gridmesh activate release-votes --height H, once every node runs a
release that knows it).`)
	path := c.fs.String("c", "node.toml", "the node config file (its key signs the vote)")
	api := c.fs.String("api", "", "the node's API as host:port (default: api.listen of the config)")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		c.printUsage(stdout)
		return nil
	}
	if len(args) < 1 || strings.HasPrefix(args[0], "-") {
		return usagef("release announce: expected DIR or MANIFEST (see gridmesh release announce --help)")
	}
	from := args[0]
	if err := c.parse(args[1:], stdout); err != nil {
		return done(err)
	}
	if st, err := os.Stat(from); err == nil && st.IsDir() {
		from = filepath.Join(from, "manifest.json")
	}
	manifest, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("release announce: %w", err)
	}
	sig, err := os.ReadFile(from + ".minisig")
	if err != nil {
		return fmt.Errorf("release announce: the signature: %w", err)
	}
	n, err := config.LoadNode(*path)
	if err != nil {
		return err
	}
	keys, err := releaseKeys(n)
	if err != nil {
		return err
	}
	m, err := update.Verify(keys, manifest, sig)
	if err != nil {
		return fmt.Errorf("release announce: %s: %w", from, err)
	}
	sum := ident.Hash(sha256.Sum256(manifest))
	h, err := node.Submit(ctx, *path, *api, chain.Tx{Kind: chain.TxRelease, Release: &chain.ReleaseVote{Version: m.Version, Manifest: &sum}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "vote to announce %s (manifest sha256 %s) submitted: tx %s\n", m.Version, sum, h)
	return nil
}

// cmdReleaseKeys is `gridmesh release keys`: an authority's vote that
// replaces the release keys.
func cmdReleaseKeys(ctx context.Context, args []string, stdout io.Writer) error {
	c := newCommand("release keys", "KEY... [-c node.toml] [--api HOST:PORT]", `
Vote, as this authority node, that the release keys become KEY... (1 to 8
minisign public keys: the second line of each minisign.pub, starting RW).
When more than 2/3 of the authorities have voted for the same set, only
releases signed by one of them are installed from then on: a release
signed by a key of genesis.toml's [updates] or of an earlier vote is
refused. One authority (or one stolen release key) cannot do it alone.
Needs upgrade release-votes in force.`)
	path := c.fs.String("c", "node.toml", "the node config file (its key signs the vote)")
	api := c.fs.String("api", "", "the node's API as host:port (default: api.listen of the config)")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		c.printUsage(stdout)
		return nil
	}
	var keys []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		keys, args = append(keys, args[0]), args[1:]
	}
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	if len(keys) == 0 || len(keys) > chain.MaxReleaseKeys {
		return usagef("release keys: expected 1 to %d minisign public keys (see gridmesh release keys --help)", chain.MaxReleaseKeys)
	}
	if _, err := update.ParseKeys(keys); err != nil {
		return usagef("release keys: %v", err)
	}
	slices.Sort(keys)
	if len(slices.Compact(slices.Clone(keys))) != len(keys) {
		return usagef("release keys: a key is given twice")
	}
	h, err := node.Submit(ctx, *path, *api, chain.Tx{Kind: chain.TxRelease, Release: &chain.ReleaseVote{Keys: keys}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "vote for the release keys %s submitted: tx %s\n", strings.Join(keys, ", "), h)
	return nil
}

// releaseKeys are the release keys in force for node n: those the
// authorities voted, as the running node last wrote them to its slots
// (network.json), else genesis.toml's [updates] keys.
func releaseKeys(n config.Node) (update.Keys, error) {
	g, err := config.LoadGenesis(n.Path(n.Network.Genesis))
	if err != nil {
		return nil, err
	}
	if net, ok, err := slotsFor(n).LoadNetwork(); err != nil {
		return nil, err
	} else if ok && net.ChainID == g.ChainID && len(net.Keys) > 0 {
		return update.ParseKeys(net.Keys)
	}
	return update.ParseKeys(g.Updates.Keys)
}
