//go:build race

package nodetest

// raceScale stretches the tests' deadlines under the race detector, which
// slows the nodes several times over (more on a loaded machine).
const raceScale = 3
