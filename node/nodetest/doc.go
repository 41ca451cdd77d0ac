// Package nodetest holds node's whole-network tests: several real nodes in
// one process on loopback, through the same config files (written by
// node.WriteDemoNetwork) and code as `gridmesh run`, for minutes of slots —
// the end-to-end run, four authorities with one stopped and reopened, and
// the market's welfare in the running network. They are the longest of
// node's tests under -race, so they run as a package of their own, in
// parallel with node's (go test runs packages side by side), and node's own
// test binary stays well inside go test's 10-minute default timeout on a
// loaded two-core machine.
//
// They see the node only as a user does: node's exported API (Load, Run,
// Options with OnEvent, Status, Account, StatusURL) and its HTTP API. A
// whole-network test that needs one of node's unexported seams (the outage
// tests cut a home's p2p host and read its meter journal) stays in node.
//
// It is tests only: no package imports it. Its tests import node, chain,
// config, ident, market, market/markettest and unit of gridmesh (the rule
// in internal/deptest).
package nodetest
