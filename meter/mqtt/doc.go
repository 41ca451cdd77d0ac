// Package mqtt is a meter.Reader fed by MQTT messages from devices that
// measure the home's connection and publish it: Tasmota (an energy
// monitoring device, or a smart meter read head running an SML script),
// Shelly Gen2 energy meters (Pro 3EM, 3EM-63), and any device that sends
// JSON, with a dot-separated path and a unit per value.
//
// Formats (Config.Format):
//   - tasmota: tele/<topic>/SENSOR. ENERGY.Total (or ENERGY.Import) is the
//     import counter in kWh, ENERGY.Export (or ENERGY.ExportActive) the
//     export counter, ENERGY.Power the power in W; arrays (one value per
//     channel) are added up. SML script output: one object with Total_in,
//     Total_out (kWh), Power_curr (W) and Meter_number, the names of
//     Tasmota's documented meter scripts.
//   - shelly: NotifyStatus / NotifyFullStatus on <prefix>/events/rpc and the
//     status topics <prefix>/status/em:0 and <prefix>/status/emdata:0.
//     em:0.total_act_power (W) and a_/b_/c_ voltage, current and act_power
//     (per phase); emdata:0.total_act and total_act_ret (Wh). Power and
//     counters arrive in separate messages and are merged.
//   - json: Generic paths ("ENERGY.Total", "data.0.e": object keys and array
//     indices), energy unit Wh or kWh, power unit W or kW; values are JSON
//     numbers or strings holding a decimal number.
//
// Decoding is strict: a payload larger than MaxPayload, not one JSON object,
// with data after it, a value that is not a decimal number, a negative or
// out-of-range counter, is bad: it is counted in Stats.Bad (with its error
// in Stats.LastError) and never changes the values. Decimals become integer
// Wh and W by truncation toward zero, without floating point. Every decoder
// is fuzzed.
//
// Connection: New starts paho in the background and never blocks; it
// connects with a clean session and subscribes in the on-connect handler, so
// every reconnection (a broker restart, which forgets subscriptions)
// subscribes again. Reconnects back off from 1 s to Config.MaxReconnect.
//
// Staleness: Read fails with ErrStale when the last message with a counter
// is older than Config.Stale (default DefaultStale, 330 s, above Tasmota's
// default TelePeriod of 300 s). A reading's Time is when that message
// arrived, so a Read between two messages returns the same reading again
// (the sampler counts it as not newer and skips it). Power or phase values
// older than Stale are left out (NoPower, no PhasesValid). Before the first
// counter message Read waits until ctx is done, then fails with
// ErrNoMessage, saying whether the broker is connected.
//
// The Reader is safe for concurrent use. Package broker runs an embedded
// MQTT broker (tests, demo); package mqtttest runs tests against it and
// against mosquitto.
//
// Imports: meter and unit only (of gridmesh).
package mqtt
