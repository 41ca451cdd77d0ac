// Package broker runs an embedded MQTT broker (mochi-mqtt) for tests and for
// the demo, where a whole microgrid runs on one machine with nothing to
// install. It allows every client (no authentication): bind it to loopback.
//
// Imports: nothing of gridmesh.
package broker
