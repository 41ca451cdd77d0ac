package ident

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestAccount(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	a := AccountOf(pub)
	if err := a.Check(); err != nil || len(a) != 64 || strings.ToLower(string(a)) != string(a) {
		t.Fatalf("AccountOf = %q (Check %v), want 64 lowercase hex", a, err)
	}
	back, err := a.PublicKey()
	if err != nil || !bytes.Equal(back, pub) {
		t.Fatalf("PublicKey() = %x, %v; want %x", back, err, pub)
	}
	for _, bad := range []Account{"", "ab", Account(strings.ToUpper(string(a))), a[:63] + "g", a + "00"} {
		if err := bad.Check(); !errors.Is(err, ErrAccount) {
			t.Errorf("Check(%q) = %v, want ErrAccount", bad, err)
		}
		if _, err := bad.PublicKey(); !errors.Is(err, ErrAccount) {
			t.Errorf("PublicKey(%q) = %v, want ErrAccount", bad, err)
		}
	}
}

func TestHash(t *testing.T) {
	h := Hash{0xab, 0x01}
	const full = "ab01000000000000000000000000000000000000000000000000000000000000"
	if h.String() != full {
		t.Errorf("String = %s, want %s", h, full)
	}
	if h.Short() != "ab01000000000000" || (Hash{}).Short() != "nil" {
		t.Errorf("Short = %s, zero %s; want ab01000000000000, nil", h.Short(), Hash{}.Short())
	}
	if h.IsZero() || !(Hash{}).IsZero() {
		t.Errorf("IsZero wrong")
	}
	if got, err := ParseHash(full); err != nil || got != h {
		t.Errorf("ParseHash = %v, %v", got, err)
	}
	for _, bad := range []string{"", full[:63], strings.ToUpper(full), full + "0", "zz" + full[2:]} {
		if _, err := ParseHash(bad); !errors.Is(err, ErrHash) {
			t.Errorf("ParseHash(%q) = %v, want ErrHash", bad, err)
		}
	}
	// The text form in JSON is the quoted hex (state values rely on it).
	b, err := json.Marshal(struct{ H Hash }{h})
	if err != nil || string(b) != `{"H":"`+full+`"}` {
		t.Errorf("json = %s, %v", b, err)
	}
	var back struct{ H Hash }
	if err := json.Unmarshal(b, &back); err != nil || back.H != h {
		t.Errorf("json back = %v, %v", back.H, err)
	}
}
