package node

import "sync/atomic"

// stats are the node's counters shown in the status (Status).
type stats struct {
	rejected atomic.Int64 // payloads from peers refused as malformed or forged
	ignored  atomic.Int64 // payloads dropped as not acceptable now (late, duplicate, unknown signer)
	evidence atomic.Int64 // conflicting signed messages seen from authorities
	// votesFetched counts consensus messages obtained by asking a peer (votes.go).
	votesFetched atomic.Int64
	// proposalsFetched counts proposals that came as tx hashes with some
	// transaction not in the pool, fetched whole (fetchProposal).
	proposalsFetched atomic.Int64
}
