package sml

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/gridmesh/gridmesh/meter"
)

func TestScanFrames(t *testing.T) {
	iskra, easy := mustHex(t, iskraHex), mustHex(t, easymeterHex)
	var stream bytes.Buffer
	stream.Write([]byte{0x00, 0x1b, 0x1b, 0x42})
	stream.Write(easy[20:]) // joined mid-frame
	stream.Write(iskra)
	stream.Write(easy)
	stream.Write(iskra[:30]) // cut off
	sc := bufio.NewScanner(&stream)
	sc.Split(ScanFrames)
	var got [][]byte
	for sc.Scan() {
		got = append(got, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[0], iskra) || !bytes.Equal(got[1], easy) {
		t.Fatalf("scanned %d frames, want iskra then easymeter:\n%x", len(got), got)
	}
}

func TestRun(t *testing.T) {
	pr, pw := io.Pipe()
	p := meter.NewPusher(nil)
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), pr, p) }()
	bad := mustHex(t, iskraHex)
	bad[100] ^= 0xff
	go func() {
		pw.Write(bad)
		pw.Write(mustHex(t, easymeterHex))
		pw.Close()
	}()
	r, err := p.Read(t.Context())
	if err != nil || r.Import != 2_941_646 {
		t.Fatalf("Read = %+v, %v; want the easymeter reading", r, err)
	}
	if err := <-done; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Run at end of stream = %v, want io.ErrUnexpectedEOF", err)
	}
}
