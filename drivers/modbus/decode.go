package modbus

import (
	"encoding/binary"
	"math"
	"unicode/utf8"

	"canary/drivers"
)

// kind is a point's data type on the wire.
type kind uint8

const (
	kBit  kind = iota + 1 // one bit of a register, LSB = 0
	kBool                 // a coil or discrete input, or a register != 0
	kInt16
	kUint16
	kInt32
	kUint32
	kInt64
	kUint64
	kFloat32
	kFloat64
	kString
)

var kindNames = map[string]kind{
	"bit": kBit, "bool": kBool, "int16": kInt16, "uint16": kUint16,
	"int32": kInt32, "uint32": kUint32, "int64": kInt64, "uint64": kUint64,
	"float32": kFloat32, "float64": kFloat64, "string": kString,
}

// words is how many registers a fixed-size kind occupies.
func (k kind) words() int {
	switch k {
	case kInt32, kUint32, kFloat32:
		return 2
	case kInt64, kUint64, kFloat64:
		return 4
	}
	return 1
}

// order is a byte order as two independent swaps of the big-endian value:
// the order of the 16-bit words and the order of the bytes inside each word.
// ABCD = neither, CDAB = words, BADC = bytes, DCBA = both. A one-register
// value sees only the byte swap; a string only the byte swap.
type order uint8

const (
	swapWords order = 1 << iota
	swapBytes

	orderABCD order = 0
	orderCDAB       = swapWords
	orderBADC       = swapBytes
	orderDCBA       = swapWords | swapBytes
)

var orderNames = map[string]order{"ABCD": orderABCD, "CDAB": orderCDAB, "BADC": orderBADC, "DCBA": orderDCBA}

// scaling maps a raw number to engineering units. A point without
// scaling has none (nil), so that a rack of 10,000 plain registers does
// not carry six floats each.
type scaling struct {
	scale, offset                  float64
	rawMin, rawMax, engMin, engMax float64
}

func (s *scaling) apply(raw float64) float64 {
	if s == nil {
		return raw // keeps -0 and every bit of the reading
	}
	if s.rawMax != s.rawMin {
		return s.engMin + (raw-s.rawMin)*(s.engMax-s.engMin)/(s.rawMax-s.rawMin)
	}
	return raw*s.scale + s.offset
}

// reading is a decoded value with its quality.
type reading struct {
	v drivers.Value
	q drivers.Quality
	r drivers.Reason
}

func good(v drivers.Value) reading { return reading{v: v} }

var outOfRange = reading{q: drivers.Bad, r: drivers.ReasonOutOfRange}

// decodeBit decodes a coil or discrete input.
func decodeBit(p *point, on bool) reading {
	return good(drivers.Bool(on != p.invert))
}

// decodeRegs decodes a register point from its registers as they came off
// the wire (2 bytes each, high byte first). b must hold p.words() registers.
func decodeRegs(p *point, b []byte) reading {
	switch p.kind {
	case kBit:
		return good(drivers.Bool((binary.BigEndian.Uint16(b)>>p.bit)&1 == 1 != p.invert))
	case kBool:
		return good(drivers.Bool((b[0]|b[1] != 0) != p.invert))
	case kString:
		return decodeString(b, p.order)
	case kFloat32, kFloat64:
		return decodeFloat(p, b)
	}
	return decodeInt(p, b)
}

// beBytes puts the value's bytes into big-endian order in buf.
func beBytes(buf *[8]byte, b []byte, o order) []byte {
	n := len(b)
	for i := 0; i < n; i += 2 {
		j := i
		if o&swapWords != 0 {
			j = n - 2 - i
		}
		hi, lo := b[j], b[j+1]
		if o&swapBytes != 0 {
			hi, lo = lo, hi
		}
		buf[i], buf[i+1] = hi, lo
	}
	return buf[:n]
}

// raw reads the value as an unsigned big-endian number of its width.
func rawBits(p *point, b []byte) uint64 {
	if len(b) == 2 { // one register, most points: only the byte swap applies
		if p.order&swapBytes != 0 {
			return uint64(b[1])<<8 | uint64(b[0])
		}
		return uint64(b[0])<<8 | uint64(b[1])
	}
	var buf [8]byte
	v := beBytes(&buf, b, p.order)
	switch len(v) {
	case 2:
		return uint64(binary.BigEndian.Uint16(v))
	case 4:
		return uint64(binary.BigEndian.Uint32(v))
	}
	return binary.BigEndian.Uint64(v)
}

func decodeFloat(p *point, b []byte) reading {
	bits := rawBits(p, b)
	f := math.Float64frombits(bits)
	if p.kind == kFloat32 {
		f = float64(math.Float32frombits(uint32(bits)))
	}
	return float(p, f)
}

// float scales f and refuses what is not a finite number.
func float(p *point, f float64) reading {
	if p.signal != nil {
		return p.signal.convert(f)
	}
	f = p.scaling.apply(f)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return outOfRange
	}
	return good(drivers.Float(f))
}

func decodeInt(p *point, b []byte) reading {
	u := rawBits(p, b)
	var i int64
	signed := true
	switch p.kind {
	case kInt16:
		i = int64(int16(u))
	case kInt32:
		i = int64(int32(u))
	case kInt64:
		i = int64(u)
	default:
		signed = false
	}
	switch {
	case p.toFloat && signed:
		return float(p, float64(i))
	case p.toFloat:
		return float(p, float64(u))
	case signed:
		return good(drivers.Int(i))
	}
	return good(drivers.Uint(u))
}

// decodeString reads two ASCII bytes per register, high byte first unless
// the order swaps bytes, and trims trailing NULs and spaces.
func decodeString(b []byte, o order) reading {
	s := make([]byte, len(b))
	copy(s, b)
	if o&swapBytes != 0 {
		for i := 0; i+1 < len(s); i += 2 {
			s[i], s[i+1] = s[i+1], s[i]
		}
	}
	n := len(s)
	for n > 0 && (s[n-1] == 0 || s[n-1] == ' ') {
		n--
	}
	if !utf8.Valid(s[:n]) {
		return reading{q: drivers.Bad, r: drivers.ReasonConfig} // likely the wrong address or type
	}
	return good(drivers.String(string(s[:n])))
}
