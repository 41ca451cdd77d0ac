// Package upgradetest holds issue 17's rolling-upgrade test with two real
// binaries: the previous release's gridmesh, built from a fixed commit of
// the repository (previous; `git archive` of it, built beside the working
// tree, which stays untouched), and this tree's. A network of authorities
// and trading homes (package internal/cluster) starts on the old binary and
// moves to the new one node by node while it trades; the test asserts that
// no slot is lost and that every node ends with the same state.
//
// Builds use -trimpath, so that the packages both trees share come from the
// build cache; both binaries take about a minute on a loaded two-core
// machine the first time. The test is skipped under -short; without git it
// is skipped, except under CI=true, where it fails (CI runs on a clone of
// the repository). A shallow clone that lacks previous fails with a line
// that says so.
//
// It is a test harness: the shipped binary must not link it.
//
// Imports: chain, config, ident and internal/cluster of gridmesh (enforced by internal/deptest) and
// the standard library.
package upgradetest
