package modbus

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridmesh/gridmesh/meter/serial/serialtest"
)

// buildLibmodbusServer compiles testdata/libmodbus_srv.c against libmodbus
// (Debian's libmodbus-dev), an independent Modbus implementation, and
// returns the binary and a register file holding profile p's values.
func buildLibmodbusServer(t *testing.T, p Profile) (bin, regfile string) {
	t.Helper()
	serialtest.Require(t, "gcc", "gcc")
	serialtest.Require(t, "pkg-config", "pkg-config")
	flags, err := exec.Command("pkg-config", "--cflags", "--libs", "libmodbus").Output()
	if err != nil {
		serialtest.Missing(t, "libmodbus is not installed (apt-get install -y libmodbus-dev)")
	}
	dir := t.TempDir()
	bin = filepath.Join(dir, "srv")
	args := append([]string{"-o", bin, filepath.Join("testdata", "libmodbus_srv.c")}, strings.Fields(string(flags))...)
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	var regs strings.Builder
	loadInto(t, func(fn byte, addr uint16, b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			fmt.Fprintf(&regs, "%d %d %d\n", fn, addr+uint16(i/2), binary.BigEndian.Uint16(b[i:]))
		}
	}, p)
	regfile = filepath.Join(dir, "regs.txt")
	if err := os.WriteFile(regfile, []byte(regs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return bin, regfile
}

// startServer runs the libmodbus server and returns its first output line.
func startServer(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case s := <-line:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("libmodbus server did not start within 5 s")
	}
	return ""
}

// TestLibmodbusTCP reads an SDM630 from a libmodbus TCP server.
func TestLibmodbusTCP(t *testing.T) {
	p, _ := testProfile("sdm630")
	bin, regfile := buildLibmodbusServer(t, p)
	var port int
	if _, err := fmt.Sscanf(startServer(t, bin, "tcp", regfile), "port %d", &port); err != nil {
		t.Fatalf("server's first line: %v", err)
	}
	c := NewClient(fmt.Sprintf("127.0.0.1:%d", port), TCP)
	defer c.Close()
	m := NewMeter(c, 1, p)
	for i := range 3 {
		got, err := m.Read(t.Context())
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if diff := cmp.Diff(expect(p), got); diff != "" {
			t.Errorf("read %d (-want +got):\n%s", i, diff)
		}
	}
	// libmodbus's own exception for a register outside its map.
	_, err := c.ReadRegisters(t.Context(), 1, FuncInput, 0x3000, 2)
	var exc *ExceptionError
	if !errors.As(err, &exc) || exc.Code != 2 {
		t.Errorf("read outside the map: err = %v, want exception 2", err)
	}
}

// TestLibmodbusRTU reads an SDM630 from a libmodbus RTU server through a
// socat serial pair.
func TestLibmodbusRTU(t *testing.T) {
	p, _ := testProfile("sdm630")
	bin, regfile := buildLibmodbusServer(t, p)
	pair := serialtest.NewPair(t)
	if s := startServer(t, bin, "rtu", pair.B, regfile); s != "ready" {
		t.Fatalf("server said %q", s)
	}
	l, err := NewLine(SerialConfig{Device: pair.A, Baud: 9600, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := NewMeter(l, 1, p)
	for i := range 2 {
		got, err := m.Read(t.Context())
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if diff := cmp.Diff(expect(p), got); diff != "" {
			t.Errorf("read %d (-want +got):\n%s", i, diff)
		}
	}
}
