package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gridmesh/gridmesh/chain"
	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/ident"
)

// Submit signs tx with the key of the node configured at path (setting its
// ChainID and From, and a nonce from the clock so that repeating a command makes
// a new transaction) and posts it to that node's API, which checks it against
// the chain and gossips it. It is how an operator acts as the node's account:
// `gridmesh authority add KEY`, `gridmesh admit KEY`, `gridmesh tariff ...`.
// api is the node's API as host:port; "" means the config's api.listen (an
// unspecified address there means this machine). It returns the transaction's
// hash, or the node's one-line refusal.
func Submit(ctx context.Context, path, api string, tx chain.Tx) (ident.Hash, error) {
	cfg, err := config.LoadNode(path)
	if err != nil {
		return ident.Hash{}, err
	}
	gen, err := config.LoadGenesis(cfg.Path(cfg.Network.Genesis))
	if err != nil {
		return ident.Hash{}, err
	}
	key, err := config.LoadKey(cfg.Path(cfg.Node.Key))
	if err != nil {
		return ident.Hash{}, err
	}
	tx.ChainID = gen.ChainID
	tx.From = ident.AccountOf(key.Public().(ed25519.PublicKey))
	if tx.Nonce == 0 {
		tx.Nonce = uint64(time.Now().UnixNano())
	}
	tx.Sign(key)
	if err := tx.Verify(); err != nil {
		return ident.Hash{}, err
	}
	if api == "" {
		api = cfg.API.Listen
	}
	host, port, err := net.SplitHostPort(api)
	if err != nil {
		return ident.Hash{}, fmt.Errorf("API address %q: %w", api, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/api/v1/tx"
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(tx.Encode()))
	if err != nil {
		return ident.Hash{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ident.Hash{}, fmt.Errorf("the node's API at %s does not answer (is `gridmesh run -c %s` running?): %w", url, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusAccepted {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return ident.Hash{}, fmt.Errorf("the node refused the %s transaction: %s", tx.Kind, e.Error)
		}
		return ident.Hash{}, fmt.Errorf("the node refused the %s transaction: HTTP %d", tx.Kind, resp.StatusCode)
	}
	return tx.Hash(), nil
}
