// Package crashtest holds the SIGKILL test of issue 4 and Build, which builds
// the gridmesh binary for the tests that run nodes as processes (this
// package's, internal/nattest's, internal/soaktest's, cmd/gridmesh's bench
// test). It runs the
// nodes with package internal/cluster. It is a test harness: the shipped
// binary must not link it (`go list -deps ./cmd/gridmesh` shows no
// internal/crashtest; cmd/gridmesh's TestBinaryLinksNoHarness checks it).
//
// The test (crashtest_test.go): one authority, chosen by the seed, is killed
// at each of 50 seeded random moments under light load and restarted at
// once; at the end every authority must be up and progressing, all must
// agree on the state hash at a common height, none may report or have logged
// (in any incarnation) evidence of a double-sign, the observer
// (cluster.Observer) must have seen none, and no incarnation may have
// panicked or exited by itself. The test builds the gridmesh binary, takes
// about two minutes and is skipped under -short. Flags: -crashtest.seed
// (default: from the clock, printed), -crashtest.kills, -crashtest.span (the
// window in which the kills fall).
//
// Imports: internal/cluster of gridmesh (enforced by internal/deptest) and
// the standard library.
package crashtest
