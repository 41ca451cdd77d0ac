package p2p

import pubsub "github.com/libp2p/go-libp2p-pubsub"

// ScoreParams returns the gossipsub peer-scoring parameters used when
// Config.Scoring is set.
func ScoreParams() (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	return nil, nil
}
