package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/node"
	"github.com/gridmesh/gridmesh/unit"
)

// The operator commands act as the account of the node configured with -c: they
// sign a transaction with its key and post it to its API (node.Submit). The node
// must be running; it checks the transaction against the chain before it gossips
// it, so a refusal names the rule that was broken.

func cmdAuthority(ctx context.Context, args []string, stdout io.Writer) error {
	c := newCommand("authority", "add|remove KEY [-c node.toml] [--api HOST:PORT]", `
Vote, as this authority node, to add KEY (an ed25519 public key in hex, as
"gridmesh init" prints it) to the authority set or to remove it. A change takes
effect when more than 2/3 of the current authorities have voted for it, two
blocks after the block that decided it. A removal may not leave fewer than 4
authorities (1 on a development network). Check "authorities" in the status.`)
	path := c.fs.String("c", "node.toml", "the node config file (its key signs the vote)")
	api := c.fs.String("api", "", "the node's API as host:port (default: api.listen of the config)")
	if len(args) < 2 || (args[0] != "add" && args[0] != "remove") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			c.printUsage(stdout)
			return nil
		}
		return usagef("authority: expected add|remove KEY (see gridmesh authority --help)")
	}
	op, key := args[0], ident.Account(args[1])
	if err := c.parse(args[2:], stdout); err != nil {
		return done(err)
	}
	if err := key.Check(); err != nil {
		return usagef("authority %s: KEY: %v", op, err)
	}
	h, err := node.Submit(ctx, *path, *api, chain.Tx{Kind: chain.TxAuthority, Authority: &chain.AuthorityChange{Add: op == "add", Key: key}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "vote to %s %s submitted: tx %s\n", op, key, h)
	return nil
}

func cmdAdmit(ctx context.Context, args []string, stdout io.Writer) error {
	c := newCommand("admit", "KEY|CODE [--name N] [-c node.toml] [--api HOST:PORT]", `
Admit, as this authority node, the participant KEY (a home's public key in hex,
as "gridmesh init" prints it) or CODE (its enrolment code, XXXX-XXXX-..., as
the device shows it in "gridmesh doctor"; a mistyped code is refused): from
the next block its orders and attestations are accepted.`)
	path := c.fs.String("c", "node.toml", "the node config file (its key signs the admission)")
	api := c.fs.String("api", "", "the node's API as host:port (default: api.listen of the config)")
	name := c.fs.String("name", "", "a name for the participant (at most 64 bytes), e.g. the street address")
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 0 {
			c.printUsage(stdout)
			return nil
		}
		return usagef("admit: expected KEY (see gridmesh admit --help)")
	}
	if err := c.parse(args[1:], stdout); err != nil {
		return done(err)
	}
	key, err := participantKey(args[0])
	if err != nil {
		return usagef("admit: KEY: %v", err)
	}
	h, err := node.Submit(ctx, *path, *api, chain.Tx{Kind: chain.TxAdmit, Admit: &chain.Admit{Participant: key, Name: *name}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "admission of %s submitted: tx %s\n", key, h)
	return nil
}

func cmdTariff(ctx context.Context, args []string, stdout io.Writer) error {
	c := newCommand("tariff", "--floor P --ceiling P --fee P --seq N [-c node.toml] [--api HOST:PORT]", `
Set, as this authority node, the network's tariff policy: prices in micro-units
of the currency per kWh (150000 = 0.15/kWh). Orders must lie in [floor,
ceiling]; a trade's seller receives the price minus the fee. --seq must exceed
the current policy's sequence number (genesis has 0).`)
	path := c.fs.String("c", "node.toml", "the node config file (its key signs the policy)")
	api := c.fs.String("api", "", "the node's API as host:port (default: api.listen of the config)")
	floor := c.fs.Int64("floor", -1, "feed-in price: the lowest order price")
	ceiling := c.fs.Int64("ceiling", -1, "retail price: the highest order price")
	fee := c.fs.Int64("fee", -1, "grid fee per kWh traded")
	seq := c.fs.Uint64("seq", 0, "sequence number, greater than the current policy's")
	late := c.fs.Int64("late", 0, "late window in seconds: how long a slot missing a home's attestation waits for it (the policy is replaced whole: give it again to keep it)")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	if *floor < 0 || *ceiling < 0 || *fee < 0 || *seq == 0 {
		return usagef("tariff: --floor, --ceiling, --fee (>= 0) and --seq (> 0) are all required")
	}
	if *late < 0 || *late > chain.MaxLateSeconds {
		return usagef("tariff: --late must be from 0 to %d seconds", chain.MaxLateSeconds)
	}
	t := &chain.Tariff{Floor: unit.Price(*floor), Ceiling: unit.Price(*ceiling), Fee: unit.Price(*fee), Seq: *seq, LateSeconds: *late}
	h, err := node.Submit(ctx, *path, *api, chain.Tx{Kind: chain.TxTariff, Tariff: t})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tariff %d (floor %s, ceiling %s, fee %s, late window %d s) submitted: tx %s\n", *seq, t.Floor, t.Ceiling, t.Fee, t.LateSeconds, h)
	return nil
}

func cmdActivate(ctx context.Context, args []string, stdout io.Writer) error {
	names, about := chain.KnownUpgrades()
	var known strings.Builder
	for i, n := range names {
		fmt.Fprintf(&known, "\n  %-20s %s", n, about[i])
	}
	c := newCommand("activate", "NAME --height H [-c node.toml] [--api HOST:PORT]", `
Vote, as this authority node, that the rule change NAME activates at block
height H. It is scheduled when more than 2/3 of the authorities have voted
for the same NAME and H, and applies to every block from H on. Vote only
when every node of the network runs a release that knows NAME (roll the
update out node by node first: README, Upgrading a network): a node that
does not know it stops at H and asks to be updated. H must be at least 2
above the current height; choose it far enough ahead for every authority
to vote. Check "upgrades" in the status. Upgrades this release knows:`+known.String())
	path := c.fs.String("c", "node.toml", "the node config file (its key signs the vote)")
	api := c.fs.String("api", "", "the node's API as host:port (default: api.listen of the config)")
	height := c.fs.Uint64("height", 0, "the block height from which the rule applies")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		c.printUsage(stdout)
		return nil
	}
	if len(args) < 1 || strings.HasPrefix(args[0], "-") {
		return usagef("activate: expected NAME --height H (see gridmesh activate --help)")
	}
	name := args[0]
	if err := c.parse(args[1:], stdout); err != nil {
		return done(err)
	}
	if !slices.Contains(names, name) {
		return usagef("activate: this release does not know upgrade %q (it knows %s)", name, strings.Join(names, ", "))
	}
	if *height == 0 {
		return usagef("activate %s: --height H is required", name)
	}
	h, err := node.Submit(ctx, *path, *api, chain.Tx{Kind: chain.TxUpgrade, Upgrade: &chain.UpgradeVote{Name: name, Height: *height}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "vote to activate %s at height %d submitted: tx %s\n", name, *height, h)
	return nil
}
