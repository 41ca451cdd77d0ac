package p2p

import (
	"net"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Peer-scoring thresholds. A peer below GossipThreshold gets no gossip from us, below
// PublishThreshold none of our publications, below GraylistThreshold all its RPCs
// are ignored. With InvalidMessageWeight = -100 and the counter squared, three
// invalid messages cost -900 (no more gossip to the peer), five -2500 (graylisted);
// the counter decays to 1% in 30 minutes. Softer than one strike, so that a node
// whose validator is briefly behind (an authority-set change it has not applied
// yet) does not cut itself off from honest peers; a spammer is still graylisted
// after a handful of messages.
const (
	GossipThreshold      = -500
	PublishThreshold     = -1000
	GraylistThreshold    = -2500
	AcceptPXThreshold    = 100 // only authorities (bootstrap/direct peers) hand out peers
	InvalidMessageWeight = -100
	trustedPeerScore     = 200 // app-specific score of bootstrap and direct peers
)

// privateNets are exempt from the IP colocation penalty: a LAN demo or an in-process
// simulation puts every node on one address.
var privateNets = func() []*net.IPNet {
	var out []*net.IPNet
	for _, s := range []string{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "::1/128", "fc00::/7", "fe80::/10"} {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			panic(err)
		}
		out = append(out, n)
	}
	return out
}()

// scoreParams returns peer-scoring parameters for a network of 10 to 1,000 nodes
// whose traffic is bursty (orders near gate closure, votes per block) and often idle.
// The reasoning:
//   - mesh-delivery penalties (P3, P3b) are off: in an idle neighbourhood an honest
//     mesh peer has nothing to deliver, and penalising it would churn the mesh;
//   - invalid messages (P4) are punished hard, because a node validates before it
//     forwards, so an honest peer never forwards an invalid message. Callers must
//     therefore return Reject only for payloads invalid for everyone (bad encoding,
//     bad signature), Ignore for what depends on their own view (unknown sender,
//     stale, duplicate);
//   - first deliveries (P2) and time in mesh (P1) earn a little, capped at 10+1, so
//     a spammer cannot bank enough credit to survive its first invalid message;
//   - behavioural penalties (broken promises, GRAFT floods) follow the spec's advice;
//   - more than 5 peers on one public IP are penalised (Sybils from one box), private
//     and loopback ranges are exempt;
//   - authorities (bootstrap and direct peers) get a fixed bonus: their PX is trusted
//     and they stay in the mesh.
func (n *Host) scoreParams() (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	trusted := make(map[peer.ID]bool)
	for _, ais := range [][]string{n.cfg.Bootstrap, n.cfg.Direct} {
		infos, _ := parseAddrInfos(ais) // already validated in New
		for _, ai := range infos {
			trusted[ai.ID] = true
		}
	}
	params := &pubsub.PeerScoreParams{
		Topics:        make(map[string]*pubsub.TopicScoreParams),
		TopicScoreCap: 20,
		AppSpecificScore: func(p peer.ID) float64 {
			if trusted[p] {
				return trustedPeerScore
			}
			return 0
		},
		AppSpecificWeight:           1,
		IPColocationFactorWeight:    -100,
		IPColocationFactorThreshold: 5,
		IPColocationFactorWhitelist: privateNets,
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:               pubsub.DefaultDecayInterval,
		DecayToZero:                 pubsub.DefaultDecayToZero,
		RetainScore:                 time.Hour,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		GossipThreshold:             GossipThreshold,
		PublishThreshold:            PublishThreshold,
		GraylistThreshold:           GraylistThreshold,
		AcceptPXThreshold:           AcceptPXThreshold,
		OpportunisticGraftThreshold: 2,
	}
	return params, thresholds
}

// topicScoreParams are the per-topic parameters every joined topic gets.
func topicScoreParams() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight:                     1,
		TimeInMeshWeight:                1.0 / 3600, // 1 point after an hour in the mesh
		TimeInMeshQuantum:               time.Second,
		TimeInMeshCap:                   3600,
		FirstMessageDeliveriesWeight:    0.1,
		FirstMessageDeliveriesDecay:     pubsub.ScoreParameterDecay(10 * time.Minute),
		FirstMessageDeliveriesCap:       100, // at most 10 points
		MeshMessageDeliveriesWeight:     0,   // off, see scoreParams
		MeshMessageDeliveriesDecay:      pubsub.ScoreParameterDecay(time.Minute),
		MeshMessageDeliveriesCap:        1,
		MeshMessageDeliveriesThreshold:  1,
		MeshMessageDeliveriesActivation: time.Minute,
		MeshMessageDeliveriesWindow:     10 * time.Millisecond,
		MeshFailurePenaltyWeight:        0,
		MeshFailurePenaltyDecay:         pubsub.ScoreParameterDecay(time.Minute),
		InvalidMessageDeliveriesWeight:  InvalidMessageWeight,
		InvalidMessageDeliveriesDecay:   pubsub.ScoreParameterDecay(30 * time.Minute),
	}
}

// Scores returns the gossipsub score of every connected peer as of the last
// second, keyed by peer id. It is empty when scoring is disabled.
func (n *Host) Scores() map[string]float64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]float64, len(n.scores))
	for p, s := range n.scores {
		out[p.String()] = s
	}
	return out
}

func (n *Host) inspectScores(m map[peer.ID]float64) {
	n.mu.Lock()
	n.scores = m
	n.mu.Unlock()
}
