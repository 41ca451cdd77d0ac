package enrol

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestQRSVG reads the SVG's path back into modules and compares them with
// the code's: every dark module drawn, no light one, with the quiet zone.
// That those modules scan is TestQRDecodes's (zbarimg).
func TestQRSVG(t *testing.T) {
	q, err := NewQR(Code(key(t)))
	if err != nil {
		t.Fatal(err)
	}
	s := q.SVG()
	if !strings.HasPrefix(s, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 37 37"`) || !strings.HasSuffix(s, "</svg>") {
		t.Fatalf("SVG %.80q…; want a standalone <svg> of 37 × 37 units", s)
	}
	var got [qrSize][qrSize]bool
	runs := regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`).FindAllStringSubmatch(s, -1)
	for _, r := range runs {
		x, _ := strconv.Atoi(r[1])
		y, _ := strconv.Atoi(r[2])
		n, _ := strconv.Atoi(r[3])
		if r[3] != r[4] || x < 4 || y < 4 || y-4 >= qrSize || x-4+n > qrSize {
			t.Fatalf("run %q: outside the 29 modules within the quiet zone", r[0])
		}
		for i := range n {
			got[y-4][x-4+i] = true
		}
	}
	if got != q.Dark {
		t.Errorf("modules drawn by the SVG (%d runs) differ from the code's", len(runs))
	}
}
