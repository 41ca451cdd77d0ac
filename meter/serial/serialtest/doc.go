// Package serialtest makes virtual serial pairs for tests: two pseudo
// terminals joined by socat, as a USB serial adapter and the meter at the
// other end of its cable.
//
// When socat is missing the test fails if CI=true or GRIDMESH_REQUIRE_ALL=1,
// and is skipped otherwise.
//
// Imports: nothing of gridmesh.
package serialtest
