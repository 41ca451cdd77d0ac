// Package mqtttest runs tests against real MQTT brokers on loopback: the
// embedded broker (meter/mqtt/broker) always, and mosquitto when it is
// installed. In CI (CI=true) or with GRIDMESH_REQUIRE_ALL=1 a missing
// mosquitto fails the test instead of skipping it.
//
// Imports: meter/mqtt/broker (the embedded broker; an exception to the
// meter/* rule that internal/deptest states). Test code only.
package mqtttest
