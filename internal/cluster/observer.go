package cluster

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"

	"github.com/gridmesh/gridmesh/chain/consensus"
	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/p2p"
)

// kindVote is the first byte of a consensus gossip payload (node/wire.go): the
// encoded consensus.Message follows.
const kindVote = 1

// Observer is a libp2p peer that subscribes to the network's consensus topic
// without voting or relaying (its validator answers Ignore), checks the
// signature of every message it sees against the genesis authorities, and keeps
// what each authority signed per (height, round, type). Two different values
// under one key are a double-sign, whatever height it happens at: unlike a
// node's evidence counter, which sees only conflicts at the height it is
// deciding, the observer also sees a restarted authority re-sign an old height.
type Observer struct {
	host    *p2p.Host
	topic   *p2p.Topic
	chainID string
	pubs    map[ident.Account]ed25519.PublicKey

	mu        sync.Mutex
	signed    map[signedKey]ident.Hash
	conflicts []Conflict
	messages  int64
	bad       int64 // undecodable or badly signed payloads
}

type signedKey struct {
	from   ident.Account
	height uint64
	round  int32
	typ    consensus.MsgType
}

// Conflict is one authority signing two different values for the same
// height, round and message type.
type Conflict struct {
	From   string
	Height uint64
	Round  int32
	Type   consensus.MsgType
	A, B   ident.Hash
}

func (c Conflict) String() string {
	return fmt.Sprintf("%s signed two %ss at height %d round %d: %x… and %x…", c.From[:12], c.Type, c.Height, c.Round, c.A[:6], c.B[:6])
}

// Observe starts an observer connected to every authority of the cluster.
func (c *Cluster) Observe(ctx context.Context) (*Observer, error) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	o := &Observer{
		chainID: c.Genesis.ChainID,
		pubs:    map[ident.Account]ed25519.PublicKey{},
		signed:  map[signedKey]ident.Hash{},
	}
	var bootstrap []string
	for i, a := range c.Genesis.Authorities {
		pub, err := ident.Account(a.Key).PublicKey()
		if err != nil {
			return nil, err
		}
		o.pubs[ident.Account(a.Key)] = pub
		bootstrap = append(bootstrap, c.Nodes[i].p2pAddr)
	}
	o.host, err = p2p.New(ctx, p2p.Config{
		Key:        key,
		Network:    c.Genesis.ChainID,
		Listen:     []string{"/ip4/127.0.0.1/tcp/0"},
		Bootstrap:  bootstrap,
		MaxPayload: 8 << 20,   // see proposals of any size
		SenderRate: 1_000_000, // never drop an authority's message for its rate
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, fmt.Errorf("crashtest: observer: %w", err)
	}
	o.topic, err = o.host.Join("consensus", o.see)
	if err != nil {
		o.host.Close()
		return nil, fmt.Errorf("crashtest: observer: %w", err)
	}
	return o, nil
}

// see records one consensus payload and never lets it through (Ignore), so the
// observer does not relay and cannot change what the authorities see.
func (o *Observer) see(from ed25519.PublicKey, payload []byte) p2p.Verdict {
	if len(payload) < 1 || payload[0] != kindVote {
		return p2p.Ignore // blocks for catch-up travel on the same topic
	}
	m, err := consensus.DecodeMessage(payload[1:])
	o.mu.Lock()
	defer o.mu.Unlock()
	pub, ok := o.pubs[m.From]
	if err != nil || !ok || m.Verify(o.chainID, pub) != nil {
		o.bad++
		return p2p.Ignore
	}
	o.messages++
	id := m.ValueID
	if m.Type == consensus.Proposal {
		// The same value id with another valid round, or another value under
		// the same id, is a different proposal too.
		h := sha256.New()
		h.Write(m.ValueID[:])
		h.Write([]byte{byte(m.ValidRound >> 24), byte(m.ValidRound >> 16), byte(m.ValidRound >> 8), byte(m.ValidRound)})
		h.Write(m.Value)
		h.Sum(id[:0])
	}
	k := signedKey{m.From, m.Height, m.Round, m.Type}
	if prev, ok := o.signed[k]; !ok {
		o.signed[k] = id
	} else if prev != id {
		o.conflicts = append(o.conflicts, Conflict{From: string(m.From), Height: m.Height, Round: m.Round, Type: m.Type, A: prev, B: id})
	}
	return p2p.Ignore
}

// Conflicts returns the double-signs seen so far.
func (o *Observer) Conflicts() []Conflict {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.conflicts)
}

// Messages returns how many validly signed consensus messages the observer has
// seen, and how many payloads it could not decode or verify.
func (o *Observer) Messages() (ok, bad int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.messages, o.bad
}

// Close stops the observer.
func (o *Observer) Close() error { return o.host.Close() }
