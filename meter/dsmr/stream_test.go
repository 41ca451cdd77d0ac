package dsmr

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/meter"
)

func TestRun(t *testing.T) {
	pr, pw := io.Pipe()
	p := meter.NewPusher(nil)
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), pr, p) }()
	bad := bytes.Replace(fixture(t, "v5"), []byte("000004.426"), []byte("000004.427"), 1)
	go func() {
		pw.Write(bad)
		pw.Write(fixture(t, "v4_2"))
		pw.Close()
	}()
	r, err := p.Read(t.Context())
	if err != nil || r.Import != 3_016_829 {
		t.Fatalf("Read = %+v, %v; want the v4_2 reading", r, err)
	}
	if err := <-done; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Run at end of stream = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestRunEncrypted(t *testing.T) {
	pr, pw := io.Pipe()
	p := meter.NewPusher(nil)
	done := make(chan error, 1)
	go func() { done <- RunEncrypted(context.Background(), pr, testKey, SmartyAuthKey, p) }()
	frame, err := Encrypt(fixture(t, "sagemcom_t210_d_r"), testKey, SmartyAuthKey, testTitle, 7)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		pw.Write(frame)
		pw.Close()
	}()
	r, err := p.Read(t.Context())
	if err != nil || r.Import != 6_545_766 || r.Power != 286 {
		t.Fatalf("Read = %+v, %v; want import 6545766 Wh, 286 W", r, err)
	}
	if err := <-done; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("RunEncrypted at end of stream = %v", err)
	}
}

// TestRunEncryptedWrongKey: a frame that does not decrypt is pushed as an
// error (the pusher has no reading, only that error), and the stream goes on
// to its end.
func TestRunEncryptedWrongKey(t *testing.T) {
	frame, err := Encrypt(fixture(t, "sagemcom_t210_d_r"), testKey, SmartyAuthKey, testTitle, 7)
	if err != nil {
		t.Fatal(err)
	}
	p := meter.NewPusher(nil)
	wrong := bytes.Repeat([]byte{0xcc}, 16)
	if err := RunEncrypted(context.Background(), bytes.NewReader(frame), wrong, SmartyAuthKey, p); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("RunEncrypted at end of stream = %v; want io.ErrUnexpectedEOF", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := p.Read(ctx)
	if err == nil || !strings.Contains(err.Error(), ErrDecrypt.Error()) {
		t.Errorf("Read after a frame with the wrong key = %+v, %v; want an error naming %q", r, err, ErrDecrypt)
	}
}
