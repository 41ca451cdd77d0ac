package enrol

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

const (
	alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	domain   = "gridmesh enrolment code v1\x00"
	// bodyLen is the base32 characters of key and checksum (34 bytes, 272
	// bits, padded with zero bits); one check character follows.
	bodyLen = 55
	// Len is the length of a code without its dashes.
	Len = bodyLen + 1
)

// ErrCode is wrapped by every error of Parse.
var ErrCode = errors.New("enrol: not a valid enrolment code")

// Code returns the enrolment code of pub.
func Code(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		panic(fmt.Sprintf("enrol: public key of %d bytes", len(pub)))
	}
	body := encode(append(append([]byte(nil), pub...), checksum(pub)...))
	s := body + string(alphabet[luhn(body)])
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// Parse reads an enrolment code and returns the key it carries.
func Parse(code string) (ed25519.PublicKey, error) {
	s := normalise(code)
	if len(s) != Len {
		return nil, fmt.Errorf("%w: expected %d characters (14 groups of 4), got %d", ErrCode, Len, len(s))
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return nil, fmt.Errorf("%w: character %d, %q, is not one of %s", ErrCode, i+1, s[i], alphabet)
		}
	}
	body := s[:bodyLen]
	if alphabet[luhn(body)] != s[bodyLen] {
		return nil, fmt.Errorf("%w: the check character does not match (a typo?)", ErrCode)
	}
	raw, ok := decode(body)
	if !ok {
		return nil, fmt.Errorf("%w: the padding bits are not zero (a typo in the last group?)", ErrCode)
	}
	pub, sum := ed25519.PublicKey(raw[:32]), raw[32:]
	if string(sum) != string(checksum(pub)) {
		return nil, fmt.Errorf("%w: the checksum does not match (a typo?)", ErrCode)
	}
	return pub, nil
}

// Looks reports whether s looks like an enrolment code rather than a hex key,
// so that a command taking either can say which it was given.
func Looks(s string) bool { return len(normalise(s)) == Len || strings.Count(s, "-") >= 3 }

func normalise(code string) string {
	r := strings.NewReplacer("-", "", " ", "", "\t", "", "O", "0", "I", "1", "L", "1")
	return r.Replace(strings.ToUpper(strings.TrimSpace(code)))
}

func checksum(pub []byte) []byte {
	h := sha256.Sum256(append([]byte(domain), pub...))
	return h[:2]
}

// encode is base32 without padding, most significant bit first.
func encode(b []byte) string {
	var out []byte
	var acc uint32
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out = append(out, alphabet[(acc>>bits)&31])
		}
	}
	if bits > 0 {
		out = append(out, alphabet[(acc<<(5-bits))&31])
	}
	return string(out)
}

// decode reverses encode for a body of bodyLen characters; ok is false if
// the padding bits are not zero.
func decode(s string) (b []byte, ok bool) {
	var acc uint32
	bits := 0
	for i := 0; i < len(s); i++ {
		acc = acc<<5 | uint32(strings.IndexByte(alphabet, s[i]))
		bits += 5
		if bits >= 8 {
			bits -= 8
			b = append(b, byte(acc>>bits))
		}
	}
	return b, acc&(1<<bits-1) == 0
}

// luhn is the Luhn mod N check character (N = 32) of s.
func luhn(s string) int {
	const n = 32
	factor, sum := 2, 0
	for i := len(s) - 1; i >= 0; i-- {
		a := factor * strings.IndexByte(alphabet, s[i])
		sum += a/n + a%n
		factor = 3 - factor
	}
	return (n - sum%n) % n
}
