package meter

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports enforces the import rules (DESIGN.md): meter imports unit
// only; drivers under meter/ import meter and unit only (of gridmesh), plus
// packages of their own driver directory (meter/mqtt/mqtttest may import
// meter/mqtt/broker, never meter/modbus).
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
		driver := ""
		if pkg != mod+"meter" {
			allowed[mod+"meter"] = true
			driver = mod + "meter/" + strings.SplitN(strings.TrimPrefix(pkg, mod+"meter/"), "/", 2)[0]
		}
		for _, imp := range imports {
			ownDriver := driver != "" && (imp == driver || strings.HasPrefix(imp, driver+"/"))
			if strings.HasPrefix(imp, mod) && !allowed[imp] && !ownDriver {
				t.Errorf("%s imports %s; allowed: %v", pkg, imp, allowed)
			}
		}
	}
}
