package enrol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func key(t *testing.T) ed25519.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestRoundTrip(t *testing.T) {
	for range 200 {
		pub := key(t)
		c := Code(pub)
		if len(c) != Len+13 || strings.Count(c, "-") != 13 {
			t.Fatalf("code %q: want 14 groups of 4", c)
		}
		for _, typed := range []string{c, strings.ToLower(c), strings.ReplaceAll(c, "-", " "), strings.ReplaceAll(c, "-", ""),
			strings.ReplaceAll(strings.ReplaceAll(c, "0", "O"), "1", "l")} {
			got, err := Parse(typed)
			if err != nil || !bytes.Equal(got, pub) {
				t.Fatalf("Parse(%q) = %x, %v; want %x", typed, got, err, pub)
			}
		}
		if !Looks(c) || Looks(strings.Repeat("ab", 32)) {
			t.Errorf("Looks: a code is one, a hex key is not")
		}
	}
}

// TestEveryTypoRefused: every single substituted character and every swap
// of neighbours in a code is refused, for many keys. The check character
// alone guarantees the substitutions; the checksum covers the swaps it may miss.
func TestEveryTypoRefused(t *testing.T) {
	for range 50 {
		pub := key(t)
		s := strings.ReplaceAll(Code(pub), "-", "")
		for i := range len(s) {
			for _, r := range alphabet {
				if byte(r) == s[i] {
					continue
				}
				typo := s[:i] + string(r) + s[i+1:]
				if got, err := Parse(typo); err == nil {
					t.Fatalf("typo %q (character %d) parsed as key %x", typo, i+1, got)
				} else if !errors.Is(err, ErrCode) {
					t.Fatalf("error %v does not wrap ErrCode", err)
				}
			}
			if i+1 < len(s) && s[i] != s[i+1] {
				swap := s[:i] + string(s[i+1]) + string(s[i]) + s[i+2:]
				if got, err := Parse(swap); err == nil {
					t.Fatalf("swap at %d %q parsed as key %x", i+1, swap, got)
				}
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	c := strings.ReplaceAll(Code(key(t)), "-", "")
	for _, tc := range []struct{ in, want string }{
		{"", "expected 56 characters"},
		{c[:40], "expected 56 characters"},
		{c[:20] + "U" + c[21:], `is not one of`},
		{c + "0", "expected 56 characters"},
	} {
		if _, err := Parse(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want an error with %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Code(make([]byte, 32)))
	f.Add("0000-0000")
	f.Fuzz(func(t *testing.T, s string) {
		pub, err := Parse(s)
		if err != nil {
			return
		}
		if again, err := Parse(Code(pub)); err != nil || !bytes.Equal(again, pub) {
			t.Fatalf("Parse(Code(%x)) = %x, %v", pub, again, err)
		}
	})
}
