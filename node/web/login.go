package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Login is the access check for a node whose API is served beyond loopback
// (issue 15, "Access"): every request from another machine (the node's own
// tools connect over loopback and pass) needs the node's token, either once
// through the login form (POST /ui/login), which answers with a session
// cookie (HttpOnly, SameSite=Strict), or as "Authorization: Bearer TOKEN"
// for scripts. Without either it answers 401 and nothing else; only the
// login page and the files it loads are open. A POST from another site is
// refused even with a valid session.
//
// The zero value is not usable; make one with NewLogin. It is safe for
// concurrent use.
type Login struct {
	token []byte
	now   func() time.Time

	mu       sync.Mutex
	sessions map[string]time.Time // session id → expiry
}

// Session cookie and its bounds.
const (
	CookieName    = "gridmesh_session"
	sessionMaxAge = 30 * 24 * time.Hour
	maxSessions   = 64 // a household's browsers; the oldest gives way
)

// NewLogin checks requests against token (not empty).
func NewLogin(token string) *Login {
	return &Login{token: []byte(token), now: time.Now, sessions: make(map[string]time.Time)}
}

// openPaths are the paths served without a login: the login page and its files.
var openPaths = map[string]bool{"/ui/login.html": true, "/ui/common.css": true, "/ui/favicon.svg": true}

// Wrap returns h behind the login.
func (l *Login) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fromLoopback(r) {
			// The node's own tools (gridmesh admit, statement, the
			// update's health probe) and a browser on the Pi itself: as
			// trusted as a node that listens on loopback only. The
			// guard's Host and Origin checks still hold for them.
			h.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && crossSite(r) {
			unauthorized(w, r, "a request from another site is refused")
			return
		}
		if r.URL.Path == "/ui/login" && r.Method == http.MethodPost {
			l.serveLogin(w, r)
			return
		}
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && openPaths[r.URL.Path] {
			h.ServeHTTP(w, r)
			return
		}
		if !l.allowed(r) {
			unauthorized(w, r, "login required: the node's token (gridmesh token) is missing or wrong")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// fromLoopback reports whether the request came over a loopback connection.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// crossSite reports whether the browser says the request comes from a page
// of another origin (Sec-Fetch-Site, else Origin against Host).
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	case "same-origin", "none":
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err != nil || !strings.EqualFold(u.Host, r.Host)
	}
	return false
}

func (l *Login) tokenOK(s string) bool {
	return s != "" && subtle.ConstantTimeCompare([]byte(s), l.token) == 1
}

func (l *Login) allowed(r *http.Request) bool {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return l.tokenOK(tok)
	}
	c, err := r.Cookie(CookieName)
	if err != nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	exp, ok := l.sessions[c.Value]
	if ok && l.now().After(exp) {
		delete(l.sessions, c.Value)
		return false
	}
	return ok
}

// serveLogin takes the token from the form field "token" and answers with a
// session cookie and a redirect to the home page, or 401.
func (l *Login) serveLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || !l.tokenOK(r.PostForm.Get("token")) {
		unauthorized(w, r, "wrong token")
		return
	}
	id := make([]byte, 32)
	rand.Read(id) // never fails (crypto/rand)
	sid := hex.EncodeToString(id)
	now := l.now()
	l.mu.Lock()
	for s, exp := range l.sessions {
		if now.After(exp) {
			delete(l.sessions, s)
		}
	}
	for len(l.sessions) >= maxSessions {
		oldest, first := "", time.Time{}
		for s, exp := range l.sessions {
			if oldest == "" || exp.Before(first) {
				oldest, first = s, exp
			}
		}
		delete(l.sessions, oldest)
	}
	l.sessions[sid] = now.Add(sessionMaxAge)
	l.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: sid, Path: "/", MaxAge: int(sessionMaxAge / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// unauthorized answers 401: the login page to a browser asking for a page
// (or posting the form with a wrong token), {"error": why} to anything else.
func unauthorized(w http.ResponseWriter, r *http.Request, why string) {
	w.Header().Set("Cache-Control", "no-store")
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		if b, err := fs.ReadFile(assets, "login.html"); err == nil {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", csp)
			w.WriteHeader(http.StatusUnauthorized)
			w.Write(b)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	json.NewEncoder(w).Encode(map[string]string{"error": why})
}

// TokenFile is the token's file name, beside node.toml.
const TokenFile = "api.token"

// Token reads the node's API token from path, making one (32 random bytes,
// hex, file mode 0600) if the file does not exist. The token is the file's
// first line.
func Token(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 16 {
			return "", fmt.Errorf("%s: the API token is %d characters; want at least 16 (delete the file to make a new one)", path, len(tok))
		}
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read API token: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	tok := hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return Token(path) // made meanwhile by another process
	}
	if err != nil {
		return "", fmt.Errorf("create API token: %w", err)
	}
	_, werr := f.WriteString(tok + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return "", fmt.Errorf("write API token %s: %w", path, werr)
	}
	return tok, nil
}
