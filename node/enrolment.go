package node

import (
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"strings"

	"github.com/gridmesh/gridmesh/firmware/enrol"
)

// enrolmentQR is the QR code of pub's enrolment code as a data: URI of an
// SVG image, for the home page to show while the node is not admitted
// (Status.EnrolmentQR): the page draws it without a request beyond its
// status, and the dashboard's CSP allows data: images. "" if the code does
// not fit a QR code (it always does: enrol.NewQR's test).
func enrolmentQR(pub ed25519.PublicKey) string {
	q, err := enrol.NewQR(enrol.Code(pub))
	if err != nil {
		return ""
	}
	return "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(q.SVG()))
}

// lanName is the host's mDNS name (Status.LANName), "" without a host name.
func lanName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return ""
	}
	h, _, _ = strings.Cut(h, ".")
	return h + ".local"
}
