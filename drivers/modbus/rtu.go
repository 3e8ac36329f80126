package modbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	gb "github.com/goburrow/modbus"
)

// rtuConn is Modbus RTU over a link (a serial port, or a TCP socket to a
// serial server or DTU): goburrow's client and RTU packager over a
// transporter of our own, which frames replies by length, checks CRC,
// unit id, function code and byte count, and discards anything that does
// not answer the request in flight.
type rtuConn struct {
	dial     func(ctx context.Context) (link, error)
	l        link
	handler  *gb.RTUClientHandler // packager only: Encode, Verify, Decode
	client   reader
	timeout  time.Duration
	charTime time.Duration // one character on the wire; 0 over TCP (the serial server paces)
	// reopen: after a timeout, close the link instead of flushing it (TCP:
	// a new connection cannot carry a late reply).
	reopen bool
	ctx    context.Context
	buf    []byte    // bytes received and not yet framed
	idle   time.Time // when the line last carried a byte, for the 3.5-character silence
	stray  int       // frames discarded because they did not answer the request
}

// link is a byte stream to an RTU bus. recv waits until deadline for at
// least one byte and returns ErrTimeout when none came.
type link interface {
	recv(ctx context.Context, b []byte, deadline time.Time) (int, error)
	send(b []byte) error
	// drain discards what has arrived without waiting and returns how
	// many reads it took (0: nothing was there).
	drain() int
	close()
}

func newRTUConn(dial func(ctx context.Context) (link, error), timeout, charTime time.Duration, reopen bool) *rtuConn {
	c := &rtuConn{dial: dial, handler: gb.NewRTUClientHandler(""), timeout: timeout, charTime: charTime, reopen: reopen}
	c.client = gb.NewClient2(c.handler, c)
	return c
}

func (c *rtuConn) connect(ctx context.Context) error {
	if c.l != nil {
		return nil
	}
	l, err := c.dial(ctx)
	if err != nil {
		return commErr(ctx, err)
	}
	c.l, c.buf = l, c.buf[:0]
	return nil
}

func (c *rtuConn) close() {
	if c.l != nil {
		c.l.close()
		c.l = nil
	}
}

func (c *rtuConn) disarm() {
	if d, ok := c.l.(disarmer); ok {
		d.disarm()
	}
}

func (c *rtuConn) read(ctx context.Context, r *request) ([]byte, error) {
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	c.handler.SlaveId = r.unit
	if r.timeout > 0 {
		c.timeout = r.timeout
	}
	c.ctx = ctx
	defer func() { c.ctx = nil }()
	data, err := readTable(c.client, r)
	if err == nil {
		err = checkReply(r.table, r.qty, data)
	}
	if err != nil && !isException(err, r.table) && !errors.Is(err, ErrTimeout) && c.reopen {
		c.close() // broken or out of step: start clean
	}
	return data, err
}

// rtuMax is the largest RTU frame: unit, 253-byte PDU, CRC.
const rtuMax = 256

// Send implements goburrow's Transporter: one request frame out, the
// frame that answers it back.
func (c *rtuConn) Send(adu []byte) ([]byte, error) {
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if c.l == nil {
		return nil, ErrNotConnected
	}
	if len(adu) < 8 {
		return nil, fmt.Errorf("%w: request of %d bytes", ErrBadReply, len(adu))
	}
	c.drop()
	c.silence()
	if err := c.l.send(adu); err != nil {
		c.close()
		return nil, commErr(ctx, err)
	}
	want := replyLen(adu)
	wire := time.Duration(len(adu)+want) * c.charTime
	c.idle = time.Now().Add(time.Duration(len(adu)) * c.charTime)
	deadline := time.Now().Add(c.timeout + wire)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	reply, err := c.await(ctx, adu, deadline)
	if err != nil {
		c.afterTimeout(ctx, err)
		return nil, err
	}
	return reply, nil
}

// replyLen is the length of a normal reply to a read request frame.
func replyLen(adu []byte) int {
	qty := int(adu[4])<<8 | int(adu[5])
	if adu[1] == gb.FuncCodeReadCoils || adu[1] == gb.FuncCodeReadDiscreteInputs {
		return 5 + (qty+7)/8
	}
	return 5 + 2*qty
}

