package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPageBudget sums the bytes of every page and the embedded files it
// loads: each stays under PageBudget, and no page refers to anything but
// its own embedded assets and the other pages.
func TestPageBudget(t *testing.T) {
	for _, page := range []string{"home.html", "network.html", "explorer.html", "login.html"} {
		files, foreign, err := pageAssets(page)
		if err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		if len(foreign) > 0 {
			t.Errorf("%s refers to %q: want only embedded files under /ui/ and the pages", page, foreign)
		}
		if len(files) < 3 {
			t.Errorf("%s loads %q: want its stylesheet and scripts found", page, files)
		}
		n, err := pageBytes(page)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes in %d files %q (budget %d)", page, n, len(files), files, PageBudget)
		if n >= PageBudget {
			t.Errorf("%s weighs %d bytes with its assets; the budget is %d", page, n, PageBudget)
		}
	}
}

// TestNoExternalReference fails on any absolute URL in the pages, scripts
// and styles: everything they load comes from the node (uPlot's own code
// names none either).
func TestNoExternalReference(t *testing.T) {
	for _, name := range []string{"home.html", "network.html", "explorer.html", "login.html", "common.js", "home.js", "network.js", "explorer.js", "common.css"} {
		b, err := readAsset(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "url("} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q: the dashboard must load nothing from elsewhere", name, bad)
			}
		}
	}
}

func readAsset(name string) ([]byte, error) {
	f, err := Files().Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// TestRegister serves every page and asset with its type and the
// same-origin policy, 404s what is not embedded, and leaves other paths to
// the rest of the mux.
func TestRegister(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, tc := range []struct {
		path, ctype string
		code        int
	}{
		{"/", "text/html; charset=utf-8", 200},
		{"/ui/network.html", "text/html; charset=utf-8", 200},
		{"/ui/explorer.html", "text/html; charset=utf-8", 200},
		{"/ui/home.js", "text/javascript; charset=utf-8", 200},
		{"/ui/common.css", "text/css; charset=utf-8", 200},
		{"/ui/uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8", 200},
		{"/ui/uplot/LICENSE", "text/plain; charset=utf-8", 200},
		{"/ui/", "text/plain; charset=utf-8", 404},
		{"/ui/uplot", "text/plain; charset=utf-8", 404},
		{"/ui/nothing.js", "text/plain; charset=utf-8", 404},
		{"/api/v1/status", "", http.StatusTeapot},
		{"/metrics", "", http.StatusTeapot},
		{"/other", "", http.StatusTeapot},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != tc.code {
			t.Errorf("GET %s: %d; want %d", tc.path, rec.Code, tc.code)
			continue
		}
		if tc.ctype != "" && rec.Header().Get("Content-Type") != tc.ctype {
			t.Errorf("GET %s: Content-Type %q; want %q", tc.path, rec.Header().Get("Content-Type"), tc.ctype)
		}
		if tc.code == 200 && !strings.Contains(rec.Header().Get("Content-Security-Policy"), "connect-src 'self'") {
			t.Errorf("GET %s: CSP %q; want connections to the node only", tc.path, rec.Header().Get("Content-Security-Policy"))
		}
	}
}
