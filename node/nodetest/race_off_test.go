//go:build !race

package nodetest

// raceScale stretches the tests' deadlines under the race detector; without
// it they stand as written.
const raceScale = 1
