package dsmr

import (
	"bytes"
	"context"
	"errors"
	"io"
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
