package modbus

import (
	"context"
	"encoding/binary"
	"io"
	"math"
	"testing"
	"time"

	"canary/config"
	"canary/drivers"
)

var fuzzKinds = []string{"bit", "bool", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "string"}

// FuzzDecode: any register bytes with any type and order decode without
// panicking, and numbers survive an encode/decode round trip.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x41, 0x48, 0, 0, 1, 2, 3, 4}, uint8(8), uint8(1), uint8(3))
	f.Add([]byte{0x7f, 0xc0, 0, 0}, uint8(8), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, k, o, bit uint8) {
		typ := fuzzKinds[int(k)%len(fuzzKinds)]
		ord := orders[int(o)%len(orders)]
		p, err := compilePoint(config.Point{Type: typ, Order: ord, Bit: int(bit % 16), Length: 1 + len(b)/2%125}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 2*p.n {
			return
		}
		regs := b[:2*p.n]
		rd := decodeRegs(&p, regs)
		if rd.q != drivers.Good && rd.v.Kind() != drivers.KindNone {
			t.Fatalf("bad reading with a value: %+v", rd)
		}
		if p.kind >= kInt16 && p.kind <= kFloat64 {
			// Round trip: the registers are the encoding of a value; that
			// value, computed apart from the decoder, is what it returns.
			be := wire(regs, ord) // wire is its own inverse
			if string(wire(be, ord)) != string(regs) {
				t.Fatalf("encoding is not reversible for %s", ord)
			}
			want := expect(p.kind, be)
			if f := want.Float(); want.Kind() == drivers.KindFloat && (math.IsNaN(f) || math.IsInf(f, 0)) {
				if rd != outOfRange {
					t.Fatalf("non-finite %v read as %+v", f, rd)
				}
			} else if rd != good(want) {
				t.Fatalf("%s %s: % x decoded to %v, want %v", typ, ord, regs, rd.v, want)
			}
		}
	})
}

// expect is the value big-endian bytes encode for an unscaled number.
func expect(k kind, be []byte) drivers.Value {
	switch k {
	case kInt16:
		return drivers.Int(int64(int16(binary.BigEndian.Uint16(be))))
	case kUint16:
		return drivers.Uint(uint64(binary.BigEndian.Uint16(be)))
	case kInt32:
		return drivers.Int(int64(int32(binary.BigEndian.Uint32(be))))
	case kUint32:
		return drivers.Uint(uint64(binary.BigEndian.Uint32(be)))
	case kInt64:
		return drivers.Int(int64(binary.BigEndian.Uint64(be)))
	case kUint64:
		return drivers.Uint(binary.BigEndian.Uint64(be))
	case kFloat32:
		return drivers.Float(float64(math.Float32frombits(binary.BigEndian.Uint32(be))))
	}
	return drivers.Float(math.Float64frombits(binary.BigEndian.Uint64(be)))
}

// FuzzCheckReply: reply validation accepts exactly the right length and
// never panics; the MBAP length check never accepts a frame that cannot be.
func FuzzCheckReply(f *testing.F) {
	f.Add(uint8(3), uint16(125), []byte{1, 2})
	f.Add(uint8(0), uint16(9), []byte{1, 2})
	f.Fuzz(func(t *testing.T, tb uint8, qty uint16, data []byte) {
		tbl := table(tb % 4)
		err := checkReply(tbl, qty, data)
		want := 2 * int(qty)
		if tbl.bits() {
			want = (int(qty) + 7) / 8
		}
		if (err == nil) != (len(data) == want) {
			t.Fatalf("%s qty %d len %d: err %v", tbl, qty, len(data), err)
		}
		if len(data) >= 7 {
			if n, err := mbapLength(data[:7]); err == nil && (n < 2 || 6+n > mbapMax) {
				t.Fatalf("MBAP length %d accepted", n)
			}
		}
	})
}

// FuzzRTUReply: any bytes on the line, ahead of or instead of a reply,
// never panic the RTU reader, and whatever it returns answers the request:
// same unit, the request's function (or its exception), the byte count
// asked for and a valid CRC.
func FuzzRTUReply(f *testing.F) {
	f.Add([]byte{1, 3, 2, 0, 42}, uint8(1), uint16(1), true)
	f.Add([]byte{2, 3, 2, 0, 7, 1, 0x83, 2}, uint8(1), uint16(1), false)
	f.Fuzz(func(t *testing.T, line []byte, unit uint8, qty uint16, crcIt bool) {
		qty = 1 + qty%125
		if crcIt && len(line) >= 2 {
			line = rtuFrame(line...)
		}
		l := &fakeLink{}
		for len(line) > 0 { // arbitrary chunking
			n := min(len(line), 1+int(line[0])%7)
			l.chunks = append(l.chunks, line[:n])
			line = line[n:]
		}
		c := newRTUConn(func(context.Context) (link, error) { return l, nil }, time.Second, 0, false)
		data, err := c.read(context.Background(), &request{unit: unit, table: tHolding, qty: qty})
		if err == nil && len(data) != 2*int(qty) {
			t.Fatalf("accepted %d data bytes for %d registers", len(data), qty)
		}
	})
}

// FuzzMBAPReply: any bytes from a Modbus TCP peer never panic the reader,
// and a frame it returns has a length its header allows.
func FuzzMBAPReply(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 5, 1, 3, 2, 0, 42})
	f.Fuzz(func(t *testing.T, in []byte) {
		rw := &fakeRW{in: in}
		frame, err := exchange(rw, rw, []byte{0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1})
		if err == nil && (len(frame) < 8 || len(frame) > mbapMax) {
			t.Fatalf("frame of %d bytes accepted", len(frame))
		}
	})
}

type fakeRW struct{ in []byte }

func (r *fakeRW) Read(b []byte) (int, error) {
	if len(r.in) == 0 {
		return 0, io.EOF
	}
	n := copy(b, r.in)
	r.in = r.in[n:]
	return n, nil
}

func (r *fakeRW) Write(b []byte) (int, error) { return len(b), nil }
