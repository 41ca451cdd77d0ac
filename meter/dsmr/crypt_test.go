package dsmr

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

var (
	testKey   = bytes.Repeat([]byte{0xaa}, 16)
	testTitle = []byte("SYSTEMID")
)

// TestEncryptedSmarty encrypts the Sagemcom T210-D-r telegram (the Smarty
// meter) the way dsmr_parser's test helper frames it, then decrypts, scans
// and parses it.
func TestEncryptedSmarty(t *testing.T) {
	plain := fixture(t, "sagemcom_t210_d_r")
	frame, err := Encrypt(plain, testKey, SmartyAuthKey, testTitle, 0x10000001)
	if err != nil {
		t.Fatal(err)
	}
	if frame[0] != 0xdb || frame[1] != 8 || string(frame[2:10]) != "SYSTEMID" || frame[10] != 0x82 || frame[13] != 0x30 {
		t.Fatalf("frame header % x", frame[:18])
	}
	// Two frames with noise around them in a stream.
	var stream bytes.Buffer
	stream.Write([]byte{0x00, 0xdb, 0x01})
	stream.Write(frame)
	stream.Write(frame)
	stream.Write(frame[:20])
	sc := bufio.NewScanner(&stream)
	sc.Split(ScanEncrypted)
	n := 0
	for sc.Scan() {
		got, err := Decrypt(sc.Bytes(), testKey, SmartyAuthKey)
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("Decrypt = %q, want the telegram", got)
		}
		tg, err := Parse(got)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := tg.Reading(); err != nil || r.Import != 6_545_766 {
			t.Errorf("Reading = %+v, %v; want import 6545766 Wh", r, err)
		}
		n++
	}
	if n != 2 {
		t.Errorf("scanned %d frames, want 2", n)
	}

	wrong := bytes.Repeat([]byte{0xcc}, 16)
	if _, err := Decrypt(frame, wrong, SmartyAuthKey); !errors.Is(err, ErrDecrypt) {
		t.Errorf("wrong key: err = %v, want ErrDecrypt", err)
	}
	bad := bytes.Clone(frame)
	bad[40] ^= 1
	if _, err := Decrypt(bad, testKey, SmartyAuthKey); !errors.Is(err, ErrDecrypt) {
		t.Errorf("flipped byte: err = %v, want ErrDecrypt", err)
	}
	if _, err := Decrypt(frame[:len(frame)-1], testKey, SmartyAuthKey); !errors.Is(err, ErrSyntax) {
		t.Errorf("short frame: err = %v, want ErrSyntax", err)
	}
}

func FuzzDecrypt(f *testing.F) {
	frame, err := Encrypt([]byte("/X\r\n\r\n1-0:1.8.0(1*kWh)\r\n!\r\n"), testKey, SmartyAuthKey, testTitle, 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(frame)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Decrypt(b, testKey, SmartyAuthKey)
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Split(ScanEncrypted)
		for sc.Scan() {
			if _, err := frameLen(sc.Bytes()); err != nil {
				t.Fatalf("ScanEncrypted yielded a bad frame: %v", err)
			}
		}
	})
}
