// Package homeassistant publishes the node's meter readings and trading
// state over MQTT with Home Assistant's MQTT discovery, so the homeowner
// sees them in Home Assistant (the energy dashboard takes the import and
// export counters as grid consumption and return).
//
// Topics, with base = Config.BaseTopic (default "gridmesh/<node>"):
//   - <base>/availability: "online" (retained) on every connection; the
//     broker publishes the last will "offline" (retained) when the node
//     drops off, and Close publishes "offline" before disconnecting.
//   - <base>/meter: {"import":kWh,"export":kWh,"power":W,"time":RFC 3339}
//     from PublishReading (energy in Wh instead with EnergyUnit "Wh").
//   - <base>/trading: {"sold":kWh,"bought":kWh,"balance":money,
//     "price":money/kWh,"height":n,"peers":n,"slot":n} from PublishState.
//   - <prefix>/sensor/<node>/<object>/config (prefix default "homeassistant"),
//     retained: one discovery config per sensor, all on one device. Energy
//     sensors are device_class energy, state_class total_increasing, unit
//     Wh or kWh; power is device_class power, state_class measurement, W;
//     balance is device_class monetary, state_class total, unit the currency.
//
// Discovery configs are published on every connection (a broker without
// persistence forgets retained messages when it restarts) and again when
// Home Assistant announces itself ("online" on <prefix>/status). The last
// reading and state are re-sent after each connection. While the broker is
// unreachable, publishing fails at once with ErrNotConnected (no backlog of
// old values); the client reconnects in the background.
//
// Numbers are exact decimals made from the integer units (Wh, W, micro-units
// of money and price): no floating point.
//
// The node passes its trading state as the plain State struct, so this
// package imports meter and unit only (of gridmesh).
package homeassistant
