package portlease

import (
	"fmt"
	"time"
)

// TCP leases a free TCP port on 127.0.0.1 for hold and returns its number.
// Where leases are not supported (not Linux) it falls back to listening on
// port 0 and closing, with the window described in the package doc.
func TCP(hold time.Duration) (int, error) {
	port, release, err := lease()
	if err != nil {
		return 0, fmt.Errorf("lease a loopback port: %w", err)
	}
	time.AfterFunc(hold, release)
	return port, nil
}
