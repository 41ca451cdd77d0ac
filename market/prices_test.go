package market

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPricesClaims: every test PRICES.md's closing table names exists in
// the package it names (a func TestX(t *testing.T) in one of its _test.go
// files), every quoted case beside it appears in that test's file as a
// string, and every row names at least one test.
func TestPricesClaims(t *testing.T) {
	b, err := os.ReadFile("PRICES.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "## Which test backs each claim")
	if !ok {
		t.Fatal(`PRICES.md has no "## Which test backs each claim" section`)
	}
	segment := regexp.MustCompile("`([a-z][a-z0-9/]*)`: ([^`]*)")
	item := regexp.MustCompile(`(Test[A-Za-z0-9_]+)|"([^"]+)"`)
	sources := map[string]map[string]string{} // package → test file → its text
	rows := 0
	for _, line := range strings.Split(table, "\n") {
		cols := strings.Split(line, " | ")
		if !strings.HasPrefix(line, "| ") || len(cols) != 2 || strings.HasPrefix(line, "| claim") {
			continue
		}
		rows++
		claim, tests := strings.TrimPrefix(cols[0], "| "), strings.TrimSuffix(cols[1], " |")
		named := 0
		for _, seg := range segment.FindAllStringSubmatch(tests, -1) {
			pkg := seg[1]
			files := sources[pkg]
			if files == nil {
				files = testFiles(t, pkg)
				sources[pkg] = files
			}
			var in string // the file of the last test named
			for _, m := range item.FindAllStringSubmatch(seg[2], -1) {
				if name := m[1]; name != "" {
					named++
					in = ""
					for f, text := range files {
						if strings.Contains(text, "func "+name+"(t *testing.T)") {
							in = f
						}
					}
					if in == "" {
						t.Errorf("claim %q: %s has no test %s", claim, pkg, name)
					}
					continue
				}
				if in != "" && !strings.Contains(files[in], `"`+m[2]+`"`) {
					t.Errorf("claim %q: %s (%s) has no case %q", claim, pkg, filepath.Base(in), m[2])
				}
			}
		}
		if named == 0 {
			t.Errorf("claim %q names no test", claim)
		}
	}
	if rows < 10 {
		t.Errorf("the table has %d claims; want the page's claims (at least 10)", rows)
	}
}

// testFiles returns the _test.go files of the repository package pkg (a path
// below the module root, such as "chain" or "meter/homeassistant").
func testFiles(t *testing.T, pkg string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", filepath.FromSlash(pkg), "*_test.go"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("package %s: no test files (%v)", pkg, err)
	}
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = string(b)
	}
	return out
}
