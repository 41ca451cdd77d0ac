package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/firmware/enrol"
	"github.com/gridmesh/gridmesh/ident"
)

// participantKey reads KEY of admit: a hex public key or an enrolment code.
func participantKey(s string) (ident.Account, error) {
	if enrol.Looks(s) {
		pub, err := enrol.Parse(s)
		if err != nil {
			return "", err
		}
		return ident.AccountOf(pub), nil
	}
	a := ident.Account(s)
	if err := a.Check(); err != nil {
		return "", fmt.Errorf("%v (expected 64 hex digits or an enrolment code XXXX-XXXX-...)", err)
	}
	return a, nil
}

// cmdKeygen is the unit's ExecStartPre: the node key is born on the device at
// its first start, never in an image or a package.
func cmdKeygen(args []string, stdout io.Writer) error {
	c := newCommand("keygen", "-c node.toml", `
Create the node key that the config's node.key names (mode 0600) if it does
not exist yet, and print the node's public key and enrolment code. An existing
key is kept as it is. The gridmesh service runs this before every start, so a
freshly installed device makes its own key at its first start.`)
	path := c.fs.String("c", "node.toml", "the node config file")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	n, err := config.LoadNode(*path)
	if err != nil {
		return err
	}
	keyPath := n.Path(n.Node.Key)
	priv, err := config.LoadKey(keyPath)
	switch _, serr := os.Lstat(keyPath); {
	case err == nil:
		fmt.Fprintf(stdout, "node key %s exists\n", keyPath)
	case errors.Is(serr, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(keyPath), 0o700); err != nil {
			return fmt.Errorf("keygen: %w", err)
		}
		if priv, err = config.WriteKey(keyPath); err != nil {
			return fmt.Errorf("keygen: %w", err)
		}
		fmt.Fprintf(stdout, "created node key %s (mode 0600)\n", keyPath)
	default:
		return err // there, but unusable: say why, never replace it
	}
	pub := priv.Public().(ed25519.PublicKey)
	fmt.Fprintf(stdout, "public key: %s\nenrolment code: %s\n", ident.AccountOf(pub), enrol.Code(pub))
	return nil
}

// enrolQR is the enrolment code as a QR code for a terminal that shows light
// text on a dark background (most do), or "" if it cannot be drawn.
func enrolQR(code string) string {
	q, err := enrol.NewQR(code)
	if err != nil {
		return ""
	}
	return q.Terminal(true)
}
