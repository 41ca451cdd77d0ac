package node

import (
	"crypto/ed25519"
	"encoding/base64"

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
