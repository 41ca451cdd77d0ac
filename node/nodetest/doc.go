// Package nodetest holds node's whole-network tests: several real nodes in
// one process on loopback, through the same config files (written by
// node.WriteDemoNetwork) and code as `gridmesh run`, for minutes of slots —
// the end-to-end run, four authorities with one stopped and reopened, a
// burst of orders, the indicative price at the gate, and the market's
// welfare in the running network. They are among the longest of node's
// tests under -race, so they run as a package of their own, beside node's
// (go test runs packages side by side), and node's own test binary is
// short enough to be run again and again. Each test calls t.Parallel: go
// test runs two of these networks at a time (-parallel, GOMAXPROCS), which
// mostly wait for their slots, so that -count=3 fits in go test's default
// 10 minutes on the loaded two-core machine.
//
// Its tests see the node only as a user does: node's exported API (Load,
// Run, Options with OnEvent, Status, Account, StatusURL) and its HTTP API.
// A whole-network test that needs one of node's unexported seams (the
// outage tests cut a home's p2p host and read its meter journal) stays in
// node.
//
// Its one non-test file, nodetest.go, holds the helpers node's own tests
// share with these (WaitFor, Eventually, Go and Background, EditGenesis,
// EditConfig, NodeKey, Settlements); it does not import node, so node's
// tests can import it.
//
// Those helpers are exported on purpose: nodetest is a test-support
// package, as net/http/httptest is, and every exported identifier in it is
// used by node's tests (one used only here would be unexported). It is test
// code only: the gridmesh binary does not link it (cmd/gridmesh's
// TestBinaryLinksNoHarness).
//
// Imports: chain, config and unit (internal/deptest); its tests also node,
// ident, market and market/markettest.
package nodetest
