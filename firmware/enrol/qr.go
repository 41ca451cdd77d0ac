package enrol

import (
	"fmt"
	"strings"
)

// QR is a QR code (ISO/IEC 18004) of an enrolment code: version 3 (29 × 29
// modules), error correction level L, alphanumeric mode, mask 0. A code with
// its dashes is 69 characters, within that version's 77. Dark[y][x] is true
// for a dark module.
type QR struct {
	Dark [qrSize][qrSize]bool
}

const (
	qrSize     = 29
	qrData     = 55 // data codewords of version 3-L
	qrEC       = 15 // error correction codewords
	qrAlnum    = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	qrMaxChars = 77
)

// NewQR encodes s, which must use only QR alphanumeric characters (an
// enrolment code does) and be at most 77 long.
func NewQR(s string) (*QR, error) {
	if len(s) > qrMaxChars {
		return nil, fmt.Errorf("enrol: QR: %d characters, at most %d fit", len(s), qrMaxChars)
	}
	data, err := qrCodewords(s)
	if err != nil {
		return nil, err
	}
	q := &QR{}
	var fn [qrSize][qrSize]bool // function modules: not data
	set := func(x, y int, dark bool) { q.Dark[y][x], fn[y][x] = dark, true }
	qrPatterns(set)
	qrFormat(set)
	set(8, qrSize-8, true) // the dark module
	q.placeData(data, &fn)
	return q, nil
}

// qrCodewords encodes s in alphanumeric mode and returns the qrData data
// codewords (terminated and padded) followed by their qrEC error
// correction codewords.
func qrCodewords(s string) ([]byte, error) {
	var bits []bool
	put := func(v, n int) {
		for i := n - 1; i >= 0; i-- {
			bits = append(bits, v>>i&1 == 1)
		}
	}
	put(0b0010, 4) // alphanumeric mode
	put(len(s), 9) // character count, versions 1-9
	for i := 0; i < len(s); i += 2 {
		a := strings.IndexByte(qrAlnum, s[i])
		if a < 0 {
			return nil, fmt.Errorf("enrol: QR: %q is not a QR alphanumeric character", s[i])
		}
		if i+1 == len(s) {
			put(a, 6)
			break
		}
		b := strings.IndexByte(qrAlnum, s[i+1])
		if b < 0 {
			return nil, fmt.Errorf("enrol: QR: %q is not a QR alphanumeric character", s[i+1])
		}
		put(a*45+b, 11)
	}
	put(0, min(4, qrData*8-len(bits))) // terminator
	for len(bits)%8 != 0 {
		bits = append(bits, false)
	}
	data := make([]byte, 0, qrData+qrEC)
	for i := 0; i < len(bits); i += 8 {
		var c byte
		for j := range 8 {
			if bits[i+j] {
				c |= 0x80 >> j
			}
		}
		data = append(data, c)
	}
	for pad := byte(0xEC); len(data) < qrData; pad ^= 0xEC ^ 0x11 {
		data = append(data, pad)
	}
	return append(data, rsRemainder(data, qrEC)...), nil
}

// qrPatterns draws, through set, the three finder patterns with their
// separators, the timing patterns and version 3's alignment pattern.
func qrPatterns(set func(x, y int, dark bool)) {
	finder := func(cx, cy int) {
		for dy := -4; dy <= 4; dy++ {
			for dx := -4; dx <= 4; dx++ {
				x, y := cx+dx, cy+dy
				if x < 0 || y < 0 || x >= qrSize || y >= qrSize {
					continue
				}
				d := max(abs(dx), abs(dy))
				set(x, y, d != 2 && d != 4)
			}
		}
	}
	finder(3, 3)
	finder(qrSize-4, 3)
	finder(3, qrSize-4)
	for i := 8; i < qrSize-8; i++ {
		set(6, i, i%2 == 0)
		set(i, 6, i%2 == 0)
	}
	for dy := -2; dy <= 2; dy++ { // the one alignment pattern of version 3, at 22,22
		for dx := -2; dx <= 2; dx++ {
			set(22+dx, 22+dy, max(abs(dx), abs(dy)) != 1)
		}
	}
}

