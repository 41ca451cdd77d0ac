package crashtest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build builds the gridmesh binary of the module that holds the working
// directory into dir and returns its path (tests that run nodes as
// processes use it).
func Build(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	bin := filepath.Join(dir, "gridmesh")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/gridmesh")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gridmesh: %w\n%s", err, b)
	}
	return bin, nil
}
