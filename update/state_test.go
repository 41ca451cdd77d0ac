package update

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseStateStrict(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"format":1,"active":"c","previous":""}`, `unknown slot "c"`},
		{`{"format":2,"active":"","previous":""}`, "format: expected 1"},
		{`{"format":1,"active":"","previous":"","extra":1}`, "unknown field"},
		{`{"format":1,"active":"","previous":""} {}`, "trailing data"},
		{`{"format":1,"active":"","previous":"","trial":{"slot":"x"}}`, `trial: unknown slot "x"`},
	} {
		if _, err := parseState("state.json", []byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"format":1,"active":"a","previous":"","slots":{"a":{"version":"v1.0.0","sha256":"00","size":1,"installed":"2026-01-01T00:00:00Z"}},"trial":{"slot":"b","version":"v1.1.0","boots":1,"window":"5m0s","min_peers":1,"settle":"30s"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseState("state.json", b)
		if err != nil {
			return
		}
		// What parses encodes and parses again to the same state.
		b2, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := parseState("state.json", b2)
		if err != nil {
			t.Fatalf("re-encoded state does not parse: %v\n%s", err, b2)
		}
		if b3, _ := json.Marshal(st2); string(b3) != string(b2) {
			t.Fatalf("encoding not stable:\n%s\n%s", b2, b3)
		}
		// And the launcher decides without panicking.
		decide(&st2, "v1.0.0", testNow, func(*State, string) error { return nil })
	})
}