// await reads frames until one answers adu: same unit, the request's
// function code with the byte count asked for, or its exception. Frames
// that do not (a late reply to an earlier request, another master's
// traffic, line noise) are counted and dropped.
func (c *rtuConn) await(ctx context.Context, adu []byte, deadline time.Time) ([]byte, error) {
	for {
		f, err := c.frame(ctx, deadline)
		if err != nil {
			return nil, err
		}
		if answers(adu, f) {
			out := append([]byte(nil), f...)
			c.buf = c.buf[len(f):]
			return out, nil
		}
		c.stray++
		c.buf = c.buf[len(f):]
	}
}

// answers reports whether frame f (CRC already checked) is the reply to
// request adu.
func answers(adu, f []byte) bool {
	if f[0] != adu[0] {
		return false
	}
	if f[1] == adu[1]|0x80 {
		return len(f) == 5
	}
	return f[1] == adu[1] && len(f) == replyLen(adu)
}

// frame returns the next CRC-valid frame at the head of c.buf, reading as
// needed. Bytes that cannot start a valid frame are skipped one at a time,
// so the reader resynchronises after noise.
func (c *rtuConn) frame(ctx context.Context, deadline time.Time) ([]byte, error) {
	for {
		n, ok := frameLen(c.buf)
		switch {
		case ok && n <= len(c.buf) && crcOK(c.buf[:n]):
			return c.buf[:n], nil
		case !ok || n <= len(c.buf):
			c.buf = c.buf[1:] // not a frame start, or a bad CRC: slide by one
			continue
		}
		if err := c.fill(ctx, deadline); err != nil {
			return nil, err
		}
	}
}

// frameLen is the length of the reply frame starting at b, from its
// header; ok is false when b cannot start a read reply or exception.
// With fewer bytes than the header, it asks for more (n > len(b)).
func frameLen(b []byte) (n int, ok bool) {
	if len(b) < 2 {
		return 3, true
	}
	fc := b[1]
	if fc&0x80 != 0 {
		return 5, fc&0x7f >= 1 && fc&0x7f <= 4
	}
	if fc < 1 || fc > 4 {
		return 0, false
	}
	if len(b) < 3 {
		return 3, true
	}
	return 5 + int(b[2]), true
}

func (c *rtuConn) fill(ctx context.Context, deadline time.Time) error {
	if len(c.buf) >= 2*rtuMax {
		c.buf = c.buf[:0]
	}
	var tmp [rtuMax]byte
	n, err := c.l.recv(ctx, tmp[:], deadline)
	if n > 0 {
		c.buf = append(c.buf, tmp[:n]...)
		c.idle = time.Now()
	}
	if err != nil {
		return commErr(ctx, err)
	}
	return nil
}

// drop discards bytes already received: nothing on the line before a
// request can answer it.
func (c *rtuConn) drop() {
	c.stray += min(len(c.buf), 1)
	c.buf = c.buf[:0]
	c.stray += c.l.drain()
}

// silence waits out the 3.5-character inter-frame gap since the line was
// last busy.
func (c *rtuConn) silence() {
	if c.charTime == 0 {
		return
	}
	if d := time.Until(c.idle.Add(c.charTime*7/2 + time.Millisecond)); d > 0 {
		time.Sleep(d)
	}
}

// afterTimeout keeps a late reply from answering a later request. Over TCP
// the connection is closed. On a serial line, everything that arrives
// within half a timeout is discarded, then until the line is quiet for
// 3.5 characters; later stragglers are rejected by answers (a timed-out
// unit is not asked again before its back-off ends, so a late reply
// cannot carry the unit id of the request in flight).
func (c *rtuConn) afterTimeout(ctx context.Context, err error) {
	if !errors.Is(err, ErrTimeout) {
		if !errors.Is(err, ErrCanceled) {
			c.close()
		}
		return
	}
	if c.reopen {
		c.close()
		return
	}
	c.buf = c.buf[:0]
	end := time.Now().Add(c.timeout / 2)
	quiet := max(c.charTime*7/2, 2*time.Millisecond)
	var tmp [rtuMax]byte
	for ctx.Err() == nil {
		dl := time.Now().Add(quiet)
		if dl.Before(end) {
			dl = end
		}
		n, err := c.l.recv(ctx, tmp[:], dl)
		if n > 0 {
			c.stray++
			continue
		}
		if err != nil && !errors.Is(err, ErrTimeout) {
			c.close()
		}
		return
	}
}

// crcOK checks the Modbus CRC-16 (poly 0xA001, init 0xFFFF, low byte
// first) at the end of frame.
func crcOK(frame []byte) bool {
	n := len(frame)
	if n < 4 {
		return false
	}
	c := crc16(frame[:n-2])
	return frame[n-2] == byte(c) && frame[n-1] == byte(c>>8)
}

func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc ^= uint16(x)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}
