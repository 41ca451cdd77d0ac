package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"aead.dev/minisign"

	"github.com/gridmesh/gridmesh/update"
)

func cmdRelease(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	const about = `
Commands (run them on the offline machine that holds the release key):
  keygen   make a release key pair (minisign format; minisign -G works too)
  sign     write a release directory: binaries, manifest.json and its signature
Commands of an authority (on its node, with its node.toml):
  announce vote that the network moves to a signed release
  keys     vote that other keys sign releases from now on`
	if len(args) == 0 {
		return usagef("release: expected a command: keygen, sign, announce or keys (see gridmesh release --help)")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprintf(stdout, "Usage: gridmesh release <command> [flags]\n%s\n", about)
		return nil
	case "keygen":
		return cmdReleaseKeygen(args[1:], stdin, stdout)
	case "sign":
		return cmdReleaseSign(args[1:], stdin, stdout)
	case "announce":
		return cmdReleaseAnnounce(ctx, args[1:], stdout)
	case "keys":
		return cmdReleaseKeys(ctx, args[1:], stdout)
	default:
		return usagef("release: unknown command %q (see gridmesh release --help)", args[0])
	}
}

// targetsFlag is --target GOOS/GOARCH=FILE, repeated.
type targetsFlag map[string]string

func (t targetsFlag) String() string { return fmt.Sprint(map[string]string(t)) }
func (t targetsFlag) Set(s string) error {
	p, f, ok := strings.Cut(s, "=")
	if !ok || p == "" || f == "" {
		return errors.New(`expected GOOS/GOARCH=FILE, such as linux/arm64=gridmesh-linux-arm64`)
	}
	if _, dup := t[p]; dup {
		return fmt.Errorf("%s given twice", p)
	}
	t[p] = f
	return nil
}

// readPassword reads the key's password from file, or else one line of stdin.
func readPassword(file string, stdin io.Reader, stdout io.Writer) func() (string, error) {
	return func() (string, error) {
		if file != "" {
			b, err := os.ReadFile(file)
			return strings.TrimRight(string(b), "\r\n"), err
		}
		fmt.Fprint(stdout, "password of the release key: ")
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("no password on stdin (or use --password-file): %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
}

func cmdReleaseKeygen(args []string, stdin io.Reader, stdout io.Writer) error {
	c := newCommand("release keygen", "--out release.key [--password-file F | --unencrypted]", `
Make a release key pair: the secret key in --out (mode 0600, minisign's
format, encrypted with a password unless --unencrypted) and the public key
in --out with .pub instead of .key. Keep the secret key offline; put the
public key line ("RW...") into the network's genesis.toml:

  [updates]
  keys = ["RW..."]

"minisign -G -s release.key -p release.pub" makes the same kind of pair.`)
	out := c.fs.String("out", "release.key", "the secret key file to create")
	pwFile := c.fs.String("password-file", "", "read the password from this file (default: a line of stdin)")
	plain := c.fs.Bool("unencrypted", false, "store the secret key without a password (tests; not for a real network)")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	pubPath := strings.TrimSuffix(*out, ".key") + ".pub"
	for _, p := range []string{*out, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("release keygen: %s already exists; refusing to overwrite it", p)
		}
	}
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		return err
	}
	var sec []byte
	if *plain {
		sec, err = priv.MarshalText()
	} else {
		pw, perr := readPassword(*pwFile, stdin, stdout)()
		if perr != nil {
			return fmt.Errorf("release keygen: %w", perr)
		}
		if pw == "" {
			return errors.New("release keygen: an empty password: use --unencrypted to mean it")
		}
		sec, err = minisign.EncryptKey(pw, priv)
	}
	if err != nil {
		return err
	}
	pubText, _ := pub.MarshalText()
	if err := writeNew(*out, append(sec, '\n'), 0o600); err != nil {
		return fmt.Errorf("release keygen: %w", err)
	}
	if err := writeNew(pubPath, append(pubText, '\n'), 0o644); err != nil {
		return fmt.Errorf("release keygen: %w", err)
	}
	fmt.Fprintf(stdout, "created %s (secret, mode 0600: keep it offline) and %s\n", *out, pubPath)
	fmt.Fprintf(stdout, "for the network's genesis.toml:\n  [updates]\n  keys = [%q]\n", update.PublicKeyText(pub))
	return nil
}

