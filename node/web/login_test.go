package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestLogin: without the token, with a wrong one and from another site the
// answer is 401; the right token gives an HttpOnly, SameSite=Strict session
// cookie that opens the pages and the API.
func TestLogin(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	mux.HandleFunc("/api/v1/status", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) })
	mux.HandleFunc("POST /api/v1/tx", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	srv := httptest.NewServer(fromLAN(NewLogin("s3cret-token").Wrap(mux)))
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, body string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	form := func(tok string) string { return url.Values{"token": {tok}}.Encode() }

	for _, tc := range []struct {
		name, method, path, body string
		hdr                      map[string]string
		want                     int
	}{
		{"no token, the home page", "GET", "/", "", map[string]string{"Accept": "text/html"}, 401},
		{"no token, the API", "GET", "/api/v1/status", "", nil, 401},
		{"no token, a script", "GET", "/ui/home.js", "", nil, 401},
		{"wrong bearer token", "GET", "/api/v1/status", "", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"wrong cookie", "GET", "/api/v1/status", "", map[string]string{"Cookie": CookieName + "=abc"}, 401},
		{"wrong token at login", "POST", "/ui/login", form("nope"), nil, 401},
		{"empty token at login", "POST", "/ui/login", form(""), nil, 401},
		{"cross-site login with the right token", "POST", "/ui/login", form("s3cret-token"), map[string]string{"Origin": "http://evil.example"}, 401},
		{"cross-site POST with the right bearer token", "POST", "/api/v1/tx", "", map[string]string{"Authorization": "Bearer s3cret-token", "Sec-Fetch-Site": "cross-site"}, 401},
		{"the login page is open", "GET", "/ui/login.html", "", nil, 200},
		{"right bearer token", "GET", "/api/v1/status", "", map[string]string{"Authorization": "Bearer s3cret-token"}, 200},
	} {
		if got := do(tc.method, tc.path, tc.body, tc.hdr).StatusCode; got != tc.want {
			t.Errorf("%s: %s %s answered %d; want %d", tc.name, tc.method, tc.path, got, tc.want)
		}
	}

	resp := do("POST", "/ui/login", form("s3cret-token"), map[string]string{"Origin": srv.URL, "Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login with the right token: %d; want 303 to the home page", resp.StatusCode)
	}
	var sess *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			sess = c
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" {
		t.Fatalf("login cookie %+v; want an HttpOnly, SameSite=Strict session cookie for /", sess)
	}
	cookie := map[string]string{"Cookie": CookieName + "=" + sess.Value}
	for _, p := range []string{"/", "/ui/explorer.html", "/api/v1/status"} {
		if got := do("GET", p, "", cookie).StatusCode; got != 200 {
			t.Errorf("GET %s with the session: %d; want 200", p, got)
		}
	}
	cookie["Sec-Fetch-Site"] = "cross-site"
	if got := do("POST", "/api/v1/tx", "", cookie).StatusCode; got != 401 {
		t.Errorf("cross-site POST with the session cookie: %d; want 401", got)
	}
	cookie["Sec-Fetch-Site"] = "same-origin"
	if got := do("POST", "/api/v1/tx", "", cookie).StatusCode; got != http.StatusAccepted {
		t.Errorf("same-origin POST with the session: %d; want 202", got)
	}
}

// fromLAN makes h see every request as coming from another machine
// (tests connect over loopback, which the login trusts).
func fromLAN(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.RemoteAddr = "192.0.2.7:50000"
		h.ServeHTTP(w, r)
	})
}

// TestLoginTrustsLoopback: the node's own tools connect over loopback and
// need no token.
func TestLoginTrustsLoopback(t *testing.T) {
	h := NewLogin("s3cret-token").Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, remote := range []string{"127.0.0.1:4000", "[::1]:4000", "[::ffff:127.0.0.1]:4000", "192.168.1.9:4000", "[fe80::1]:4000"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/v1/status", nil)
		req.RemoteAddr = remote
		h.ServeHTTP(rec, req)
		want := 200
		if strings.HasPrefix(remote, "192.") || strings.HasPrefix(remote, "[fe80") {
			want = 401
		}
		if rec.Code != want {
			t.Errorf("GET from %s without a token: %d; want %d", remote, rec.Code, want)
		}
	}
}

// TestToken makes the token once (mode 0600) and reads the same one again.
func TestToken(t *testing.T) {
	path := t.TempDir() + "/" + TokenFile
	a, err := Token(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Token(path)
	if err != nil || a != b || len(a) != 64 {
		t.Errorf("token %q then %q (%v); want the same 64 hex characters twice", a, b, err)
	}
	if st, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && st.Mode().Perm() != 0o600) {
		t.Errorf("token file: %v, %v; want mode 0600", st.Mode(), err)
	}
	os.WriteFile(path, []byte("short\n"), 0o600)
	if _, err := Token(path); err == nil {
		t.Error("a 5-character token was accepted")
	}
}
