// Package sim is a simulated meter for the demo and for tests: a home with
// solar panels (PV) and a household load, deterministic in (Seed, simulated
// time since Start).
//
// Simulated time runs Speed times faster than real time from Start:
// sim(t) = (t − Start) × Speed, truncated to whole simulated seconds (times
// before Start count as Start). The simulated day begins at 10:00 at Start, so
// a short demo starts with the panels producing. Sunrise is 06:00, sunset
// 20:00; PV power follows a bell curve (4x(1−x))² over the daylight hours with
// its peak, PVPeak, at 13:00, times a seeded cloud factor per 15 simulated
// minutes (60–100 %) and seeded noise per simulated minute (±5 %). Household
// load is 0.7 × Load at night with a morning bump (peak +1.2 × Load at 07:30),
// a daytime rise (+0.2 × Load, 09:00–17:00) and an evening bump (peak +1.4 ×
// Load at 19:00), seeded noise per simulated minute (±20 %) and, in one
// 15-minute block out of ten, an appliance adding Load. Over a day the load
// averages about Load.
//
// Power is constant within a simulated minute, so the counters are the exact
// integral of net power: Import integrates net consumption, Export net
// production, both kept in integer watt-seconds and reported as whole Wh
// (floor), so no energy is lost to rounding. Everything is integer arithmetic:
// the same seed gives the same readings on every platform.
//
// Imports: meter and unit only.
package sim
