package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestToken: init makes the API token (mode 0600) and gridmesh token prints
// it, the same each time.
func TestToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pi")
	if _, stderr, code := gridmesh(t, "init", "--dir", dir, "--name", "h1"); code != 0 {
		t.Fatalf("init: exit %d, stderr %q", code, stderr)
	}
	path := filepath.Join(dir, "api.token")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("init made no token: %v", err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("token mode = %04o, want 0600", st.Mode().Perm())
	}
	saved, _ := os.ReadFile(path)
	for range 2 {
		stdout, stderr, code := gridmesh(t, "token", "-c", filepath.Join(dir, "node.toml"))
		if code != 0 || stdout != string(saved) || len(strings.TrimSpace(stdout)) != 64 {
			t.Errorf("gridmesh token: exit %d, stdout %q, stderr %q; want the 64-character token of %s", code, stdout, stderr, path)
		}
	}
	if _, stderr, code := gridmesh(t, "token", "-c", filepath.Join(dir, "missing.toml")); code == 0 || !strings.Contains(stderr, "missing.toml") {
		t.Errorf("gridmesh token without a config: exit %d, stderr %q; want a failure naming the file", code, stderr)
	}
}
