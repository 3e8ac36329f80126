package modbus

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	gb "github.com/goburrow/modbus"
)

// Pipelining (devices[].max_inflight > 1, Modbus TCP only): a window of
// read requests goes out in one write, each with its own MBAP transaction
// id, and the replies are matched to their requests by that id in
// whatever order they come. A scan of 10,000 registers is then a handful
// of round trips and system calls instead of eighty of each, which
// matters on a 4G link (100 ms a round trip) as much as for CPU. Each
// reply is checked as goburrow checks a lone one (transaction id,
// protocol, unit, function code or exception, byte count) plus the
// quantity asked for. A reply that answers nothing in flight, a timeout,
// or any I/O error closes the connection: every request still unanswered
// fails with that error, and nothing late can be taken for a later
// request's reply. Only read function codes can be built (funcCode).

// result is one request's outcome.
type result struct {
	data []byte
	err  error
}

// readMany reads every request of reqs with all of them in flight
// together, filling out (len(reqs)). Each reply must come within the
// request timeout of the previous one (or of the send).
func (c *tcpConn) readMany(ctx context.Context, reqs []*request, out []result) {
	fail := func(from int, err error) {
		for i := from; i < len(out); i++ {
			if out[i].data == nil && out[i].err == nil {
				out[i].err = err
			}
		}
	}
	if err := c.t.dial(ctx); err != nil {
		fail(0, err)
		return
	}
	adus, err := c.encodeAll(reqs)
	if err != nil {
		fail(0, err)
		return
	}
	if r := reqs[0]; r.timeout > 0 {
		c.t.timeout = r.timeout
	}
	if len(c.frames) < len(reqs) {
		c.frames = make([][mbapMax]byte, len(reqs))
	}
	if err := c.t.exchangeMany(ctx, c.sendBuf, adus, func(i int, adu []byte) {
		// The reply's data must outlive the next read: copy the frame
		// to this request's slot (reused by the next poll).
		f := c.frames[i][:copy(c.frames[i][:], adu)]
		out[i].data, out[i].err = c.reply(reqs[i], adus[i], f)
	}); err != nil {
		c.t.close() // out of step or dead: the next request reconnects
		fail(0, err)
	}
}

// encodeAll builds the request ADUs (goburrow's MBAP packager numbers
// them) and, in c.sendBuf, the one write that carries them all.
func (c *tcpConn) encodeAll(reqs []*request) ([][]byte, error) {
	adus := make([][]byte, len(reqs))
	c.sendBuf = c.sendBuf[:0]
	for i, r := range reqs {
		c.handler.SlaveId = r.unit
		adu, err := c.handler.Encode(&gb.ProtocolDataUnit{FunctionCode: funcCode(r.table), Data: readBlock(r.addr, r.qty)})
		if err != nil {
			return nil, err
		}
		adus[i] = adu
		c.sendBuf = append(c.sendBuf, adu...)
	}
	return adus, nil
}

func readBlock(addr, qty uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(make([]byte, 0, 4), addr), qty)
}

// reply checks one reply ADU against its request and returns its data:
// an exception is a *gb.ModbusError, as from goburrow's client.
func (c *tcpConn) reply(r *request, req, adu []byte) ([]byte, error) {
	if err := c.handler.Verify(req, adu); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReply, err)
	}
	pdu, err := c.handler.Decode(adu)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReply, err)
	}
	fc := funcCode(r.table)
	switch {
	case pdu.FunctionCode == fc|0x80 && len(pdu.Data) == 1:
		return nil, &gb.ModbusError{FunctionCode: pdu.FunctionCode, ExceptionCode: pdu.Data[0]}
	case pdu.FunctionCode != fc:
		return nil, fmt.Errorf("%w: function code %d for %d", ErrBadReply, pdu.FunctionCode, fc)
	case len(pdu.Data) == 0 || int(pdu.Data[0]) != len(pdu.Data)-1:
		return nil, fmt.Errorf("%w: byte count does not match the data", ErrBadReply)
	}
	data := pdu.Data[1:]
	return data, checkReply(r.table, r.qty, data)
}

// exchangeMany writes buf (the requests adus, back to back) and calls
// got for each reply, with the index of the request it answers. It
// returns an error when the connection can no longer be trusted.
func (t *tcpTransport) exchangeMany(ctx context.Context, buf []byte, adus [][]byte, got func(i int, adu []byte)) error {
	if t.nc == nil {
		return ErrNotConnected
	}
	nc := t.nc
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	nc.SetDeadline(t.deadline(ctx))
	// io.Copy, not a method named Write*: see exchange.
	if _, err := io.Copy(nc, bytes.NewReader(buf)); err != nil {
		return commErr(ctx, err)
	}
	answered := 0
	done := make([]bool, len(adus))
	for answered < len(adus) {
		adu, err := readMBAP(t.br, t.frame[:])
		if err != nil {
			return commErr(ctx, err)
		}
		i := match(adus, done, adu)
		if i < 0 {
			return fmt.Errorf("%w: transaction %d answers no request in flight", ErrBadReply, binary.BigEndian.Uint16(adu))
		}
		done[i] = true
		answered++
		got(i, adu)
		nc.SetDeadline(t.deadline(ctx)) // the next reply gets a full timeout
	}
	return nil
}

// match finds the unanswered request with the reply's transaction id.
func match(adus [][]byte, done []bool, reply []byte) int {
	for i, a := range adus {
		if !done[i] && a[0] == reply[0] && a[1] == reply[1] {
			return i
		}
	}
	return -1
}

// readMBAP reads one MBAP frame into buf (mbapMax bytes).
func readMBAP(r io.Reader, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, buf[:7]); err != nil {
		return nil, err
	}
	n, err := mbapLength(buf[:7])
	if err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(r, buf[7:6+n]); err != nil {
		return nil, err
	}
	return buf[:6+n], nil
}

// deadline is now plus the timeout, or ctx's deadline if sooner.
func (t *tcpTransport) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(t.timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}