func cmdReleaseSign(args []string, stdin io.Reader, stdout io.Writer) error {
	c := newCommand("release sign", "--key release.key --version vX.Y.Z --target linux/arm64=FILE [--target ...] --out DIR", `
Write a release directory DIR: each --target binary copied as
gridmesh-GOOS-GOARCH, manifest.json (version, created, expires, and each
binary's size and sha256) and manifest.json.minisig, its signature by the
release key. Publish DIR as it is (a web server, a USB stick); homes take it
with "gridmesh update apply --from DIR-or-URL". "minisign -Vm
DIR/manifest.json -P RW..." verifies the signature independently.`)
	keyPath := c.fs.String("key", "release.key", "the release secret key (gridmesh release keygen or minisign -G)")
	pwFile := c.fs.String("password-file", "", "read the key's password from this file (default: a line of stdin)")
	version := c.fs.String("version", "", "the release's semantic version, vX.Y.Z: higher than every release before it")
	expires := c.fs.Duration("expires", 90*24*time.Hour, "how long homes may install this release")
	outDir := c.fs.String("out", "", "the release directory to create")
	targets := targetsFlag{}
	c.fs.Var(targets, "target", "GOOS/GOARCH=FILE: a binary of the release (repeat for each platform)")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	switch {
	case *outDir == "":
		return usagef("release sign: --out: expected the release directory to create")
	case len(targets) == 0:
		return usagef("release sign: --target: expected at least one GOOS/GOARCH=FILE")
	case *expires <= 0:
		return usagef("release sign: --expires: expected a duration > 0, got %v", *expires)
	}
	if _, err := update.ParseVersion(*version); err != nil {
		return usagef("release sign: --version: %v", err)
	}
	key, err := update.LoadPrivateKey(*keyPath, readPassword(*pwFile, stdin, stdout))
	if err != nil {
		return err
	}
	if err := os.Mkdir(*outDir, 0o755); err != nil {
		return fmt.Errorf("release sign: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	m := update.Manifest{Format: update.ManifestFormat, Version: *version, Created: now, Expires: now.Add(*expires), Targets: map[string]update.Target{}}
	platforms := make([]string, 0, len(targets))
	for p := range targets {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	for _, p := range platforms {
		name := "gridmesh-" + strings.ReplaceAll(p, "/", "-")
		dst := filepath.Join(*outDir, name)
		if err := copyFile(targets[p], dst); err != nil {
			return fmt.Errorf("release sign: --target %s: %w", p, err)
		}
		sum, n, err := update.FileSHA256(dst)
		if err != nil {
			return err
		}
		m.Targets[p] = update.Target{File: name, SHA256: sum, Size: n}
	}
	b, err := m.Encode()
	if err != nil {
		return fmt.Errorf("release sign: %w", err)
	}
	sig, err := update.Sign(key, b)
	if err != nil {
		return err
	}
	if err := writeNew(filepath.Join(*outDir, "manifest.json"), b, 0o644); err != nil {
		return err
	}
	if err := writeNew(filepath.Join(*outDir, "manifest.json.minisig"), sig, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed %s in %s (key id %016X), expires %s:\n", m.Version, *outDir, key.ID(), m.Expires.Format(time.RFC3339))
	for _, p := range platforms {
		t := m.Targets[p]
		fmt.Fprintf(stdout, "  %-14s %s  %d bytes  sha256 %s\n", p, t.File, t.Size, t.SHA256)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
