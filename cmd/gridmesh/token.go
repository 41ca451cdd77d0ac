package main

import (
	"fmt"
	"io"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/node/web"
)

// cmdToken prints the node's API token, making it if the node has none yet.
func cmdToken(args []string, stdout io.Writer) error {
	c := newCommand("token", "[-c node.toml]", `
Print the node's API token (the file api.token beside node.toml, mode 0600;
made now if missing). When api.listen is not a loopback address, a browser
on another machine asks for it once (the node answers with a session
cookie), and scripts there send it as "Authorization: Bearer TOKEN".
Requests from the node's own machine (gridmesh admit, statement, update)
need none.`)
	path := c.fs.String("c", "node.toml", "the node config file")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	cfg, err := config.LoadNode(*path)
	if err != nil {
		return err
	}
	tok, err := web.Token(cfg.Path(web.TokenFile))
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
