package node

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3 document of the API, served as is.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