// qrFormat draws, through set, both copies of the format information:
// level L (01), mask 0, BCH(15,5), masked.
func qrFormat(set func(x, y int, dark bool)) {
	f := 0b01<<3 | 0
	rem := f
	for range 10 {
		rem = rem<<1 ^ (rem>>9)*0x537
	}
	format := (f<<10 | rem) ^ 0x5412
	bit := func(i int) bool { return format>>i&1 == 1 }
	for i := 0; i <= 5; i++ {
		set(8, i, bit(i))
	}
	set(8, 7, bit(6))
	set(8, 8, bit(7))
	set(7, 8, bit(8))
	for i := 9; i < 15; i++ {
		set(14-i, 8, bit(i))
	}
	for i := range 8 {
		set(qrSize-1-i, 8, bit(i))
	}
	for i := 8; i < 15; i++ {
		set(8, qrSize-15+i, bit(i))
	}
}

// placeData fills the modules that fn does not mark as function modules
// with the bits of data, in the zigzag order of two-module columns from the
// bottom right, masked with mask 0. Modules past the data stay light
// (before masking).
func (q *QR) placeData(data []byte, fn *[qrSize][qrSize]bool) {
	i := 0
	for right := qrSize - 1; right >= 1; right -= 2 {
		if right == 6 {
			right = 5
		}
		for vert := range qrSize {
			for j := range 2 {
				x := right - j
				y := vert
				if (right+1)&2 == 0 {
					y = qrSize - 1 - vert
				}
				if fn[y][x] {
					continue
				}
				dark := i < len(data)*8 && data[i>>3]>>(7-i&7)&1 == 1
				i++
				q.Dark[y][x] = dark != ((x+y)%2 == 0) // mask 0
			}
		}
	}
}

// Terminal draws the code with half blocks, two module rows per line, with
// the 4-module quiet zone a scanner needs. A terminal shows its text light on
// dark or dark on light; invert says the text colour is light (the usual
// terminal), so light modules are drawn and dark ones left blank.
func (q *QR) Terminal(invert bool) string {
	const quiet = 4
	n := qrSize + 2*quiet
	dark := func(x, y int) bool {
		x, y = x-quiet, y-quiet
		if x < 0 || y < 0 || x >= qrSize || y >= qrSize {
			return false
		}
		return q.Dark[y][x]
	}
	var b strings.Builder
	for y := 0; y < n; y += 2 {
		for x := range n {
			top, bottom := dark(x, y) != invert, y+1 < n && dark(x, y+1) != invert
			if y+1 >= n {
				bottom = invert
			}
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// SVG draws the code as a standalone SVG image, one unit per module with
// the 4-module quiet zone, dark on white: each row's runs of dark modules are
// one "M x y h n v1 h-n z" of a single path, so a page can show it inline or
// as a data: URI without loading anything.
func (q *QR) SVG() string {
	const quiet = 4
	n := qrSize + 2*quiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y := range qrSize {
		for x := 0; x < qrSize; {
			if !q.Dark[y][x] {
				x++
				continue
			}
			run := 0
			for x+run < qrSize && q.Dark[y][x+run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x+quiet, y+quiet, run, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}

// rsRemainder is the Reed-Solomon error correction of data over GF(256)
// with QR's polynomial 0x11d: n codewords.
func rsRemainder(data []byte, n int) []byte {
	var exp [512]byte
	var log [256]int
	x := 1
	for i := range 255 {
		exp[i], log[x] = byte(x), i
		x <<= 1
		if x&0x100 != 0 {
			x ^= 0x11d
		}
	}
	for i := 255; i < 512; i++ {
		exp[i] = exp[i-255]
	}
	mul := func(a, b byte) byte {
		if a == 0 || b == 0 {
			return 0
		}
		return exp[log[a]+log[b]]
	}
	// The generator: product of (x - α^i), i < n, highest coefficient first
	// (implicit 1), n coefficients.
	gen := make([]byte, n)
	gen[n-1] = 1
	root := byte(1)
	for range n {
		for j := range n {
			gen[j] = mul(gen[j], root)
			if j+1 < n {
				gen[j] ^= gen[j+1]
			}
		}
		root = mul(root, 2)
	}
	rem := make([]byte, n)
	for _, d := range data {
		factor := d ^ rem[0]
		copy(rem, rem[1:])
		rem[n-1] = 0
		for j := range n {
			rem[j] ^= mul(gen[j], factor)
		}
	}
	return rem
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
