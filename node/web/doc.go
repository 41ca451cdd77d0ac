// Package web is the node's dashboard: three pages (home, network,
// explorer) and their scripts and styles, embedded in the binary, served by
// the node's HTTP server beside the API (Register): the home page at /, the
// network page at /ui/network.html, the explorer at /ui/explorer.html (its
// views follow the URL's fragment: #block/H, #tx/HASH, #account/KEY,
// #search/Q), and their files under /ui/.
//
// The pages read only the documented read API under /api/v1 (its OpenAPI
// document is node/openapi.json) and its event stream; they load nothing
// from another origin (no CDN, no fonts, no analytics), so the dashboard
// works on a LAN with the internet down. Each page's assets stay under
// PageBudget bytes, checked by a test.
//
// It imports nothing of gridmesh: the node registers it, not the reverse.
// The one third-party asset is uPlot 1.6.32 (assets/uplot, MIT, its
// LICENSE beside it).
package web
