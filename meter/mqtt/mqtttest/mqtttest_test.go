package mqtttest

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Skip and Fatal instead of ending
// the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

type stop struct{}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	panic(stop{})
}
func (r *recorder) Fatal(args ...any) {
	r.failed = fmt.Sprint(args...)
	panic(stop{})
}

func run(t *testing.T, env map[string]string) *recorder {
	t.Setenv("PATH", t.TempDir()) // no mosquitto on PATH
	t.Setenv("CI", "")
	t.Setenv("GRIDMESH_REQUIRE_ALL", "")
	for k, v := range env {
		t.Setenv(k, v)
	}
	saved := mosquittoPaths
	mosquittoPaths = nil
	defer func() { mosquittoPaths = saved }()
	r := &recorder{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(stop); !ok {
					panic(v)
				}
			}
		}()
		Mosquitto(r)
	}()
	return r
}

// TestMissingMosquitto: skipped on a developer machine (naming
// GRIDMESH_REQUIRE_ALL), failed in CI or when required.
func TestMissingMosquitto(t *testing.T) {
	r := run(t, nil)
	if r.failed != "" || !strings.Contains(r.skipped, "GRIDMESH_REQUIRE_ALL") {
		t.Errorf("plain: skipped %q, failed %q; want a skip naming GRIDMESH_REQUIRE_ALL", r.skipped, r.failed)
	}
	for _, env := range []map[string]string{{"CI": "true"}, {"GRIDMESH_REQUIRE_ALL": "1"}} {
		r := run(t, env)
		if r.skipped != "" || !strings.Contains(r.failed, "mosquitto not installed") {
			t.Errorf("%v: skipped %q, failed %q; want a failure", env, r.skipped, r.failed)
		}
	}
}
