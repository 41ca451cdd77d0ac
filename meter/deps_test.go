package meter

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports enforces the import rules (DESIGN.md): meter imports unit
// only; drivers under meter/ import meter and unit only (of gridmesh).
func TestImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/gridmesh/gridmesh/meter/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/gridmesh/gridmesh/"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		allowed := map[string]bool{mod + "unit": true}
		if pkg != mod+"meter" {
			allowed[mod+"meter"] = true
		}
		for _, imp := range imports {
			if strings.HasPrefix(imp, mod) && !allowed[imp] {
				t.Errorf("%s imports %s; allowed: %v", pkg, imp, allowed)
			}
		}
	}
}
