package web

import (
	"bytes"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

//go:embed assets
var embedded embed.FS

// assets is the embedded tree, rooted at assets/.
var assets, _ = fs.Sub(embedded, "assets")

// PageBudget is the most bytes a page and every asset it loads may weigh,
// uncompressed (issue 15).
const PageBudget = 300_000

// Pages maps each page's URL path to its HTML file in the assets.
var Pages = map[string]string{
	"/":                 "home.html",
	"/ui/network.html":  "network.html",
	"/ui/explorer.html": "explorer.html",
	"/ui/home.html":     "home.html",
}

// csp keeps every page on its own origin: scripts, styles, images and
// connections (fetch, EventSource) only from the node itself. uPlot sets
// inline styles on the elements it draws, hence 'unsafe-inline' for styles
// only.
const csp = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Register adds the dashboard's routes to mux: the home page at GET / (the
// exact path, so the API's 404 for unknown paths still holds elsewhere) and
// the pages and assets under GET /ui/. It leaves /api/v1 and /metrics alone.
func Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { serve(w, r, "home.html") })
	mux.HandleFunc("GET /ui/", func(w http.ResponseWriter, r *http.Request) {
		serve(w, r, strings.TrimPrefix(r.URL.Path, "/ui/"))
	})
}

// start is the modification time the assets are served with: the binary's
// start, so a new release is fetched again after a restart.
var start = time.Now()

func serve(w http.ResponseWriter, r *http.Request, name string) {
	name = path.Clean(name)
	b, err := fs.ReadFile(assets, name)
	if err != nil || name == "." {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		http.Error(w, "no such page: "+r.URL.Path, http.StatusNotFound)
		return
	}
	h := w.Header()
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		h.Set("Content-Type", ct)
	} else {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, start, bytes.NewReader(b))
}

// assetRef finds what an HTML page loads: src and href attributes.
var assetRef = regexp.MustCompile(`(?:src|href)="([^"#]+)"`)

// pageAssets returns the files that the page file loads (itself first),
// as names in the assets, and the references it makes to anything other
// than an embedded file under /ui/ (links to other pages excepted), which
// should be none.
func pageAssets(page string) (files []string, foreign []string, err error) {
	b, err := fs.ReadFile(assets, page)
	if err != nil {
		return nil, nil, err
	}
	files = []string{page}
	for _, m := range assetRef.FindAllSubmatch(b, -1) {
		ref := string(m[1])
		if _, ok := Pages[ref]; ok {
			continue // a link to a page, not an asset of this one
		}
		name, ok := strings.CutPrefix(ref, "/ui/")
		if !ok {
			foreign = append(foreign, ref)
			continue
		}
		if _, err := fs.Stat(assets, name); err != nil {
			foreign = append(foreign, ref)
			continue
		}
		files = append(files, name)
	}
	return files, foreign, nil
}

// pageBytes is the uncompressed weight of a page and everything it loads.
func pageBytes(page string) (int, error) {
	files, _, err := pageAssets(page)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, f := range files {
		st, err := fs.Stat(assets, f)
		if err != nil {
			return 0, err
		}
		total += int(st.Size())
	}
	return total, nil
}

// Files is the embedded tree the pages are served from (for tests that
// read the scripts).
func Files() fs.FS { return assets }
