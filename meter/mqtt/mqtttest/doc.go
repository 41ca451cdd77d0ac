// Package mqtttest runs tests against real MQTT brokers on loopback: the
// embedded broker (meter/mqtt/broker) always, and mosquitto when it is
// installed. In CI (CI=true) or with GRIDMESH_REQUIRE_ALL=1 a missing
// mosquitto fails the test instead of skipping it.
//
// It starts mochi-mqtt itself rather than through meter/mqtt/broker, which
// the import rule (meter/* import meter and unit only) forbids.
//
// Imports: nothing of gridmesh. Test code only.
package mqtttest
