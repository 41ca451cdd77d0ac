package p2p

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// subscriptionBuffer is how many validated messages wait for Next before gossipsub
// starts dropping them for this subscriber. Callers must keep calling Next.
const subscriptionBuffer = 1024

// ErrJoined is returned by Join for a topic the host has already joined.
var ErrJoined = errors.New("p2p: topic already joined")

// ErrPublishOnly is returned by Next on a topic joined with JoinPublishOnly.
var ErrPublishOnly = errors.New("p2p: topic joined to publish only")

// Message is a validated gossip message from another node.
type Message struct {
	From    ed25519.PublicKey // the envelope's signer
	Payload []byte
	Expiry  time.Time // the envelope's expiry
}

// Topic is a joined gossip topic.
type Topic struct {
	n        *Host
	name     string // full topic id
	t        *pubsub.Topic
	sub      *pubsub.Subscription
	validate func(from ed25519.PublicKey, payload []byte) Verdict

	mu        sync.Mutex
	delivered map[[32]byte]int64 // hash of (from, payload) → latest expiry delivered (unix ms)
	inserts   int
}

// TopicID returns the gossipsub topic id of name on network: /gridmesh/<network>/<name>/1.
func TopicID(network, name string) string {
	return "/gridmesh/" + network + "/" + name + "/1"
}

// Join joins the topic /gridmesh/<network>/<name>/1. validate is called (from
// several goroutines at once) for every envelope that decodes, belongs to this
// network, has a valid signature and has not expired; it decides whether the payload
// is delivered and forwarded. It must not block for long. It may be nil (accept all).
func (n *Host) Join(name string, validate func(from ed25519.PublicKey, payload []byte) Verdict) (*Topic, error) {
	return n.join(name, validate, true)
}

// JoinPublishOnly joins the topic to publish on it without subscribing: the host
// neither receives the topic's messages nor forwards them, and its publications
// go to the connected peers that are subscribed (flood publishing). It is for a
// node that only contributes to a topic, such as a home that hands its own
// transactions to the authorities. validate checks the host's own publications,
// as for Join. Next on such a topic returns ErrPublishOnly.
func (n *Host) JoinPublishOnly(name string, validate func(from ed25519.PublicKey, payload []byte) Verdict) (*Topic, error) {
	return n.join(name, validate, false)
}

func (n *Host) join(name string, validate func(from ed25519.PublicKey, payload []byte) Verdict, subscribe bool) (*Topic, error) {
	if name == "" || strings.ContainsAny(name, "/ \t\n") {
		return nil, fmt.Errorf("%w: topic name %q", ErrConfig, name)
	}
	if validate == nil {
		validate = func(ed25519.PublicKey, []byte) Verdict { return Accept }
	}
	id := TopicID(n.cfg.Network, name)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if _, ok := n.topics[id]; ok {
		return nil, fmt.Errorf("%w: %s", ErrJoined, id)
	}
	t := &Topic{n: n, name: id, validate: validate, delivered: make(map[[32]byte]int64)}
	if err := n.ps.RegisterTopicValidator(id, t.validateMsg); err != nil {
		return nil, fmt.Errorf("register validator %s: %w", id, err)
	}
	pt, err := n.ps.Join(id)
	if err != nil {
		_ = n.ps.UnregisterTopicValidator(id)
		return nil, fmt.Errorf("join %s: %w", id, err)
	}
	var sub *pubsub.Subscription
	if subscribe {
		sub, err = pt.Subscribe(pubsub.WithBufferSize(subscriptionBuffer))
		if err != nil {
			_ = pt.Close()
			_ = n.ps.UnregisterTopicValidator(id)
			return nil, fmt.Errorf("subscribe %s: %w", id, err)
		}
	}
	if !n.cfg.NoScoring {
		if err := pt.SetScoreParams(topicScoreParams()); err != nil {
			if sub != nil {
				sub.Cancel()
			}
			_ = pt.Close()
			_ = n.ps.UnregisterTopicValidator(id)
			return nil, fmt.Errorf("score params %s: %w", id, err)
		}
	}
	t.t, t.sub = pt, sub
	n.topics[id] = t
	return t, nil
}

// Name returns the full topic id.
func (t *Topic) Name() string { return t.name }

// Publish signs payload into an envelope that expires MessageTTL from now and
// publishes it. It fails if the payload is too large, if the topic's own validator
// does not accept it, or if ctx ends first. It succeeds even when no peer is
// connected: gossip is best-effort, and callers that need every node to have a
// payload re-announce it (PublishUntil) or sync it over a request stream.
//
// Expiries come from the local clock: a node whose clock is not synchronised
// must not publish (DESIGN.md, Clocks).
func (t *Topic) Publish(ctx context.Context, payload []byte) error {
	return t.PublishUntil(ctx, payload, t.n.now().Add(t.n.cfg.MessageTTL))
}

