// Package markettest gives the tests of other packages (chain, node) a
// deliberately simple reference for a slot's clearing: the largest gains
// from trade its book allows, found by brute force over every volume
// (MaxGains), and the gains a clearing's trades realise (Gains). Test code
// only: nothing the gridmesh binary links imports it.
//
// Imports: market and unit (internal/deptest).
package markettest
