package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/firmware/enrol"
	"github.com/gridmesh/gridmesh/node"
	"github.com/gridmesh/gridmesh/node/web"
)

func cmdInit(args []string, stdout io.Writer) error {
	c := newCommand("init", "[--dir D] [--role home|authority] [--name N]", `
Create a node: a new ed25519 node key (node.key, mode 0600), a starter
node.toml and the API token (api.token, mode 0600) in the directory D. The key is the node's peer id and chain account;
init prints its public key, which the network's authority admits. init never
overwrites an existing key or config.

Then copy the network's genesis.toml into D and start the node with
gridmesh run -c D/node.toml.`)
	dir := c.fs.String("dir", ".", "directory for node.key and node.toml (created if missing)")
	role := c.fs.String("role", string(config.RoleHome), `"home" (meter and trading) or "authority" (utility, co-op)`)
	name := c.fs.String("name", "", "the node's name, shown to people (default: this machine's host name)")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	if r := config.Role(*role); r != config.RoleHome && r != config.RoleAuthority {
		return usagef("init: --role: expected \"home\" or \"authority\", got %q", *role)
	}
	if *name == "" {
		*name = defaultName()
	}
	n := config.DefaultNode()
	n.Node.Name, n.Node.Role = *name, config.Role(*role)
	cfgPath := filepath.Join(*dir, "node.toml")
	keyPath := filepath.Join(*dir, n.Node.Key)
	if err := n.Validate(cfgPath); err != nil {
		return err
	}
	for _, p := range []string{keyPath, cfgPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("init: %s already exists; refusing to overwrite it", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("init: %w", err)
		}
	}
	if err := os.MkdirAll(*dir, 0o750); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	priv, err := config.WriteKey(keyPath)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := writeNew(cfgPath, n.TOML(), 0o644); err != nil {
		os.Remove(keyPath) // leave nothing half-made behind
		return fmt.Errorf("init: %w", err)
	}
	tokPath := filepath.Join(*dir, web.TokenFile)
	if _, err := web.Token(tokPath); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	pub := hex.EncodeToString(priv.Public().(ed25519.PublicKey))
	list := "participants"
	if n.Node.Role == config.RoleAuthority {
		list = "authorities"
	}
	fmt.Fprintf(stdout, "created %s (mode 0600)\n", keyPath)
	fmt.Fprintf(stdout, "created %s (name %q, role %s)\n", cfgPath, n.Node.Name, n.Node.Role)
	fmt.Fprintf(stdout, "created %s (mode 0600: the dashboard's login when api.listen is not loopback; gridmesh token prints it)\n", tokPath)
	fmt.Fprintf(stdout, "public key: %s\n", pub)
	code := enrol.Code(priv.Public().(ed25519.PublicKey))
	fmt.Fprintf(stdout, "enrolment code: %s\n", code)
	if n.Node.Role == config.RoleHome {
		// The installer's phone reads it off the screen for the operator.
		fmt.Fprintf(stdout, "\n%s", enrolQR(code))
	}
	fmt.Fprintf(stdout, "\nThis node's entry for the network's genesis.toml (or for admission by an authority):\n")
	fmt.Fprintf(stdout, "  [[%s]]\n  name = %q\n  key = %q\n\n", list, n.Node.Name, pub)
	fmt.Fprintf(stdout, "next: put the network's genesis.toml in %s, then run: gridmesh run -c %s\n", *dir, cfgPath)
	return nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// defaultName is the host name if it makes a valid node name.
func defaultName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || len(h) > 64 {
		return "gridmesh-node"
	}
	return h
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("run", "-c node.toml", `
Run one node from its config file until interrupted (Ctrl-C or SIGTERM).
Relative paths in the config are relative to the config file's directory.`)
	path := c.fs.String("c", "node.toml", "the node config file")
	prof := c.fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file until the node stops")
	memProf := c.fs.String("memprofile", "", "write a heap profile (go tool pprof) to this file when the node is asked to stop")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	if err := require64Bit(); err != nil {
		return err
	}
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if *memProf == "" {
		return stopped(ctx, runNode(ctx, *path, stdout, stderr))
	}
	// The heap is written when the node is asked to stop and before it is
	// told to (runCtx), while what it holds is still live: after Run
	// returns nearly all of it is gone. If Run ends by itself, then.
	f, err := os.Create(*memProf)
	if err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	profiled, quit := make(chan error, 1), make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-quit:
		}
		profiled <- writeHeapProfile(f)
		stopRun()
	}()
	err = stopped(ctx, runNode(runCtx, *path, stdout, stderr))
	close(quit)
	return errors.Join(err, <-profiled)
}

// writeHeapProfile writes the live heap after a collection to f and closes it.
func writeHeapProfile(f *os.File) error {
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--memprofile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--memprofile: %w", err)
	}
	return nil
}

