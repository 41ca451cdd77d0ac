// Package update is gridmesh's update client: signed release manifests,
// two binary slots with a trial, and the launcher's choice of binary at
// each start. See README.md in this directory for how a utility signs and
// publishes a release and how a home takes it.
//
// Imports: nothing of gridmesh (enforced by internal/deptest): the command
// (cmd/gridmesh) reads the pinned keys from genesis.toml and the node's
// health from its HTTP API and passes them in. Third-party:
// aead.dev/minisign.
package update
