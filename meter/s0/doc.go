// Package s0 counts S0 pulses (DIN 43864 / EN 62053-31) on GPIO pins and
// serves the counters as a meter.Reader.
//
// An S0 output is an opto-coupled open collector: wired to a Pi GPIO with the
// internal pull-up, the line idles high and is pulled low for each pulse
// (at least 30 ms long; many meters give 90 ms). The meter's constant
// (impulses per kWh, e.g. 1000 or 800, printed on its front) converts pulses
// to energy. One pin counts import, an optional second pin export.
//
// Debounce. Each pin runs its own loop (Run) on WaitForEdge with a finite
// timeout (periph's WaitForEdge(-1) returns at once on current Pi OS). A
// level counts only once it has held for Config.Debounce (at least 30 ms):
// contact bounce and interference spikes shorter than that change nothing,
// and a pulse is counted when its active level has held for the debounce
// time, which the loop notices at the next edge or the next poll timeout
// (Config.Poll). The pulse's time is that of the edge that began the stable
// active level. The debounce must therefore be shorter than both the meter's
// pulse width and its pause between pulses.
//
// Counters are watt-hours: each pulse adds 1000/Impulses Wh, the part below
// one watt-hour is kept as a remainder in units of 1/Impulses Wh, so no pulse
// is lost to rounding (800 pulses make exactly 1000 Wh).
//
// Persistence. With Config.StateFile set the counters survive restarts: the
// state is written atomically (temporary file, fsync, rename, fsync of the
// directory) after SaveEvery pulses (default 100) or SaveInterval (default
// 5 min) after an unsaved pulse, whichever comes first, and when Run returns.
// After a power loss up to SaveEvery pulses (at most SaveInterval's worth)
// are missing from the counter, which then stands below the meter journal's
// last reading. The node should call AtLeast with the journal's last counters
// after New, so the counter resumes from the journal and nothing is counted
// twice; without that the sampler rejects readings as going backwards until
// the counter has re-counted the gap. A state file written for another
// impulse constant is converted (the remainder rounded down). A corrupt state
// file is an error, never a silent reset to zero.
//
// Power is estimated from the interval between the last two pulses,
// P = (3600 s/h · 1000/Impulses Wh) / interval, and decays as 1/t once the
// time since the last pulse exceeds that interval (no pulse for an hour at
// 1000 imp/kWh reads as at most 1 W). Net power is import minus export.
// Readings carry the Estimated flag, and NoExport when there is no export pin.
//
// Read, AtLeast and Save are safe for concurrent use with Run.
//
// Open looks pins up by name (e.g. "GPIO17") through periph.io/x/host; it is
// only exercised on a Pi. New takes any periph gpio.PinIn, so tests use
// periph's gpiotest pins.
//
// Imports: meter and unit only (of gridmesh).
package s0
