// Package statesync joins a home to the chain from a snapshot of the state
// (chain: snapshot.go) instead of replaying every block since genesis, and
// serves snapshots to other joining nodes over snapshot/1 (wire:
// snapshot.go). The node wires it (node/statesync.go in package node).
//
// Serving. Every node that has the state serves it, homes as well as
// authorities: a Server holds the snapshots its node took (at most two, the
// newest and the one before, so that a download in progress when a new one
// is taken can finish). The node takes one at every height that is a
// multiple of a fixed interval (node.Options.SnapshotEvery), so that all
// peers hold the same heights and one download spreads over all of them, and
// one at start, so that a node just restarted serves at once. A snapshot is
// a badger read transaction: taking one copies nothing.
//
// Joining (Run). The home asks every peer for its newest snapshot and picks
// the highest height whose block verifies as certified (the caller's
// Verify: the commit certificate against the authority set the home knows;
// a home whose known set no longer signs the chain cannot verify a snapshot
// and follows by blocks). It fetches the manifest from one peer offering
// that height and verifies it whole against the certified state hash; a
// peer whose manifest does not verify is dropped and the next one asked.
// The values come in units of UnitEntries entries, one worker per peer that
// holds the height, each value checked against its digest in the manifest
// as it arrives, so a bad value is pinned on the peer that sent it: that
// peer is dropped (p2p.Host.Block: its connections are closed and it is
// refused for the rest of the process's life; a corrupt value is proof of a
// bad peer or a damaged store, never of load) and its unit goes back to
// the queue for another peer. A home that pruned its old records (chain:
// prune.go) holds stubs of them, never sent as values: it answers "not
// held" for a unit that begins at one, and the joiner takes that unit from
// another peer without counting it against the home (it is not corrupt).
// A joiner fetches no such record anyway (chain.Fetch: it writes their
// stubs itself), so this happens only when the peers disagree on what is
// old. Verified values are staged in the store and
// installed at the end (chain.InstallSnapshot), after which the home
// follows blocks from the snapshot's height as usual.
//
// Imports: chain, p2p and wire of gridmesh (internal/deptest: node/...).
package statesync
