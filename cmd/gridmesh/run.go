package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/firmware/sdnotify"
	"github.com/gridmesh/gridmesh/node"
	"github.com/gridmesh/gridmesh/update"
)

const usage = `gridmesh — peer-to-peer energy trading for a neighbourhood microgrid.

Usage:
  gridmesh <command> [flags]

Commands:
  init           create a node key (mode 0600) and a starter node.toml
  run            run one node from its config (gridmesh run -c node.toml)
  demo           run a whole simulated microgrid on this machine
  config check   check a node config and genesis file, explaining every problem
  version        print version, commit, Go version and platform
  market clear   clear a set of orders from a file and print the result
  meter read     read a meter once (Modbus, DSMR, SML, simulator)
  meter scan     find the Modbus meters on a line or gateway
  sim chain      the deterministic chain simulator
  sim p2p        gossip latency and traffic of real hosts on loopback
  bench chain    finality and tx/s of authorities run as processes
  authority      vote to add or remove an authority (as this authority node)
  admit          admit a participant by key or enrolment code (as this authority node)
  activate       vote that a rule change activates at a height (as this authority node)
  keygen         create the node key on the device if missing; print its enrolment code
  doctor         the installer's checklist: config, meter, clock, network, chain, Pi health
  provision      write first-boot files onto a Raspberry Pi OS boot partition
  tariff         set the tariff policy (as this authority node)
  statement      an account's statement, or every account's by month (billing)
  token          print the node's API token (the dashboard's login beyond loopback)
  audit          show every byte this node sent to its peers ([network] audit_file)
  update         check, apply (signed, on trial, rolled back by itself) and status of updates
  release        make a release key; sign a release (on the utility's offline machine)

Run "gridmesh <command> --help" for a command's flags.
`

// intSize is strconv.IntSize; a variable so that tests can check the 32-bit
// refusal on a 64-bit machine.
var intSize = strconv.IntSize

// errNeed64Bit is the one line `run` and `demo` print on a 32-bit platform.
var errNeed64Bit = errors.New("a 64-bit OS is required: badger, the chain and meter store, silently loses data on 32-bit platforms; install 64-bit Raspberry Pi OS (Pi Zero 2 W, 3, 4, 5)")

// require64Bit refuses to go on unless the platform is 64-bit. Call it before
// touching any file.
func require64Bit() error {
	if intSize < 64 {
		return errNeed64Bit
	}
	return nil
}

// run is the whole command: main only calls it. It returns nil when the
// command succeeded or ctx was cancelled by a signal.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("no command given (see gridmesh --help)")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "-help", "--help", "help":
		if cmd == "help" && len(rest) > 0 {
			return run(ctx, append(rest[:1:1], "--help"), stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	case "init":
		return cmdInit(rest, stdout)
	case "run":
		return runSlots(ctx, rest, stdout, stderr, cmdRun) // the update slots: may exec the active slot's binary
	case "update":
		return cmdUpdate(ctx, rest, stdout, stderr)
	case "release":
		return cmdRelease(ctx, rest, os.Stdin, stdout)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "config":
		return cmdConfig(rest, stdout)
	case "version":
		return cmdVersion(rest, stdout)
	case "market":
		return cmdMarket(rest, stdout)
	case "meter":
		return cmdMeter(ctx, rest, stdout)
	case "sim":
		return cmdSim(ctx, rest, stdout)
	case "bench":
		return cmdBench(ctx, rest, stdout, stderr)
	case "authority":
		return cmdAuthority(ctx, rest, stdout)
	case "admit":
		return cmdAdmit(ctx, rest, stdout)
	case "activate":
		return cmdActivate(ctx, rest, stdout)
	case "keygen":
		return cmdKeygen(rest, stdout)
	case "doctor":
		return cmdDoctor(ctx, rest, stdout)
	case "provision":
		return cmdProvision(rest, stdout)
	case "tariff":
		return cmdTariff(ctx, rest, stdout)
	case "statement":
		return cmdStatement(ctx, rest, stdout)
	case "token":
		return cmdToken(rest, stdout)
	case "audit":
		return cmdAudit(rest, stdout)
	default:
		return usagef("unknown command %q (see gridmesh --help)", cmd)
	}
}

// errHelp means --help was given and the usage has been printed.
var errHelp = errors.New("help printed")

// command is one subcommand's flags and help text.
type command struct {
	name     string // as typed: "demo", "config check"
	synopsis string // flags summary after the name
	about    string // what it does, a few lines
	fs       *flag.FlagSet
}

func newCommand(name, synopsis, about string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &command{name: name, synopsis: synopsis, about: about, fs: fs}
}

// parse parses args. --help prints the usage to stdout and returns errHelp;
// a bad flag or a stray argument is a usage error.
func (c *command) parse(args []string, stdout io.Writer) error {
	err := c.fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		c.printUsage(stdout)
		return errHelp
	}
	if err != nil {
		return usagef("%s: %v (see gridmesh %s --help)", c.name, err, c.name)
	}
	if c.fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q (see gridmesh %s --help)", c.name, c.fs.Arg(0), c.name)
	}
	return nil
}

func (c *command) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: gridmesh %s %s\n\n%s\n", c.name, c.synopsis, strings.TrimSpace(c.about))
	n := 0
	c.fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		c.fs.SetOutput(w)
		c.fs.PrintDefaults()
		c.fs.SetOutput(io.Discard)
	}
}

// isSet reports whether the flag name was given on the command line.
func (c *command) isSet(name string) bool {
	set := false
	c.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// done turns errHelp into success.
func done(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

// runNode runs one node from the config file at path (`gridmesh run -c
// path`) and, when systemd started it (Type=notify, firmware/gridmesh.service),
// tells systemd READY=1 once the node's chain is loaded, its p2p host is up
// and its loop runs (node.Options.Ready), pets the watchdog from the loop
// itself (node.Options.Heartbeat: a stuck loop stops the pings and systemd
// restarts the node after WatchdogSec) and says STOPPING=1 on the way out.
func runNode(ctx context.Context, path string, stdout, stderr io.Writer) error {
	sd, err := sdnotify.FromEnv(false)
	if err != nil {
		return err
	}
	defer sd.Close()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := config.LoadNode(path)
	if err != nil {
		return err
	}
	limit := setMemoryLimit(cfg.Node.MemoryLimit())
	var n *node.Node
	// The node serves the releases its update slots hold to its peers
	// (update/1), so that a neighbour with no route to a download server
	// can take them (gridmesh update apply --from-peer).
	opts := node.Options{Log: log, Heartbeat: sd.Heartbeat, Releases: update.NewServer(slotsFor(cfg), platform(), 0), Version: runningVersion()}
	opts.Ready = func() {
		// n is set: Ready is called from Run, which starts after Load returned.
		st := n.Status()
		status := fmt.Sprintf("%s %s at height %d, API %s", cfg.Node.Role, cfg.Node.Name, st.Height, n.StatusURL())
		if err := sd.Ready(status); err != nil {
			log.Warn("cannot tell systemd the node is ready", "err", err)
		}
	}
	sd.Status("loading the chain and starting the p2p host")
	n, err = node.Load(ctx, path, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "gridmesh %s node %s (%s), status at %s\n", cfg.Node.Role, cfg.Node.Name, n.Status().NodeID, n.StatusURL())
	// Logged once the node is up: a node that cannot start says one line,
	// its error.
	log.Info("memory limit", "mib", limit>>20, "from_env", os.Getenv("GOMEMLIMIT") != "")
	defer sd.Stopping()
	return n.Run(ctx)
}