// PublishUntil is Publish with an explicit expiry, which may be at most
// MessageTTL+ClockSkew ahead.
//
// Re-announcing a payload that is still valid (after a partition heals, or
// periodically against loss) is publishing it again: the new expiry makes new bytes,
// so the message passes the seen-caches and reaches nodes that missed it, while
// Next on nodes that already delivered the same (sender, payload) skips it. The
// caller decides what to re-announce and when.
func (t *Topic) PublishUntil(ctx context.Context, payload []byte, expiry time.Time) error {
	if len(payload) > t.n.cfg.MaxPayload {
		return fmt.Errorf("publish %d bytes on %s: %w", len(payload), t.name, ErrEnvelopeTooLarge)
	}
	env := Envelope{Network: t.n.cfg.Network, Expiry: expiry.UnixMilli(), Payload: payload}
	env.Sign(t.n.cfg.Key)
	data, err := env.Marshal()
	if err != nil {
		return fmt.Errorf("publish on %s: %w", t.name, err)
	}
	if err := t.t.Publish(ctx, data); err != nil {
		return fmt.Errorf("publish on %s: %w", t.name, err)
	}
	return nil
}

// Next returns the next message from another node; the host's own messages are not
// delivered. It returns ErrClosed after the host closed, or ctx's error.
func (t *Topic) Next(ctx context.Context) (Message, error) {
	if t.sub == nil {
		return Message{}, ErrPublishOnly
	}
	for {
		m, err := t.sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return Message{}, ctx.Err()
			}
			return Message{}, ErrClosed
		}
		if m.Local || m.ReceivedFrom == t.n.h.ID() {
			continue
		}
		env, ok := m.ValidatorData.(*Envelope)
		if !ok {
			continue // cannot happen: the validator sets it on every accepted message
		}
		if env.From.Equal(t.n.pub) {
			continue // our own message coming back (re-announced by someone else)
		}
		if !t.firstDelivery(env) {
			continue // a re-announcement of a payload already delivered and still valid
		}
		return Message{From: env.From, Payload: env.Payload, Expiry: time.UnixMilli(env.Expiry)}, nil
	}
}

// firstDelivery records env and reports whether its (sender, payload) has not been
// delivered before within the validity of the earlier copy. So a re-announced
// payload reaches Next at most once per validity window, however often it comes.
func (t *Topic) firstDelivery(env *Envelope) bool {
	h := sha256.New()
	h.Write(env.From)
	h.Write(env.Payload)
	var key [32]byte
	h.Sum(key[:0])
	now := t.n.now().UnixMilli()
	t.mu.Lock()
	defer t.mu.Unlock()
	if exp, ok := t.delivered[key]; ok && exp > now {
		if env.Expiry > exp {
			t.delivered[key] = env.Expiry
		}
		return false
	}
	t.delivered[key] = env.Expiry
	t.inserts++
	if t.inserts >= 1024 {
		t.inserts = 0
		for k, exp := range t.delivered {
			if exp <= now {
				delete(t.delivered, k)
			}
		}
	}
	return true
}

// Peers returns the ids of peers known to be subscribed to the topic, unsorted.
func (t *Topic) Peers() []string {
	ps := t.t.ListPeers()
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// MeshPeers returns the ids of the peers in this host's gossipsub mesh for
// the topic, sorted: the peers it forwards every message to at once. Other
// subscribed peers (Peers) hear of a message only by gossip at the next
// heartbeat. Gossipsub grafts peers at its heartbeats (Config.Heartbeat), so
// after a host joins, or after a partition heals, a peer is in Peers one
// heartbeat or more before it is here.
func (t *Topic) MeshPeers() []string { return t.n.meshes.peers(t.name) }

func (t *Topic) close() {
	if t.sub != nil {
		t.sub.Cancel()
	}
	_ = t.n.ps.UnregisterTopicValidator(t.name)
	_ = t.t.Close()
}

// validateMsg is the gossipsub validator: decode, network, expiry, signature, rate
// per signer, then the caller's verdict.
func (t *Topic) validateMsg(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	n := t.n
	local := from == n.h.ID()
	c := &n.stats
	env, err := DecodeEnvelope(m.Data, n.cfg.MaxPayload)
	if err != nil {
		c.malformed.Add(1)
		return pubsub.ValidationReject
	}
	if env.Network != n.cfg.Network {
		c.network.Add(1)
		return pubsub.ValidationReject
	}
	now := n.now()
	nowMs := now.UnixMilli()
	if env.Expiry <= nowMs || env.Expiry > nowMs+(n.cfg.MessageTTL+n.cfg.ClockSkew).Milliseconds() {
		c.expired.Add(1)
		return pubsub.ValidationIgnore
	}
	// A local message was signed by this host a moment ago (PublishUntil):
	// verifying it again would only double the cost of every publish.
	if !local && !env.Verify() {
		c.badSig.Add(1)
		return pubsub.ValidationReject
	}
	// Rate per signer, not per forwarding peer: an honest authority forwards
	// everybody's orders in a burst at gate closure, and a message ignored here is
	// in the seen-cache, so it could not arrive again from anyone else. Checked
	// after the signature, so nobody can spend another node's allowance.
	if _, free := (*n.unlimited.Load())[string(env.From)]; !local && !free && !n.msgRate.allow(string(env.From), now) {
		c.rateLimit.Add(1)
		return pubsub.ValidationIgnore
	}
	switch t.validate(env.From, env.Payload) {
	case Accept:
		m.ValidatorData = &env
		c.accepted.Add(1)
		return pubsub.ValidationAccept
	case Ignore:
		c.ignored.Add(1)
		return pubsub.ValidationIgnore
	default:
		c.rejected.Add(1)
		return pubsub.ValidationReject
	}
}
