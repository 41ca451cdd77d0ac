package serial

import (
	"io"
	"strings"
	"testing"
	"time"

	bug "go.bug.st/serial"

	"github.com/gridmesh/gridmesh/meter/serial/serialtest"
)

func TestMode(t *testing.T) {
	m, err := Config{Device: "x", Baud: 9600, Format: "7E1"}.Mode()
	if err != nil || m.BaudRate != 9600 || m.DataBits != 7 || m.Parity != bug.EvenParity || m.StopBits != bug.OneStopBit {
		t.Errorf("7E1 = %+v, %v", m, err)
	}
	m, err = Config{Device: "x", Baud: 115200}.Mode()
	if err != nil || m.DataBits != 8 || m.Parity != bug.NoParity {
		t.Errorf("default = %+v, %v", m, err)
	}
	for _, c := range []Config{{Baud: 9600, Format: "9N1"}, {Baud: 9600, Format: "8X1"}, {Baud: 9600, Format: "8N3"}, {Baud: 0}} {
		if _, err := c.Mode(); err == nil {
			t.Errorf("%+v: err = nil", c)
		}
	}
}

// TestOpenPair sends bytes through a socat pair and checks that Close ends
// a blocked read (how the push drivers are stopped).
func TestOpenPair(t *testing.T) {
	pair := serialtest.NewPair(t)
	a, err := Open(Config{Device: pair.A, Baud: 115200})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(Config{Device: pair.B, Baud: 115200})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Write([]byte("/ISK5\r\n")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 7)
	if _, err := io.ReadFull(a, got); err != nil || string(got) != "/ISK5\r\n" {
		t.Fatalf("read %q, %v", got, err)
	}
	done := make(chan error, 1)
	go func() { _, err := a.Read(got); done <- err }()
	time.Sleep(50 * time.Millisecond)
	a.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("read after Close: err = nil")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end a blocked read")
	}
	if _, err := Open(Config{Device: "/nonexistent/tty", Baud: 9600}); err == nil || !strings.Contains(err.Error(), "/nonexistent/tty") {
		t.Errorf("missing device: err = %v", err)
	}
}
