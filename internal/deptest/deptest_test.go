package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/gridmesh/gridmesh"

// rule says which packages of ours a package may import. Standard library and
// third-party imports are always allowed.
type rule struct {
	pkg   string   // path below the module; a trailing "/..." matches the packages below it
	allow []string // same form; "*" allows anything of ours
}

// rules are the import rules of README.md ("Layout"). The first matching row
// wins.
var rules = []rule{
	{"unit", nil},
	{"ident", nil}, // the shared identity and hash types: a leaf
	{"market", []string{"unit"}},
	{"market/markettest", []string{"market", "unit"}}, // test helper: the brute-force reference for chain's and node's tests
	{"chain/consensus", []string{"ident"}},            // DESIGN's "imports nothing of ours", amended for ident (issue 18)
	{"chain/sim", []string{"chain", "chain/consensus", "ident", "market", "unit"}},
	{"chain", []string{"ident", "unit", "market"}},
	{"meter", []string{"unit"}},
	{"meter/mqtt/mqtttest", []string{"meter/mqtt/broker"}}, // test helper: runs the embedded broker
	{"meter/...", []string{"meter", "unit"}},
	{"p2p", nil},
	{"p2p/p2psim", []string{"p2p"}}, // the gossip simulator (gridmesh sim p2p)
	{"config", []string{"unit"}},
	{"wire", []string{"chain", "chain/consensus", "ident", "unit"}},
	{"node/web", nil}, // the dashboard's embedded pages: the node registers it
	{"node", []string{"*"}},
	{"node/nodetest", []string{"chain", "config", "unit"}}, // node's whole-network tests and the helpers node's tests share with them; tests only
	{"node/...", []string{"*"}},
	{"cmd/gridmesh", []string{"*"}},
	{"internal/deptest", nil},
	{"internal/cluster", []string{"chain", "chain/consensus", "config", "ident", "internal/portlease", "market", "p2p", "unit"}}, // gridmesh processes for bench chain and the crash tests
	{"internal/crashtest", []string{"internal/cluster"}},                                                                         // tests only; cmd/gridmesh must not link it
	{"internal/upgradetest", []string{"chain", "config", "ident", "internal/cluster"}},                                           // the rolling-upgrade test (issue 17); tests only
	{"internal/soaktest", []string{"internal/cluster", "internal/crashtest"}},                                                    // the RSS soak test (issue 19); tests only
	{"internal/nattest", []string{"p2p"}},
	{"internal/portlease", nil}, // loopback ports leased for the demo's and the clusters' listeners
	{"configs/...", nil},        // data embedded as packages (configs/meters)
	{"firmware", []string{"config", "unit"}},
	{"firmware/enrol", nil},
	{"firmware/sdnotify", nil},
	{"firmware/deb", []string{"firmware", "config", "unit"}},
	{"firmware/cmd/mkdeb", []string{"firmware/deb", "firmware", "config", "unit"}},
	{"firmware/...", []string{"*"}},
	{"update", nil}, // the update client: keys and health come in from cmd/gridmesh
}

func match(pattern, rel string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return strings.HasPrefix(rel, base+"/")
	}
	return pattern == rel
}

func ruleFor(rel string) (rule, bool) {
	for _, r := range rules {
		if match(r.pkg, rel) {
			return r, true
		}
	}
	return rule{}, false
}

func (r rule) allows(rel string) bool {
	for _, a := range r.allow {
		if a == "*" || match(a, rel) {
			return true
		}
	}
	return false
}

type pkg struct {
	ImportPath string
	Dir        string
	Name       string
	Standard   bool
	Module     *struct{ Path string }
	Imports    []string
	GoFiles    []string
	Error      *struct{ Err string }
}

// goList runs `go list -e -deps -json ./...` at the module root and returns
// the packages of this module.
func goList(t *testing.T) []pkg {
	t.Helper()
	root := moduleRoot(t)
	cmd := exec.Command("go", "list", "-e", "-deps", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var ours []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		if p.ImportPath == module || strings.HasPrefix(p.ImportPath, module+"/") {
			ours = append(ours, p)
		}
	}
	if len(ours) == 0 {
		t.Fatal("go list found no packages of " + module)
	}
	return ours
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("not inside the gridmesh module")
	}
	return filepath.Dir(gomod)
}

func rel(importPath string) string {
	return strings.TrimPrefix(strings.TrimPrefix(importPath, module), "/")
}

