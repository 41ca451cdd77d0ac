package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/node"
	"github.com/gridmesh/gridmesh/p2p"
	"github.com/gridmesh/gridmesh/update"
)

// Environment of a node started from a slot, and of tests.
const (
	// envSlot is set by the launcher for the slot binary it execs ("a" or
	// "b"): that binary runs the node and does not launch again.
	envSlot = "GRIDMESH_SLOT"
	// envKillAfter makes `update apply` SIGKILL itself after the named step
	// (verified, staged, cleared, installed, marked): the crash tests.
	envKillAfter = "GRIDMESH_UPDATE_KILL_AFTER"
)

// Exit statuses that ask the supervisor (systemd's Restart=on-failure) to
// start gridmesh again.
const (
	exitRestartForUpdate = 75 // a release was installed for trial: start again into it
	exitTrialFailed      = 76 // this release failed its trial: start again into the previous one
)

// exitError is an error with its own exit status (see exitCode).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// runningVersion is this binary's version as `gridmesh version` prints it.
func runningVersion() string {
	if releaseVersion != "" {
		return releaseVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// slotsFor is the slots directory of a node: "slots" beside its data
// directory (/var/lib/gridmesh/data -> /var/lib/gridmesh/slots).
func slotsFor(n config.Node) update.Slots {
	return update.Slots{Dir: filepath.Join(filepath.Dir(filepath.Clean(n.Path(n.Node.Data))), "slots")}
}

func platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// updateTimings are the polling periods of runSlots (tests shorten them).
var updateTimings = struct{ watch, probe time.Duration }{watch: time.Second, probe: time.Second}

// runSlots is `gridmesh run` with the slots: the one call at the top of
// the run command. Started as the launcher (no GRIDMESH_SLOT), it asks the
// slot state which binary this start runs and execs it if that is a slot
// (update.Slots.Launch: a trial once, else the active slot, each only if
// its sha256 still matches). Then it runs the node (run) and, beside it,
//   - if this binary is on trial, polls the node's own /api/v1/status and
//     keeps the release (Commit) once it is healthy, or rolls it back (Fail)
//     and exits with status 76 when its window passes;
//   - watches the state for a release another process (update apply)
//     installed for trial, and then exits with status 75 so that the
//     supervisor starts gridmesh again, into it.
//
// If the node config cannot be loaded, run reports that itself.
func runSlots(ctx context.Context, args []string, stdout, stderr io.Writer, run func(context.Context, []string, io.Writer, io.Writer) error) error {
	n, err := config.LoadNode(configArg(args))
	if err != nil {
		return run(ctx, args, stdout, stderr)
	}
	slots := slotsFor(n)
	mySlot := os.Getenv(envSlot)
	if mySlot != update.SlotA && mySlot != update.SlotB {
		mySlot = ""
	}
	if mySlot == "" && slots.Exists() {
		b, err := slots.Launch(runningVersion(), time.Now())
		if err != nil {
			fmt.Fprintf(stderr, "gridmesh: update: %v; running the installed binary\n", err)
		}
		if b.Note != "" {
			fmt.Fprintf(stderr, "gridmesh: update: %s\n", b.Note)
		}
		if err == nil && b.Slot != "" {
			argv := append([]string{b.Path, "run"}, args...)
			// Any GRIDMESH_SLOT inherited goes: the first of two would win,
			// and a slot binary that took itself for the launcher would
			// count its own start as a second boot of the trial.
			env := append(withoutEnv(os.Environ(), envSlot), envSlot+"="+b.Slot)
			err := syscall.Exec(b.Path, argv, env) // returns only on failure
			fmt.Fprintf(stderr, "gridmesh: update: start %s from slot %s: %v; running the installed binary\n", b.Version, b.Slot, err)
			if b.Trial {
				slots.Fail(b.Slot, time.Now(), fmt.Sprintf("%s could not be started: %v", b.Version, err))
			}
		}
	}

	st, err := slots.Load()
	if err != nil {
		fmt.Fprintf(stderr, "gridmesh: update: %v\n", err)
	}
	var trial *update.Trial
	if mySlot != "" && st.Trial != nil && st.Trial.Slot == mySlot {
		trial = st.Trial
		fmt.Fprintf(stderr, "gridmesh: update: running %s from slot %s on trial: it must have %d peer(s) for %s within %s\n", trial.Version, mySlot, trial.MinPeers, trial.Settle, trial.Window)
		if v := runningVersion(); v != trial.Version {
			fmt.Fprintf(stderr, "gridmesh: update: warning: the binary of release %s says it is %s\n", trial.Version, v)
		}
	} else if mySlot != "" {
		fmt.Fprintf(stderr, "gridmesh: update: running %s from slot %s\n", st.Slots[mySlot].Version, mySlot)
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	healthy := make(chan struct{})
	wg.Go(func() { watchForTrial(runCtx, slots, mySlot, cancel) })
	if trial != nil {
		wg.Go(func() { proveHealthy(runCtx, n, slots, mySlot, *trial, healthy, cancel, stderr) })
	}
	err = run(runCtx, args, stdout, stderr)
	cause := context.Cause(runCtx)
	cancel(nil)
	wg.Wait()
	var ee exitError
	if errors.As(cause, &ee) {
		return ee
	}
	if trial != nil && ctx.Err() == nil {
		select {
		case <-healthy:
		default:
			// The node ended by itself before it proved healthy.
			reason := fmt.Sprintf("%s stopped before it proved healthy: %v", trial.Version, err)
			if err == nil {
				reason = fmt.Sprintf("%s stopped before it proved healthy", trial.Version)
			}
			if ferr := slots.Fail(mySlot, time.Now(), reason); ferr == nil {
				return exitError{exitTrialFailed, errors.Join(err, errors.New("update: rolled back: "+reason))}
			}
		}
	}
	return err
}

// withoutEnv is env without the variables names.
func withoutEnv(env []string, names ...string) []string {
	var out []string
next:
	for _, e := range env {
		for _, n := range names {
			if strings.HasPrefix(e, n+"=") {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// configArg finds the -c flag of `run`'s arguments ("node.toml" by default).
func configArg(args []string) string {
	for i, a := range args {
		switch {
		case (a == "-c" || a == "--c") && i+1 < len(args):
			return args[i+1]
		case strings.HasPrefix(a, "-c="), strings.HasPrefix(a, "--c="):
			return a[strings.IndexByte(a, '=')+1:]
		}
	}
	return "node.toml"
}

// watchForTrial ends the node (exit 75) once another slot than mySlot has
// a release waiting for its first start.
func watchForTrial(ctx context.Context, slots update.Slots, mySlot string, cancel context.CancelCauseFunc) {
	t := time.NewTicker(updateTimings.watch)
	defer t.Stop()
	var seen os.FileInfo
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(slots.StatePath())
		if err != nil || (seen != nil && os.SameFile(fi, seen) && fi.ModTime().Equal(seen.ModTime()) && fi.Size() == seen.Size()) {
			continue // no state, or the same as last time: state.json is replaced whole on every change
		}
		seen = fi
		st, err := slots.Load()
		if err != nil || st.Trial == nil || st.Trial.Slot == mySlot || st.Trial.Boots > 0 {
			continue
		}
		cancel(exitError{exitRestartForUpdate, fmt.Errorf("update: %s installed in slot %s: exiting with status %d so that the service manager starts it, on trial", st.Trial.Version, st.Trial.Slot, exitRestartForUpdate)})
		return
	}
}

// proveHealthy polls the node's own status until it has the trial's peers
// (the node answering means its chain store is loaded): then it keeps the
// release; if the window passes first, it rolls it back and ends the node.
func proveHealthy(ctx context.Context, n config.Node, slots update.Slots, mySlot string, trial update.Trial, healthy chan<- struct{}, cancel context.CancelCauseFunc, stderr io.Writer) {
	host, port, err := net.SplitHostPort(n.API.Listen)
	if err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/api/v1/status"
	client := &http.Client{Timeout: 2 * time.Second}
	// The window runs from this process's start (the launcher started it
	// just now) on the monotonic clock: a Pi's wall clock jumps when NTP
	// sets it after boot.
	deadline := time.Now().Add(trial.Window.Duration)
	last := "the node's API did not answer"
	var since time.Time // healthy at every probe since then
	t := time.NewTicker(updateTimings.probe)
	defer t.Stop()
	for {
		st, err := probe(ctx, client, url)
		switch {
		case err != nil:
			last, since = "the node's API did not answer: "+err.Error(), time.Time{}
		case st.Peers < trial.MinPeers:
			last, since = fmt.Sprintf("%d peer(s), %d needed, at height %d", st.Peers, trial.MinPeers, st.Height), time.Time{}
		case since.IsZero():
			since = time.Now()
			last = fmt.Sprintf("healthy (%d peers), not yet for %s", st.Peers, trial.Settle)
		default:
			last = fmt.Sprintf("healthy (%d peers) for %s of the %s needed", st.Peers, time.Since(since).Round(time.Second), trial.Settle)
		}
		if !since.IsZero() && time.Since(since) >= trial.Settle.Duration {
			if _, err := slots.Commit(mySlot); err != nil {
				fmt.Fprintf(stderr, "gridmesh: update: keep %s: %v\n", trial.Version, err)
				return
			}
			close(healthy)
			fmt.Fprintf(stderr, "gridmesh: update: %s proved healthy (height %d, %d peers, for %s): it is now the active version\n", trial.Version, st.Height, st.Peers, trial.Settle)
			return
		}
		if !time.Now().Before(deadline) {
			reason := fmt.Sprintf("%s was not healthy within %s: %s", trial.Version, trial.Window, last)
			if err := slots.Fail(mySlot, time.Now(), reason); err != nil {
				fmt.Fprintf(stderr, "gridmesh: update: %v\n", err)
			}
			cancel(exitError{exitTrialFailed, errors.New("update: rolled back: " + reason)})
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func probe(ctx context.Context, client *http.Client, url string) (nodeStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nodeStatus{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nodeStatus{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nodeStatus{}, errors.New(resp.Status)
	}
	var st nodeStatus
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st)
	return st, err
}

func cmdUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const about = `
Commands:
  check    fetch and verify a release, say whether this node would take it
  apply    verify a release and install it into the inactive slot, on trial
  status   the active and previous versions, the announced release, the
           trial, the last rollback and the last refused update`
	if len(args) == 0 {
		return usagef("update: expected a command: check, apply or status (see gridmesh update --help)")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprintf(stdout, "Usage: gridmesh update <command> [flags]\n%s\n", about)
		return nil
	case "check":
		return cmdUpdateCheck(ctx, args[1:], stdout, false)
	case "apply":
		return cmdUpdateCheck(ctx, args[1:], stdout, true)
	case "status":
		return cmdUpdateStatus(args[1:], stdout)
	default:
		return usagef("update: unknown command %q (see gridmesh update --help)", args[0])
	}
}

// updateAbout is the name and help text of update check or apply.
func updateAbout(apply bool) (name, about string) {
	name, about = "update check", `
Fetch a release's manifest and signature from --from (a directory, the
manifest file, or an http(s) URL of either), verify the signature against
the network's release keys (genesis.toml's [updates] keys, or those the
authorities voted on chain, as the running node last saw them) and check
that the release is newer than what this node runs, not expired and has a
binary for this platform. check writes nothing.`
	if apply {
		name, about = "update apply", `
Verify a release as "update check" does, then download its binary into the
inactive slot (beside the node's data directory), check its size and
sha256, and mark it for trial. A running node restarts into it within a
second or two (it exits with status 75; systemd's Restart=on-failure starts
it again); the new version is kept only if it has --min-peers peers within
--trial (and keeps them for --settle), otherwise the node goes back to the
previous version by itself.
Nothing is written unless the signature, version and expiry are right, and
a binary of the wrong size or sha256 is removed again.`
	}
	about += `
--from-peer takes the release from another gridmesh node over libp2p
instead (its address and peer id, /ip4/…/tcp/4001/p2p/<node_id of its
status>): the highest version that node holds, checked exactly the same
way, for a home with no route to a download server. --from-peer bootstrap
asks the node's bootstrap peers (network.bootstrap, the authorities) in
turn and takes the release from the first whose release this node would
take.`
	return name, about
}

func cmdUpdateCheck(ctx context.Context, args []string, stdout io.Writer, apply bool) error {
	name, about := updateAbout(apply)
	c := newCommand(name, "--from DIR|FILE|URL | --from-peer MULTIADDR [-c node.toml]", about)
	path := c.fs.String("c", "node.toml", "the node config file")
	from := c.fs.String("from", "", "where the release is: a directory with manifest.json, the manifest file, or an http(s) URL")
	fromPeer := c.fs.String("from-peer", "", "take the release from this gridmesh node over libp2p: /ip4/…/tcp/…/p2p/<id>, or \"bootstrap\" for the first of network.bootstrap that has one")
	var trial *time.Duration
	var minPeers *int
	var settle *time.Duration
	var retry *bool
	if apply {
		trial = c.fs.Duration("trial", 5*time.Minute, "how long the new version has to prove healthy")
		minPeers = c.fs.Int("min-peers", 1, "peers the new version must have to be healthy")
		settle = c.fs.Duration("settle", 30*time.Second, "how long the new version must stay healthy before it is kept")
		retry = c.fs.Bool("retry", false, "install a version that was rolled back on this node before")
	}
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	if (*from == "") == (*fromPeer == "") {
		return usagef("%s: expected one of --from (a directory, manifest file or URL) and --from-peer (a multiaddr)", name)
	}
	n, err := config.LoadNode(*path)
	if err != nil {
		return err
	}
	g, err := config.LoadGenesis(n.Path(n.Network.Genesis))
	if err != nil {
		return err
	}
	keys, err := releaseKeys(n)
	if err != nil {
		return err
	}
	o := update.Options{Keys: keys, Running: runningVersion(), Platform: platform(), Now: time.Now()}
	slots := slotsFor(n)
	if *fromPeer == "bootstrap" {
		if *fromPeer, err = pickPeer(ctx, slots, o, n.Network.Bootstrap, g.ChainID); err != nil {
			return err
		}
	}
	src, closeSrc, err := updateSource(ctx, *from, *fromPeer, g.ChainID)
	if err != nil {
		return err
	}
	defer closeSrc()
	if !apply {
		p, err := slots.Check(ctx, src, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is signed by a release key of %s and newer than %s: gridmesh update apply would install it into slot %s (%s, %d bytes)\n", p.Manifest.Version, g.ChainID, p.Current, p.Slot, p.Target.File, p.Target.Size)
		return nil
	}
	if _, port, err := net.SplitHostPort(n.API.Listen); err != nil || port == "0" {
		return fmt.Errorf("%s: api.listen: expected a fixed port for the new version's health check, got %q", *path, n.API.Listen)
	}
	o.Window, o.MinPeers, o.Settle, o.Retry = *trial, *minPeers, *settle, *retry
	if o.Settle >= o.Window {
		return usagef("update apply: --settle (%s) must be shorter than --trial (%s)", o.Settle, o.Window)
	}
	if s := os.Getenv(envKillAfter); s != "" {
		kill, ok := update.ParseStep(s)
		if !ok {
			return fmt.Errorf("%s=%q: not a step of apply", envKillAfter, s)
		}
		o.AfterStep = func(st update.Step) {
			if st == kill {
				if self, err := os.FindProcess(os.Getpid()); err == nil {
					self.Kill() // SIGKILL on Unix: no deferred function runs
				}
				select {} // the signal is on its way
			}
		}
	}
	p, err := slots.Apply(ctx, src, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "installed %s into %s (sha256 %s): on trial, it must have %d peer(s) for %s within %s\n", p.Manifest.Version, slots.Binary(p.Slot), p.Target.SHA256, o.MinPeers, o.Settle, o.Window)
	fmt.Fprintf(stdout, "a running node restarts into it within seconds; otherwise it starts at the next gridmesh run\n")
	return nil
}

// updateSource is where update check and apply read the release: from
// (a directory, file or URL) or, if fromPeer is set, that gridmesh node of
// network over libp2p, through a host of this command's own (a fresh key,
// dialling only: the node key belongs to the running node). close ends
// that host.
func updateSource(ctx context.Context, from, fromPeer, network string) (_ *update.Source, close func(), err error) {
	if fromPeer == "" {
		// No download of a release takes half an hour; a stalled server must
		// not hold apply for ever.
		src, err := update.NewSource(from, &http.Client{Timeout: 30 * time.Minute})
		return src, func() {}, err
	}
	if _, err := peer.AddrInfoFromString(fromPeer); err != nil {
		return nil, nil, usagef("update: --from-peer %q: expected a multiaddr ending in /p2p/<peer id>: %v", fromPeer, err)
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, nil, err
	}
	h, err := p2p.New(ctx, p2p.Config{Key: key, Network: network, ConnLow: 1, ConnHigh: 2, MemoryLimit: 16 << 20}, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("update: --from-peer: %w", err)
	}
	return update.NewPeerSource(fromPeer, node.ReleaseRequester(h, fromPeer)), func() { h.Close() }, nil
}

// pickPeer returns the first of addrs whose release slots.Check takes,
// or why none is taken.
func pickPeer(ctx context.Context, slots update.Slots, o update.Options, addrs []string, network string) (string, error) {
	if len(addrs) == 0 {
		return "", errors.New("update: --from-peer bootstrap: the node config lists no network.bootstrap peers")
	}
	var errs []error
	for _, addr := range addrs {
		src, closeSrc, err := updateSource(ctx, "", addr, network)
		if err == nil {
			_, err = slots.Check(ctx, src, o)
			closeSrc()
		}
		if err == nil {
			return addr, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return "", fmt.Errorf("update: no bootstrap peer has a release this node takes:\n%w", errors.Join(errs...))
}

// statusReport is `gridmesh update status --json`.
type statusReport struct {
	Running      string        `json:"running"`  // this binary's version
	Slots        string        `json:"slots"`    // the slots directory
	Active       string        `json:"active"`   // the version that runs
	Previous     string        `json:"previous"` // the version before it
	State        update.State  `json:"state"`
	LastRollback *update.Event `json:"last_rollback,omitempty"`
	LastRefusal  *update.Event `json:"last_refusal,omitempty"`
	Trial        *update.Trial `json:"trial,omitempty"`
	// Announced is the release the authorities announced on chain and
	// ReleaseKeys the keys they voted, as the running node last saw them
	// (network.json).
	Announced   *update.Announcement `json:"announced,omitempty"`
	ReleaseKeys []string             `json:"release_keys,omitempty"`
}

func cmdUpdateStatus(args []string, stdout io.Writer) error {
	c := newCommand("update status", "[-c node.toml] [--json]", `
Show what this node runs: the active version (a slot, or the installed
binary), the previous one, the release the authorities announced on chain
(and the release keys they voted, if they did), a release on trial, the
last rollback and its reason, and the last update that was refused and
why.`)
	path := c.fs.String("c", "node.toml", "the node config file")
	asJSON := c.fs.Bool("json", false, "print one JSON object")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	n, err := config.LoadNode(*path)
	if err != nil {
		return err
	}
	slots := slotsFor(n)
	st, err := slots.Load()
	if err != nil {
		return err
	}
	refused, err := slots.LastRefusal()
	if err != nil {
		return err
	}
	running := runningVersion()
	version := func(slot string) string {
		if slot == "" {
			return "the installed binary (" + running + ")"
		}
		return fmt.Sprintf("%s (slot %s)", st.Slots[slot].Version, slot)
	}
	r := statusReport{Running: running, Slots: slots.Dir, Active: version(st.Active), Previous: version(st.Previous), State: st, LastRollback: st.LastRollback, LastRefusal: refused, Trial: st.Trial}
	net, _, err := slots.LoadNetwork()
	if err != nil {
		return err
	}
	r.Announced, r.ReleaseKeys = net.Announced, net.Keys
	if *asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return nil
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	fmt.Fprintf(w, "active:        %s\n", r.Active)
	if st.Active != "" || st.Previous != "" {
		fmt.Fprintf(w, "previous:      %s\n", r.Previous)
	}
	if a := r.Announced; a != nil {
		fmt.Fprintf(w, "announced:     %s (manifest sha256 %s) at height %d, by %d authorities\n", a.Version, a.Manifest, a.Height, a.Votes)
	}
	if len(r.ReleaseKeys) > 0 {
		fmt.Fprintf(w, "release keys:  %s (voted at height %d; genesis.toml's no longer count)\n", strings.Join(r.ReleaseKeys, ", "), net.KeysHeight)
	}
	if t := st.Trial; t != nil {
		fmt.Fprintf(w, "on trial:      %s (slot %s): must have %d peer(s) for %s within %s of its start\n", t.Version, t.Slot, t.MinPeers, t.Settle, t.Window)
	}
	if e := st.LastRollback; e != nil {
		fmt.Fprintf(w, "last rollback: %s at %s: %s\n", e.Version, e.At.Format(time.RFC3339), e.Reason)
	}
	if e := refused; e != nil {
		v := e.Version
		if v == "" {
			v = "an update"
		}
		fmt.Fprintf(w, "last refused:  %s at %s: %s\n", v, e.At.Format(time.RFC3339), e.Reason)
	}
	return nil
}
