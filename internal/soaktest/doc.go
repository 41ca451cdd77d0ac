// Package soaktest holds issue 19's long-running memory test of a real
// node: one authority and four trading homes, each a `gridmesh run`
// process (package internal/cluster starts them on loopback), trade in 5 s
// slots for GRIDMESH_RSS_MINUTES minutes (60 for the figure) while
// the test samples every process's resident set (VmRSS) every 30 s. At the
// end it fits a least-squares line to the last half of each process's
// samples and fails if any rises faster than the tolerance (rssSlopeLimit,
// 32 KiB a minute: a node that grew so would gain 45 MiB a day, and a
// Raspberry Pi Zero 2 W with 512 MB would run out within days). It also
// fails if the chain did not go on (no slot settled in the last half), so
// a stalled network, whose memory is trivially flat, does not pass.
//
// Decision: no CI-sized default. A run of a couple of minutes measures the
// start-up (badger opening its tables, the first blocks, the first slots),
// not a trend; the test runs only when GRIDMESH_RSS_MINUTES is set (at
// least 10), and `go test` without it skips. The slope's arithmetic
// (slope, lastHalf) has table tests that always run.
//
// Imports: internal/cluster and internal/crashtest (its Build) of gridmesh
// (enforced by internal/deptest) and the standard library. Tests only: the
// shipped binary does not link it.
package soaktest
