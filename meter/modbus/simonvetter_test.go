package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sv "github.com/simonvetter/modbus"

	"github.com/gridmesh/gridmesh/configs/meters"
)

// svHandler serves register maps through github.com/simonvetter/modbus, an
// independent Modbus TCP server implementation.
type svHandler struct {
	mu       sync.Mutex
	regs     map[byte]map[uint16]uint16
	err      error         // answer every read with this (a modbus error: an exception)
	delay    time.Duration // answer late
	requests int
	onReq    func(n int) // called (without mu) with the request number
}

func (h *svHandler) set(fn byte, addr uint16, b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := 0; i+1 < len(b); i += 2 {
		h.regs[fn][addr+uint16(i/2)] = binary.BigEndian.Uint16(b[i:])
	}
}

func (h *svHandler) read(fn byte, addr, qty uint16) ([]uint16, error) {
	h.mu.Lock()
	h.requests++
	n, on, delay, err := h.requests, h.onReq, h.delay, h.err
	h.mu.Unlock()
	if on != nil {
		on(n)
	}
	time.Sleep(delay)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]uint16, qty)
	for i := range qty {
		v, ok := h.regs[fn][addr+i]
		if !ok {
			return nil, sv.ErrIllegalDataAddress
		}
		out[i] = v
	}
	return out, nil
}

func (h *svHandler) HandleCoils(*sv.CoilsRequest) ([]bool, error) { return nil, sv.ErrIllegalFunction }
func (h *svHandler) HandleDiscreteInputs(*sv.DiscreteInputsRequest) ([]bool, error) {
	return nil, sv.ErrIllegalFunction
}
func (h *svHandler) HandleHoldingRegisters(r *sv.HoldingRegistersRequest) ([]uint16, error) {
	if r.IsWrite {
		return nil, sv.ErrIllegalFunction
	}
	return h.read(FuncHolding, r.Addr, r.Quantity)
}
func (h *svHandler) HandleInputRegisters(r *sv.InputRegistersRequest) ([]uint16, error) {
	return h.read(FuncInput, r.Addr, r.Quantity)
}

// svServer is a running simonvetter/modbus server on a loopback port.
type svServer struct {
	t    testing.TB
	addr string
	h    *svHandler
	mu   sync.Mutex
	srv  *sv.ModbusServer
}

func newSVServer(t testing.TB) *svServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &svServer{t: t, addr: addr, h: &svHandler{regs: map[byte]map[uint16]uint16{FuncHolding: {}, FuncInput: {}}}}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *svServer) start() {
	srv, err := sv.NewServer(&sv.ServerConfiguration{
		URL: "tcp://" + s.addr, Timeout: 30 * time.Second, MaxClients: 4,
		Logger: log.New(io.Discard, "", 0),
	}, s.h)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		s.t.Fatalf("simonvetter server start: %v", err)
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
}

func (s *svServer) stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// TestSimonvetterEveryProfile reads every profile from simonvetter/modbus.
func TestSimonvetterEveryProfile(t *testing.T) {
	ps, err := LoadProfiles(meters.FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		t.Run(p.Name, func(t *testing.T) {
			s := newSVServer(t)
			loadInto(t, s.h.set, p)
			c := NewClient(s.addr, TCP)
			defer c.Close()
			m := NewMeter(c, 1, p)
			got, err := m.Read(t.Context())
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if diff := cmp.Diff(expect(p), got); diff != "" {
				t.Errorf("Read (-want +got):\n%s", diff)
			}
			s.h.mu.Lock()
			n := s.h.requests
			s.h.mu.Unlock()
			if n != m.Requests() {
				t.Errorf("server saw %d requests, plan has %d", n, m.Requests())
			}
		})
	}
}

func TestSimonvetterFaults(t *testing.T) {
	p, _ := testProfile("sdm630")
	s := newSVServer(t)
	loadInto(t, s.h.set, p)
	c := NewClient(s.addr, TCP)
	defer c.Close()
	m := NewMeter(c, 1, p)

	t.Run("exception", func(t *testing.T) {
		s.h.mu.Lock()
		s.h.err, s.h.requests = sv.ErrServerDeviceBusy, 0
		s.h.mu.Unlock()
		_, err := m.Read(t.Context())
		var exc *ExceptionError
		if !errors.As(err, &exc) || exc.Code != 6 || exc.Function != FuncHolding {
			t.Errorf("err = %v, want exception 6 (server device busy) on function 3", err)
		}
		s.h.mu.Lock()
		s.h.err = nil
		s.h.mu.Unlock()
	})
	t.Run("missing register", func(t *testing.T) {
		_, err := c.ReadRegisters(t.Context(), 1, FuncInput, 0x2000, 2)
		var exc *ExceptionError
		if !errors.As(err, &exc) || exc.Code != 2 {
			t.Errorf("err = %v, want exception 2 (illegal data address)", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		s.h.mu.Lock()
		s.h.delay = 400 * time.Millisecond
		s.h.mu.Unlock()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := m.Read(ctx)
		if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("late answer: err = %v, want a deadline error", err)
		}
		if el := time.Since(start); el > 350*time.Millisecond {
			t.Errorf("Read took %v, want about the 100 ms deadline", el)
		}
		s.h.mu.Lock()
		s.h.delay = 0
		s.h.mu.Unlock()
		// The late answer must not be taken for the next request's.
		got, err := m.Read(t.Context())
		if err != nil {
			t.Fatalf("Read after the timeout: %v", err)
		}
		if diff := cmp.Diff(expect(p), got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("restart mid-poll", func(t *testing.T) {
		// On the second request of a poll the server stops (closing the
		// connection the request came on) and a new one starts on the
		// same port; the client reconnects and retries.
		var once sync.Once
		restarted := make(chan struct{})
		s.h.mu.Lock()
		s.h.requests = 0
		s.h.onReq = func(n int) {
			if n == 2 {
				once.Do(func() { s.stop(); s.start(); close(restarted) })
			}
		}
		s.h.mu.Unlock()
		// The retry may beat the new listener (connection refused): then
		// this Read fails cleanly and the next one, made once the new
		// server listens, succeeds.
		got, err := m.Read(t.Context())
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				t.Fatalf("Read across a restart: %v, want an I/O error, not a bad answer", err)
			}
			select {
			case <-restarted:
			case <-time.After(10 * time.Second):
				t.Fatal("the server did not restart within 10 s")
			}
			got, err = m.Read(t.Context())
		}
		if err != nil {
			t.Fatalf("Read after a restart: %v", err)
		}
		if diff := cmp.Diff(expect(p), got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		s.h.mu.Lock()
		n := s.h.requests
		s.h.onReq = nil
		s.h.mu.Unlock()
		if n < m.Requests()+1 {
			t.Errorf("server saw %d requests, want at least %d (one retried)", n, m.Requests()+1)
		}
	})
}
