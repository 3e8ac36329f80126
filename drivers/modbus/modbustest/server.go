// Package modbustest is a simulated Modbus TCP device for tests and the
// demo: a real server on loopback, built on github.com/simonvetter/modbus
// (an implementation independent of the client Canary uses), with knobs
// for the faults field devices show.
//
// Every unit id is served and starts all zero. Writes are refused with an
// illegal-function exception and counted, so tests can assert that Canary
// never writes. (Function codes the library itself does not dispatch, 22
// and 23, are refused by it without reaching the handler and are not
// counted.)
//
// All methods are safe for concurrent use. Lock order: Server.mu only; it
// is never held while a request waits (SetDelay, SetUnitDead).
package modbustest

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sv "github.com/simonvetter/modbus"
)

// Table is a Modbus data table.
type Table uint8

const (
	Coil Table = iota
	Discrete
	Input
	Holding
)

// deadHold bounds how long a dead unit or a delay holds a request, so a
// test that forgets to revive a unit does not leak goroutines for long.
const deadHold = 30 * time.Second

// Server is a simulated Modbus TCP device.
type Server struct {
	mu    sync.Mutex
	addr  string
	srv   *sv.ModbusServer
	units map[uint8]*unit
	delay time.Duration
	exc   map[uint8]byte
	dead  map[uint8]bool
	wake  chan struct{} // closed to release held requests (revive, Stop, SetDelay)

	requests, writes atomic.Uint64
}

type unit struct {
	regs [2][]uint16 // Input, Holding
	bits [2][]bool   // Coil, Discrete
}

func newUnit() *unit {
	u := &unit{}
	for i := range u.regs {
		u.regs[i] = make([]uint16, 1<<16)
		u.bits[i] = make([]bool, 1<<16)
	}
	return u
}

// Start starts a server on 127.0.0.1 at a free port and stops it when the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := New("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// New starts a server listening on addr ("host:0" picks a free port).
func New(addr string) (*Server, error) {
	s := &Server{units: map[uint8]*unit{}, exc: map[uint8]byte{}, dead: map[uint8]bool{}, wake: make(chan struct{})}
	if err := s.listen(addr); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) listen(addr string) error {
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		l, err := net.Listen("tcp", addr) // find a free port: the library cannot report it
		if err != nil {
			return fmt.Errorf("modbustest: %w", err)
		}
		addr = l.Addr().String()
		l.Close()
	}
	srv, err := sv.NewServer(&sv.ServerConfiguration{URL: "tcp://" + addr, MaxClients: 64,
		Logger: log.New(io.Discard, "", 0)}, handler{s})
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		return fmt.Errorf("modbustest: listen %s: %w", addr, err)
	}
	s.mu.Lock()
	s.addr, s.srv = addr, srv
	s.mu.Unlock()
	return nil
}

// Addr is host:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stop closes the listener and every connection. Values are kept.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.wakeLocked()
	s.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// Restart listens again on the same port.
func (s *Server) Restart() error {
	s.Stop()
	return s.listen(s.Addr())
}

// Requests counts requests that reached the device, reads and writes.
func (s *Server) Requests() uint64 { return s.requests.Load() }

// Writes counts write requests (all refused).
func (s *Server) Writes() uint64 { return s.writes.Load() }

// SetDelay makes every reply wait d (0: answer at once).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.wakeLocked()
	s.mu.Unlock()
}

// SetException makes unit answer every request with exception code
// (0 clears). Codes: 1-6, 8, 0x0A, 0x0B.
func (s *Server) SetException(unit uint8, code byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.exc[unit] = code
}

// SetUnitDead makes unit not answer at all: requests are held until the
// unit is revived or the server stops, and the reply, if any, is dropped.
func (s *Server) SetUnitDead(unit uint8, dead bool) {
	s.mu.Lock()
	s.dead[unit] = dead
	s.wakeLocked()
	s.mu.Unlock()
}

func (s *Server) wakeLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

func (s *Server) unit(id uint8) *unit {
	u := s.units[id]
	if u == nil {
		u = newUnit()
		s.units[id] = u
	}
	return u
}

// SetHolding sets holding registers from addr on.
func (s *Server) SetHolding(unit uint8, addr uint16, vals ...uint16) {
	s.SetRegisters(Holding, unit, addr, vals...)
}

// SetInput sets input registers from addr on.
func (s *Server) SetInput(unit uint8, addr uint16, vals ...uint16) {
	s.SetRegisters(Input, unit, addr, vals...)
}

// SetRegisters sets registers of the Input or Holding table.
func (s *Server) SetRegisters(t Table, unit uint8, addr uint16, vals ...uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	copy(s.unit(unit).regs[t-Input][addr:], vals)
}

// SetCoil sets one coil.
func (s *Server) SetCoil(unit uint8, addr uint16, v bool) { s.setBit(Coil, unit, addr, v) }

// SetDiscrete sets one discrete input.
func (s *Server) SetDiscrete(unit uint8, addr uint16, v bool) { s.setBit(Discrete, unit, addr, v) }

func (s *Server) setBit(t Table, unit uint8, addr uint16, v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unit(unit).bits[t][addr] = v
}

// SetFloat32 stores v in two registers in the given order (ABCD, CDAB,
// BADC, DCBA).
func (s *Server) SetFloat32(t Table, unit uint8, addr uint16, v float32, order string) {
	s.SetBytes(t, unit, addr, binary.BigEndian.AppendUint32(nil, math.Float32bits(v)), order)
}

// SetBytes stores a value given as big-endian bytes (an even count) in
// registers, laid out in order: CDAB reverses the order of the 16-bit
// words, BADC swaps the bytes inside each word, DCBA does both, ABCD
// neither.
func (s *Server) SetBytes(t Table, unit uint8, addr uint16, be []byte, order string) {
	n := len(be) / 2
	regs := make([]uint16, n)
	for i := range regs {
		w := binary.BigEndian.Uint16(be[2*i:])
		if order == "BADC" || order == "DCBA" {
			w = w<<8 | w>>8
		}
		j := i
		if order == "CDAB" || order == "DCBA" {
			j = n - 1 - i
		}
		regs[j] = w
	}
	s.SetRegisters(t, unit, addr, regs...)
}
