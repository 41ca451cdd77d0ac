// Package soaktest holds issue 19's long-running memory test of a real
// node: one authority and four trading homes, each a `gridmesh run`
// process (package internal/cluster starts them on loopback), trade in 5 s
// slots for GRIDMESH_RSS_MINUTES minutes (60 for the figure) while
// the test samples every process's resident set (VmRSS) every 30 s. At the
// end it fits a least-squares line (net of the memtables, see below) to
// the last half of each process's samples and fails if any rises faster
// than the tolerance (rssSlopeLimit,
// 32 KiB a minute: a node that grew so would gain 45 MiB a day, and a
// Raspberry Pi Zero 2 W with 512 MB would run out within days).
//
// Decision: the trend is judged net of the chain store's memtables. A
// memtable is badger's write buffer: an arena of about 10.4 MiB (Go memory
// allocated whole, paged in as it is written) and a log mapped from a file
// (paged out every 64 blocks, chain/mapped.go), flushed to a table and freed
// when 8 MiB are written, the least that holds a full block's write
// (chain/storeopts.go). Measured at this test's load: the log grows 240–280
// KB a minute at every node (1.03 MB after 3.7 minutes, 1.89 MB after 8),
// so a memtable fills in 27–35 minutes, and RSS rises with its arena until
// the flush and drops (README: 40.5 MB after the first flush, 49.8 just
// before the second): a sawtooth of about 8 MiB whose period is the
// half-hour window's own, whose plain slope was +170 KiB/min at the homes
// with no leak. So each sample also records the written length of the
// chain store's memtable logs (Mem, KiB; memFill), and the test fits
// RSS = a + b·t + c·Mem over the last half and judges b (trend). A leak
// rises with time whatever the memtable does, and a flush within the
// window, where Mem falls and time does not, tells the two apart; without a
// flush in the last half (at least minSide samples on either side) trend is
// the plain slope. TestTrend checks the arithmetic on a synthetic sawtooth
// of the measured figures at several phases, with and without a leak.
//
// Measured in the hour's run with this fit (README): the anonymous memory
// followed the arena in one of two ways, chosen at each flush: ramping with
// the fill (about 1.2 KiB of RSS per KiB of log) and dropping 8–10 MB at
// the next flush, or resident at once and flat (by our reading, the new
// arena in reused, zeroed memory, the freed one still resident beside it):
// the authority rose 9 MB between same-phase points and failed
// (+374 KiB/min).
// Since the chain returns a flushed memtable's freed arena to the system
// (chain/mapped.go, releaseArena) every process passes (authority
// −36.9 KiB/min, homes −335 to −377).
//
// It also
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
