package modbus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/goburrow/serial"

	"canary/config"
)

// serialStep bounds each blocking read of a serial port, so a cancelled
// context is noticed within it (goburrow/serial has no deadlines; its
// timeout is fixed when the port opens).
const serialStep = 20 * time.Millisecond

// serialLink is a serial port opened with goburrow/serial.
type serialLink struct{ p serial.Port }

func dialSerial(dev string, s config.Serial) func(context.Context) (link, error) {
	cfg := serialConfig(dev, s)
	return func(ctx context.Context) (link, error) {
		p, err := serial.Open(&cfg)
		if err != nil {
			return nil, err
		}
		return &serialLink{p: p}, nil
	}
}

func serialConfig(dev string, s config.Serial) serial.Config {
	c := serial.Config{Address: dev, BaudRate: s.Baud, DataBits: s.DataBits, StopBits: s.StopBits,
		Parity: s.Parity, Timeout: serialStep}
	if c.BaudRate == 0 {
		c.BaudRate = 9600
	}
	if c.Parity == "" {
		c.Parity = "N"
	}
	return c
}

// charTime is one character on the wire: start bit, data bits, parity,
// stop bits.
func charTime(s config.Serial) time.Duration {
	baud := s.Baud
	if baud <= 0 {
		baud = 9600
	}
	bits := 1 + max(s.DataBits, 7) + max(s.StopBits, 1)
	if s.DataBits == 0 {
		bits = 1 + 8 + max(s.StopBits, 1)
	}
	if s.Parity == "E" || s.Parity == "O" {
		bits++
	}
	return time.Duration(bits) * time.Second / time.Duration(baud)
}

func (l *serialLink) recv(ctx context.Context, b []byte, deadline time.Time) (int, error) {
	for {
		n, err := l.p.Read(b)
		if n > 0 {
			return n, nil
		}
		if err != nil && !errors.Is(err, serial.ErrTimeout) {
			return 0, err
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if !time.Now().Before(deadline) {
			return 0, ErrTimeout
		}
		if err == nil {
			time.Sleep(time.Millisecond) // EOF-like 0-byte read: do not spin
		}
	}
}

func (l *serialLink) send(b []byte) error {
	_, err := io.Copy(l.p, bytes.NewReader(b))
	return err
}

// drain does nothing on a serial port: goburrow/serial cannot read
// without waiting its fixed step. Replies are matched to their request
// and the line is flushed after a timeout instead.
func (l *serialLink) drain() int { return 0 }

func (l *serialLink) close() { l.p.Close() }

// tcpLink carries RTU frames over TCP.
type tcpLink struct{ nc net.Conn }

func dialTCP(addr string, timeout time.Duration) func(context.Context) (link, error) {
	return func(ctx context.Context) (link, error) {
		d := net.Dialer{Timeout: timeout}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &tcpLink{nc: nc}, nil
	}
}

func (l *tcpLink) recv(ctx context.Context, b []byte, deadline time.Time) (int, error) {
	l.nc.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { l.nc.SetReadDeadline(time.Now()) })
	defer stop()
	n, err := l.nc.Read(b)
	if n > 0 {
		return n, nil
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, ErrTimeout
	}
	return 0, err
}

func (l *tcpLink) send(b []byte) error {
	l.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(l.nc, bytes.NewReader(b))
	return err
}

func (l *tcpLink) drain() int {
	var tmp [rtuMax]byte
	n := 0
	for n < 16 {
		l.nc.SetReadDeadline(time.Now())
		if k, _ := l.nc.Read(tmp[:]); k == 0 {
			break
		}
		n++
	}
	return n
}

func (l *tcpLink) close()  { l.nc.Close() }
func (l *tcpLink) disarm() { l.nc.SetDeadline(time.Time{}) }
