package p2p

import (
	"crypto/sha256"
	"fmt"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Gossipsub protocol ids of gridmesh. Nodes speak only these, never the public
// /meshsub/ ids, so they cannot join a public mesh by accident.
const (
	GossipSubID11 = protocol.ID("/gridmesh/meshsub/1.1.0")
	GossipSubID12 = protocol.ID("/gridmesh/meshsub/1.2.0")
)

// Verdict is a topic validator's decision on a payload.
type Verdict int

const (
	// Accept delivers the message and forwards it.
	Accept Verdict = iota
	// Reject drops the message and penalises the peer that forwarded it (peer
	// scoring graylists a peer after about five). Use it only for payloads that
	// are invalid for every node (bad encoding, bad signature); use Ignore for what
	// depends on this node's view (unknown sender, stale, duplicate).
	Reject
	// Ignore drops the message without penalty (stale, duplicate, not yet useful).
	Ignore
)

func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case Reject:
		return "reject"
	case Ignore:
		return "ignore"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

func (n *Host) pubsubOptions(direct []peer.AddrInfo) []pubsub.Option {
	opts := []pubsub.Option{
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(func(m *pb.Message) string {
			sum := sha256.Sum256(m.Data)
			return string(sum[:])
		}),
		pubsub.WithFloodPublish(true),
		pubsub.WithGossipSubProtocols([]protocol.ID{GossipSubID12, GossipSubID11}, gossipFeatures),
		pubsub.WithMaxMessageSize(envelopeOverhead + MaxNetworkLen + n.cfg.MaxPayload + 1024),
		// A message stays in the seen-cache for as long as it can be valid, so a
		// valid message never loops back.
		pubsub.WithSeenMessagesTTL(n.cfg.MessageTTL + 2*n.cfg.ClockSkew),
		pubsub.WithValidateQueueSize(512),
		pubsub.WithPeerOutboundQueueSize(256),
		pubsub.WithLogger(n.log.With("component", "gossipsub")),
		pubsub.WithRawTracer(tracer{c: &n.stats, m: &n.meshes}),
	}
	if n.cfg.Heartbeat > 0 || n.cfg.MeshDegree > 0 {
		opts = append(opts, pubsub.WithGossipSubParams(gossipParams(n.cfg)))
	}
	if len(direct) > 0 {
		opts = append(opts, pubsub.WithDirectPeers(direct))
	}
	if !n.cfg.NoScoring {
		params, thresholds := n.scoreParams()
		opts = append(opts,
			pubsub.WithPeerScore(params, thresholds),
			pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(n.inspectScores), time.Second))
	}
	return opts
}

// gossipParams derives the gossipsub parameters from cfg: D = MeshDegree with the
// other degrees scaled as in the defaults (D 6, Dlo 5, Dhi 12, Dscore 4, Dout 2).
func gossipParams(cfg Config) pubsub.GossipSubParams {
	gp := pubsub.DefaultGossipSubParams()
	if cfg.Heartbeat > 0 {
		gp.HeartbeatInterval = cfg.Heartbeat
		gp.HeartbeatInitialDelay = cfg.Heartbeat / 10
	}
	if d := max(cfg.MeshDegree, 4); cfg.MeshDegree > 0 {
		gp.D = d
		gp.Dlo = d - 1
		gp.Dhi = 2 * d
		gp.Dscore = (2*d + 2) / 3
		gp.Dout = d/2 - 1 // gossipsub wants Dout < Dlo and Dout < D/2
		gp.Dlazy = d
	}
	return gp
}

// gossipFeatures maps gridmesh's gossipsub ids to the features of the public
// versions they mirror (1.1: mesh and PX; 1.2: adds IDONTWANT).
func gossipFeatures(feat pubsub.GossipSubFeature, proto protocol.ID) bool {
	switch feat {
	case pubsub.GossipSubFeatureMesh, pubsub.GossipSubFeaturePX:
		return proto == GossipSubID11 || proto == GossipSubID12
	case pubsub.GossipSubFeatureIdontwant:
		return proto == GossipSubID12
	}
	return false
}
