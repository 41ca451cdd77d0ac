package node

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// FuzzReadQueries: whatever the search box or a range bound holds, the
// search and power routes answer 200 or 400 with a JSON body (an error with
// its reason for 400), never 500 or a panic.
func FuzzReadQueries(f *testing.F) {
	opts := DefaultDemoOptions()
	opts.Homes, opts.Authorities = 1, 1
	paths, err := WriteDemoNetwork(f.TempDir(), opts, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	n, err := Load(context.Background(), paths[1], Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(n.close)
	h := n.guard(n.handler())
	for _, s := range []string{"", " ", "0", "18446744073709551615", "99999999999999999999", "-1", "home-1", "HOME",
		string(n.self), "ab", "2026-12-06", "2026-12-06T10:00:00Z", "%zz", "\x00", "é", "1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		for _, path := range []string{"/api/v1/search?q=", "/api/v1/home/power?from=", "/api/v1/home/power?to="} {
			req := httptest.NewRequest("GET", path+url.QueryEscape(q), nil)
			req.Host = "127.0.0.1"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("GET %s%q: status %d, body %q is not JSON: %v", path, q, w.Code, w.Body, err)
			}
			switch w.Code {
			case 200:
			case 400:
				if body["error"] == "" || body["error"] == nil {
					t.Errorf("GET %s%q: 400 without a reason: %s", path, q, w.Body)
				}
			default:
				t.Errorf("GET %s%q: status %d (%s); want 200 or 400", path, q, w.Code, w.Body)
			}
		}
	})
}