// stopped turns the cancellation that a signal causes into success:
// cancellation is how a node stops, not an error.
func stopped(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := node.DefaultDemoOptions()
	c := newCommand("demo", "[--homes N] [--authorities N] [--slot D] [--for D] [--seed N] [--data DIR] [--json]", `
Run a whole simulated microgrid in this process: N homes with simulated
meters and trading agents, and the authorities, each with its own key, data
directory, libp2p host on loopback and HTTP status page. Slots are short, so
trades clear and settle within a minute. Prints a line per event, the nodes'
status URLs, and a summary at the end; with --json the summary is one JSON
object on the last line of stdout.`)
	c.fs.IntVar(&o.Homes, "homes", o.Homes, "number of homes")
	c.fs.IntVar(&o.Authorities, "authorities", o.Authorities, "number of authority nodes")
	c.fs.DurationVar(&o.Slot, "slot", o.Slot, "delivery slot length")
	c.fs.DurationVar(&o.For, "for", o.For, "how long to run")
	c.fs.Int64Var(&o.Seed, "seed", o.Seed, "seed of the simulated meters (same seed, same first cleared slot)")
	c.fs.StringVar(&o.Data, "data", o.Data, "data directory (default: a temporary directory removed at exit)")
	c.fs.BoolVar(&o.JSON, "json", o.JSON, "print the summary as one JSON object on the last line")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	switch {
	case o.Homes < 1:
		return usagef("demo: --homes: expected at least 1, got %d", o.Homes)
	case o.Authorities < 1:
		return usagef("demo: --authorities: expected at least 1, got %d", o.Authorities)
	case o.Slot <= 0:
		return usagef("demo: --slot: expected a duration > 0, got %v", o.Slot)
	case o.For <= 0:
		return usagef("demo: --for: expected a duration > 0, got %v", o.For)
	}
	if err := require64Bit(); err != nil {
		return err
	}
	return stopped(ctx, node.Demo(ctx, o, stdout, stderr))
}

func cmdConfig(args []string, stdout io.Writer) error {
	const about = `
Commands:
  check   check a node config, its genesis file and its key file`
	if len(args) == 0 {
		return usagef("config: expected a command: check (see gridmesh config --help)")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprintf(stdout, "Usage: gridmesh config <command> [flags]\n%s\n", about)
		return nil
	case "check":
		return cmdConfigCheck(args[1:], stdout)
	default:
		return usagef("config: unknown command %q (see gridmesh config --help)", args[0])
	}
}

func cmdConfigCheck(args []string, stdout io.Writer) error {
	c := newCommand("config check", "[-c node.toml] [--genesis genesis.toml]", `
Check a node config, the genesis file it names and its key file, and print
"ok" or every problem found, one per line, each naming the file, the key and
what was expected. Beyond each file alone it checks the trading limits against
the network's tariff (a buy limit below the floor or a sell limit above the
ceiling could never trade), a data path that is a file, and an API listening
beyond loopback without its login token (api.token, mode 0600: gridmesh
token makes it). With only --genesis, check just that genesis file.`)
	path := c.fs.String("c", "node.toml", "the node config file")
	genesis := c.fs.String("genesis", "", "the genesis file (default: the one the node config names)")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	if !c.isSet("c") && *genesis != "" {
		if _, err := config.LoadGenesis(*genesis); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "ok")
		return nil
	}
	r := checkConfig(*path, *genesis)
	errs := r.errs
	if r.keyErr != nil {
		errs = append(errs, r.keyErr)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// releaseVersion is set by release builds:
// go build -ldflags "-X main.releaseVersion=v1.2.3" ./cmd/gridmesh
var releaseVersion string

func cmdVersion(args []string, stdout io.Writer) error {
	c := newCommand("version", "", "Print gridmesh's version, the commit it was built from, the Go version and the platform.")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	version, commit := "(devel)", "unknown"
	modified := false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if releaseVersion != "" {
			version = releaseVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		commit += " (modified)"
	}
	fmt.Fprintf(stdout, "gridmesh %s\ncommit %s\n%s %s/%s\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

func cmdSim(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "chain" {
		return cmdSimChain(args[1:], stdout)
	}
	if len(args) > 0 && args[0] == "p2p" {
		return cmdSimP2P(ctx, args[1:], stdout)
	}
	if len(args) > 0 && args[0] == "year" {
		return cmdSimYear(ctx, args[1:], stdout)
	}
	c := newCommand("sim", "chain|p2p [flags]", `
Run a simulation: "chain" runs the deterministic chain simulator (consensus and
state machine under faults, reproducible by seed); "p2p" gossips signed orders
between real libp2p hosts on loopback and measures delivery and latency.
"gridmesh sim chain --help" and "gridmesh sim p2p --help" list their flags.`)
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	return usagef("sim: expected a simulation: chain or p2p")
}
