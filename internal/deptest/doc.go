// Package deptest holds no code: its tests enforce the project's import rules
// (README.md, "Layout": which package may import which) over `go list -deps
// -json ./...`, and check that every package directory has a doc.go whose
// package comment says what the package owns and what it may import, and
// that no function of a non-test file is over 100 lines and no non-test
// file over 800 (a file may say why it is larger in a "// size:" line at
// its top).
//
// The rules live in one table, rules in deptest_test.go; a new package of
// ours needs a row there, or the test fails and says so.
//
// Imports: nothing of gridmesh (its tests run the go command).
package deptest
