// Package portlease hands out loopback TCP ports for libp2p listeners whose
// port must be written into configs before the node that listens on it starts
// (the demo's and the tests' authorities, whose addresses every other node
// bootstraps from).
//
// Listening on port 0 and closing the listener again, the usual trick, leaves
// a window in which the kernel may give the same port to anyone else: an
// outgoing connection of a parallel test process or another listener on port
// 0. Under four parallel `go test` runs of node's multi-node tests that window
// was hit about once in a hundred networks ("bind: address already in use").
// A lease closes the window: it binds a socket with SO_REUSEPORT (and not
// SO_REUSEADDR) to the port and does not listen on it. The kernel gives a
// bound port to no one else (neither to connect nor to a bind to port 0, and
// an explicit bind without SO_REUSEPORT is refused), while a libp2p TCP
// listener, which binds with SO_REUSEPORT as the same user, can still bind
// it; the lease receives no connections because it never listens.
// A lease is released after its hold time, by which the node has bound the
// port itself.
//
// It imports nothing of ours (internal/deptest).
package portlease
