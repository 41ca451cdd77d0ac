package s0

import (
	"fmt"

	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

// Open initialises periph's host drivers (on a Pi: /dev/gpiochip), looks
// up the pins by name ("GPIO17", or a header position such as "P1_11"),
// and calls New. exportPin may be "" for no export counter. cfg.Import and
// cfg.Export are replaced by the pins found. Only exercised on a Pi.
func Open(importPin, exportPin string, cfg Config) (*Meter, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("s0: gpio init: %w", err)
	}
	p := gpioreg.ByName(importPin)
	if p == nil {
		return nil, fmt.Errorf("%w: no gpio pin %q", ErrConfig, importPin)
	}
	cfg.Import, cfg.Export = p, nil
	if exportPin != "" {
		q := gpioreg.ByName(exportPin)
		if q == nil {
			return nil, fmt.Errorf("%w: no gpio pin %q", ErrConfig, exportPin)
		}
		cfg.Export = q
	}
	return New(cfg)
}