func TestImportRules(t *testing.T) {
	for _, p := range goList(t) {
		from := rel(p.ImportPath)
		r, ok := ruleFor(from)
		if !ok {
			t.Errorf("%s has no import rule: add a row to rules in internal/deptest/deptest_test.go (and say it in the package's doc.go)", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue // standard library or third-party
			}
			if !r.allows(rel(imp)) {
				t.Errorf("%s imports %s, which its rule forbids (allowed of ours: %s)", p.ImportPath, imp, describe(r.allow))
			}
		}
	}
}

func describe(allow []string) string {
	if len(allow) == 0 {
		return "nothing"
	}
	return strings.Join(allow, ", ")
}

// TestRules checks the table itself on known cases, so that a broken
// matcher cannot make TestImportRules pass vacuously.
func TestRules(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		want     bool
	}{
		{"market", "unit", true},
		{"market", "chain", false},
		{"unit", "market", false},
		{"chain", "market", true},
		{"chain", "chain/consensus", false},
		{"chain", "p2p", false},
		{"chain", "meter", false},
		{"chain/consensus", "unit", false},
		{"chain/consensus", "ident", true},
		{"chain/consensus", "chain", false},
		{"ident", "unit", false},
		{"chain", "ident", true},
		{"meter", "unit", true},
		{"meter", "meter/sim", false},
		{"meter/sim", "meter", true},
		{"meter/modbus", "market", false},
		{"p2p", "unit", false},
		{"p2p/p2psim", "p2p", true},
		{"p2p/p2psim", "node", false},
		{"internal/cluster", "node", false},
		{"config", "unit", true},
		{"config", "market", false},
		{"node", "chain/consensus", true},
		{"wire", "chain", true},
		{"wire", "chain/consensus", true},
		{"wire", "p2p", false},
		{"wire", "node", false},
		{"cmd/gridmesh", "node", true},
		{"node/nodetest", "node", false}, // node's tests import it
		{"node/nodetest", "p2p", false},
		{"update", "config", false},
	} {
		r, ok := ruleFor(tc.from)
		if got := ok && r.allows(tc.to); got != tc.want {
			t.Errorf("%s may import %s: got %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

// TestDocGo checks that every package directory has a doc.go with a package
// comment that says what the package may import.
func TestDocGo(t *testing.T) {
	var missing []string
	for _, p := range goList(t) {
		if len(p.GoFiles) == 0 {
			continue // only tests here (or a package with errors): nothing to document
		}
		path := filepath.Join(p.Dir, "doc.go")
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			missing = append(missing, p.ImportPath+": no doc.go")
			continue
		}
		if f.Doc == nil {
			missing = append(missing, p.ImportPath+": doc.go has no package comment")
			continue
		}
		if !strings.Contains(strings.ToLower(f.Doc.Text()), "import") {
			missing = append(missing, p.ImportPath+": doc.go does not say what the package may import")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Error(m)
	}
}

// Source sizes (issue 18): no function in a non-test file over maxFunc
// lines and no non-test file over maxFile, in every package of ours. A
// file may be exempt with a line "// size: <reason>" before its package
// clause; generated files are exempt.
const maxFunc, maxFile = 100, 800

func TestSourceSizes(t *testing.T) {
	for _, p := range goList(t) {
		for _, name := range p.GoFiles {
			for _, problem := range sourceSizes(t, filepath.Join(p.Dir, name)) {
				t.Errorf("%s/%s: %s", p.ImportPath, name, problem)
			}
		}
	}
}

// sourceSizes lists what in the Go file at path is over the limits.
func sourceSizes(t *testing.T, path string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range f.Comments {
		if g.Pos() > f.Package {
			break
		}
		for _, c := range g.List {
			if strings.HasPrefix(c.Text, "// size: ") || strings.HasPrefix(c.Text, "// Code generated ") {
				return nil
			}
		}
	}
	var out []string
	if n := fset.Position(f.End()).Line; n > maxFile {
		out = append(out, fmt.Sprintf("%d lines; want at most %d (or a \"// size: <reason>\" line at its top)", n, maxFile))
	}
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok {
			if n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1; n > maxFunc {
				out = append(out, fmt.Sprintf("func %s is %d lines; want at most %d", fn.Name.Name, n, maxFunc))
			}
		}
	}
	return out
}
